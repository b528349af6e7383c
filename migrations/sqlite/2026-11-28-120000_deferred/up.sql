-- The tables every POST writes check their foreign keys at commit. A key checked per statement
-- makes SQLite keep a statement journal for each multi-row INSERT (a copy of every page it is
-- about to change, in case it must be undone alone), and copying those pages was about 13% of
-- the writer's time. A failed write rolls back its whole transaction anyway. ON DELETE CASCADE
-- still acts at once.
-- Foreign keys are on (the bundled SQLite's default) and a migration runs in a transaction,
-- where they cannot be turned off. Dropping `objects` would then empty the tables that point
-- at it (ON DELETE CASCADE). So the old table is renamed first (its children follow the
-- rename), and dropped only once nothing points at it.
ALTER TABLE objects RENAME TO objects_old;
CREATE TABLE objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    community_id TEXT NOT NULL REFERENCES communities (id) DEFERRABLE INITIALLY DEFERRED,
    stix_id TEXT NOT NULL,
    stix_type TEXT NOT NULL,
    version BIGINT NOT NULL,
    version_text TEXT NOT NULL,
    versioned BOOLEAN NOT NULL,
    spec_version TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    producer_id TEXT REFERENCES partners (id) DEFERRABLE INITIALLY DEFERRED,
    tlp TEXT,
    recipients TEXT NOT NULL,
    release_at BIGINT NOT NULL,
    released BOOLEAN NOT NULL,
    body TEXT NOT NULL,
    several BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO objects (seq, community_id, stix_id, stix_type, version, version_text, versioned, spec_version,
        added_at, producer_id, tlp, recipients, release_at, released, body, several)
    SELECT seq, community_id, stix_id, stix_type, version, version_text, versioned, spec_version,
        added_at, producer_id, tlp, recipients, release_at, released, body, several
    FROM objects_old;

CREATE TABLE object_refs_new (
    seq BIGINT NOT NULL REFERENCES objects (seq) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    community_id TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    PRIMARY KEY (seq, ref_id)
) WITHOUT ROWID;
INSERT INTO object_refs_new (seq, community_id, ref_id)
    SELECT seq, community_id, ref_id FROM object_refs;

CREATE TABLE deliveries_new (
    user_name TEXT NOT NULL,
    community_id TEXT NOT NULL,
    seq BIGINT NOT NULL REFERENCES objects (seq) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    date_added BIGINT NOT NULL,
    PRIMARY KEY (user_name, community_id, seq)
) WITHOUT ROWID;
INSERT INTO deliveries_new (user_name, community_id, seq, date_added)
    SELECT user_name, community_id, seq, date_added FROM deliveries;

DROP TABLE deliveries;
DROP TABLE object_refs;
DROP TABLE objects_old;
ALTER TABLE object_refs_new RENAME TO object_refs;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX objects_by_id ON objects (community_id, stix_id, version);
CREATE INDEX objects_pending ON objects (community_id, release_at) WHERE released = FALSE;
CREATE INDEX object_refs_by_target ON object_refs (community_id, ref_id);
CREATE UNIQUE INDEX deliveries_by_date ON deliveries (user_name, community_id, date_added);
CREATE INDEX deliveries_by_seq ON deliveries (seq);
