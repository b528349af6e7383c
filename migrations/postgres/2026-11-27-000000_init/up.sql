-- Portable schema: text ids, integer microsecond timestamps, original JSON bytes as text.
-- Kept in step with migrations/postgres (same names, same order).
CREATE TABLE meta (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE partners (
    id TEXT PRIMARY KEY NOT NULL,
    title TEXT NOT NULL,
    enabled BOOLEAN NOT NULL
);

CREATE TABLE users (
    name TEXT PRIMARY KEY NOT NULL,
    partner_id TEXT NOT NULL REFERENCES partners (id),
    password_hash TEXT NOT NULL,
    max_tlp TEXT NOT NULL,
    types TEXT NOT NULL,
    redistributes BOOLEAN NOT NULL,
    enabled BOOLEAN NOT NULL
);

CREATE TABLE communities (
    id TEXT PRIMARY KEY NOT NULL,
    collection_id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT,
    unmarked TEXT NOT NULL,
    types TEXT NOT NULL,
    delay_secs BIGINT NOT NULL,
    backlog BOOLEAN NOT NULL,
    dangling_refs TEXT NOT NULL,
    enabled BOOLEAN NOT NULL
);

CREATE TABLE memberships (
    community_id TEXT NOT NULL REFERENCES communities (id),
    partner_id TEXT NOT NULL REFERENCES partners (id),
    role TEXT NOT NULL,
    max_tlp TEXT NOT NULL,
    joined_at BIGINT NOT NULL,
    enabled BOOLEAN NOT NULL,
    PRIMARY KEY (community_id, partner_id)
);

CREATE TABLE sharing_rules (
    community_id TEXT NOT NULL REFERENCES communities (id),
    producer_id TEXT NOT NULL REFERENCES partners (id),
    exclude TEXT NOT NULL,
    delay_secs BIGINT NOT NULL,
    types TEXT NOT NULL,
    PRIMARY KEY (community_id, producer_id)
);

-- One row per stored object version and producer. seq is the server sequence. A partner that posts
-- an id+version hidden from it gets its own copy, so (id, version) is unique per producer only.
-- producer_id NULL marks the built-in TLP 2.0 definitions every collection serves.
CREATE TABLE objects (
    seq BIGSERIAL PRIMARY KEY,
    community_id TEXT NOT NULL REFERENCES communities (id),
    stix_id TEXT NOT NULL,
    stix_type TEXT NOT NULL,
    version BIGINT NOT NULL,
    version_text TEXT NOT NULL,
    versioned BOOLEAN NOT NULL,
    spec_version TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    producer_id TEXT REFERENCES partners (id),
    tlp TEXT,
    recipients TEXT NOT NULL,
    release_at BIGINT NOT NULL,
    released BOOLEAN NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX objects_by_id ON objects (community_id, stix_id, version);
CREATE INDEX objects_pending ON objects (community_id, released, release_at);

-- What each object references (rule 6 of the delivery decision), for the one-hop recheck.
CREATE TABLE object_refs (
    seq BIGINT NOT NULL REFERENCES objects (seq) ON DELETE CASCADE,
    community_id TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    PRIMARY KEY (seq, ref_id)
);
CREATE INDEX object_refs_by_target ON object_refs (community_id, ref_id);

-- The versions delivered to each user, with the date_added that user sees: when it became
-- deliverable to that user. Unique per (user, community), so a reader's pages are keyed by it.
CREATE TABLE deliveries (
    user_name TEXT NOT NULL,
    community_id TEXT NOT NULL,
    seq BIGINT NOT NULL REFERENCES objects (seq) ON DELETE CASCADE,
    date_added BIGINT NOT NULL,
    PRIMARY KEY (user_name, community_id, seq)
);
CREATE UNIQUE INDEX deliveries_by_date ON deliveries (user_name, community_id, date_added);
CREATE INDEX deliveries_by_seq ON deliveries (seq);

-- The last date_added given to each reader in each community.
CREATE TABLE reader_marks (
    user_name TEXT NOT NULL,
    community_id TEXT NOT NULL,
    last_date_added BIGINT NOT NULL,
    PRIMARY KEY (user_name, community_id)
);

CREATE TABLE statuses (
    id TEXT PRIMARY KEY NOT NULL,
    partner_id TEXT NOT NULL REFERENCES partners (id),
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX statuses_by_age ON statuses (created_at);
