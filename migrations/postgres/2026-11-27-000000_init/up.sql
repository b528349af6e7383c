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

-- One row per stored object version. seq is the server sequence that breaks date_added ties.
CREATE TABLE objects (
    seq BIGSERIAL PRIMARY KEY,
    community_id TEXT NOT NULL REFERENCES communities (id),
    stix_id TEXT NOT NULL,
    stix_type TEXT NOT NULL,
    version BIGINT NOT NULL,
    version_text TEXT NOT NULL,
    versioned BOOLEAN NOT NULL,
    spec_version TEXT NOT NULL,
    date_added BIGINT NOT NULL,
    producer_id TEXT NOT NULL REFERENCES partners (id),
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX objects_by_version ON objects (community_id, stix_id, version);
CREATE INDEX objects_by_date ON objects (community_id, date_added, seq);
CREATE INDEX objects_by_type ON objects (community_id, stix_type, date_added, seq);

CREATE TABLE statuses (
    id TEXT PRIMARY KEY NOT NULL,
    partner_id TEXT NOT NULL REFERENCES partners (id),
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX statuses_by_age ON statuses (created_at);
