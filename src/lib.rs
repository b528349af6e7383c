//! Cairn: a STIX/TAXII 2.1 sharing server for private threat-intelligence communities.
//!
//! Layers, each depending only on those below it:
//! `http` -> `service` -> (`policy`, `stix`, `storage`) -> `taxii`.

pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod metrics;
pub mod policy;
pub mod service;
pub mod setup;
pub mod startup;
pub mod stix;
pub mod storage;
pub mod taxii;
pub mod telemetry;
