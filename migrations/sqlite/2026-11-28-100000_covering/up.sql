-- deliveries and object_refs are only ever reached through their keys. As rowid tables, every
-- page row cost a step in deliveries_by_date, then a probe of the rowid table for `seq`, then
-- the object; without the rowid, the secondary indexes carry the primary key (`seq`), so the
-- page walks deliveries_by_date alone and the rowid b-tree is no longer written at ingest.
CREATE TABLE deliveries_keyed (
    user_name TEXT NOT NULL,
    community_id TEXT NOT NULL,
    seq BIGINT NOT NULL REFERENCES objects (seq) ON DELETE CASCADE,
    date_added BIGINT NOT NULL,
    PRIMARY KEY (user_name, community_id, seq)
) WITHOUT ROWID;
INSERT INTO deliveries_keyed (user_name, community_id, seq, date_added)
    SELECT user_name, community_id, seq, date_added FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_keyed RENAME TO deliveries;
CREATE UNIQUE INDEX deliveries_by_date ON deliveries (user_name, community_id, date_added);
CREATE INDEX deliveries_by_seq ON deliveries (seq);

CREATE TABLE object_refs_keyed (
    seq BIGINT NOT NULL REFERENCES objects (seq) ON DELETE CASCADE,
    community_id TEXT NOT NULL,
    ref_id TEXT NOT NULL,
    PRIMARY KEY (seq, ref_id)
) WITHOUT ROWID;
INSERT INTO object_refs_keyed (seq, community_id, ref_id)
    SELECT seq, community_id, ref_id FROM object_refs;
DROP TABLE object_refs;
ALTER TABLE object_refs_keyed RENAME TO object_refs;
CREATE INDEX object_refs_by_target ON object_refs (community_id, ref_id);
