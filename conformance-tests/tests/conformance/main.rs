//! The TAXII 2.1 conformance suite: every endpoint over real HTTP against a real server and
//! database. One module per endpoint family, each citing its TAXII 2.1 section.

mod auth;
mod collections;
mod discovery;
mod edge;
mod hostile_input;
mod manifest;
mod metrics;
mod negotiation;
mod object;
mod objects_get;
mod objects_post;
mod receipts;
mod replays;
mod setup;
mod status;
mod tokens;
mod versions;
