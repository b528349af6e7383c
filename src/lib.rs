//! Cairn: a STIX/TAXII 2.1 sharing server for private threat-intelligence communities.
//!
//! Layers, lowest first; each names only those below it (`tests/layers.rs` checks it):
//! `clock`, `ids`, `metrics`, `telemetry` < `config` < `stix` < `taxii` < `policy`, `sharing` < `storage` (the only
//! diesel code) < `service` < `http` (the only actix code) < `setup`, `startup` < `cli` < `main`.

pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod policy;
pub mod service;
pub mod setup;
pub mod sharing;
pub mod startup;
pub mod stix;
pub mod storage;
pub mod taxii;
pub mod telemetry;
