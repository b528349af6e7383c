//! TAXII 2.1 protocol types, free of actix and diesel: media types, timestamps, typed queries,
//! opaque cursors and the resources the server renders.

pub mod cursor;
pub mod media;
pub mod query;
pub mod resources;
/// Timestamps are STIX's (objects carry them); TAXII renders `date_added` and headers with them.
pub use crate::stix::timestamp;

/// The one media type every response carries.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The media type of the objects a collection holds.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";
