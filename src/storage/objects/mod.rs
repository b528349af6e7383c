//! Object versions and their deliveries: insert, the per-reader keyset pages with TAXII
//! filters, delete, and the bookkeeping the delivery decision drives. Reads of community data go
//! through `deliveries`, so a reader's query only ever touches what was delivered to it.
//!
//! By concern: `ids` numbers STIX ids, `versions` stores and deletes versions, `stored` reads
//! them outside any listing, `listings` builds a reader's listings, `bodies` its pages of bodies,
//! and `deliveries` keeps its delivery rows. Their public items are re-exported here.

mod bodies;
mod deliveries;
mod ids;
mod listings;
mod stored;
mod versions;

pub use bodies::{list_bodies, Bodies};
pub use deliveries::{deliver, delivered_among, delivery_dates, withdraw, withdraw_all_except};
pub use ids::{named, nums, Nums};
pub use listings::{
    id_delivered, list, list_typed, refs_to_partner, Reaction, Row, Selection, Source,
    KNOWN_SPEC_VERSIONS,
};
// Only storage's tests build this statement themselves.
#[cfg(test)]
pub(super) use stored::numbered;
pub use stored::{
    due_ids, held_by, ids_of, referencing, refs_of, releases_due, set_release, versions_numbered,
    versions_of, Named, StoredVersion,
};
pub use versions::{
    delete, ensure_builtin, insert_numbered, insert_versions, next_seq, stored_versions,
    AddedClock, DeleteOutcome, Known, NewVersion, Placed, VersionKey,
};
