CREATE TABLE deliveries_rowid (
    user_name TEXT NOT NULL,
    community_id TEXT NOT NULL,
    seq BIGINT NOT NULL REFERENCES objects (seq) ON DELETE CASCADE,
    date_added BIGINT NOT NULL,
    PRIMARY KEY (user_name, community_id, seq)
);
INSERT INTO deliveries_rowid (user_name, community_id, seq, date_added)
    SELECT user_name, community_id, seq, date_added FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_rowid RENAME TO deliveries;
CREATE UNIQUE INDEX deliveries_by_date ON deliveries (user_name, community_id, date_added);
CREATE INDEX deliveries_by_seq ON deliveries (seq);

CREATE TABLE object_refs_rowid (
    seq BIGINT NOT NULL REFERENCES objects (seq) ON DELETE CASCADE,
    community_id TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    PRIMARY KEY (seq, ref_id)
);
INSERT INTO object_refs_rowid (seq, community_id, ref_id)
    SELECT seq, community_id, ref_id FROM object_refs;
DROP TABLE object_refs;
ALTER TABLE object_refs_rowid RENAME TO object_refs;
CREATE INDEX object_refs_by_target ON object_refs (community_id, ref_id);
