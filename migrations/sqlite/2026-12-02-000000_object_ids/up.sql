-- Each STIX id a community stores or references gets a number the first time it is seen, from one
-- counter for all communities (meta `last_num`), so a number names one id of one community. The
-- indexes that find an object's versions and what references it are keyed by that number: new
-- ids take numbers at the end of those b-trees, and a reference mostly reaches an id seen lately.
-- Keyed by the id text, both took about one random leaf page per object to read, dirty, write to
-- the WAL and checkpoint; at a million objects most of those leaves were not cached. Only
-- `object_ids` is still keyed by the id text.
CREATE TABLE object_ids (
    community_id TEXT NOT NULL,
    stix_id TEXT NOT NULL,
    num BIGINT NOT NULL,
    PRIMARY KEY (community_id, stix_id)
) WITHOUT ROWID;
-- Stored ids in the order they were first stored, then ids only referenced.
INSERT INTO object_ids (community_id, stix_id, num)
    SELECT community_id, stix_id, ROW_NUMBER() OVER (ORDER BY MIN(seq))
    FROM objects GROUP BY community_id, stix_id;
INSERT INTO object_ids (community_id, stix_id, num)
    SELECT r.community_id, r.ref_id,
        (SELECT COUNT(*) FROM object_ids) + ROW_NUMBER() OVER (ORDER BY MIN(r.seq))
    FROM object_refs r
    WHERE NOT EXISTS (SELECT 1 FROM objects o
                      WHERE o.community_id = r.community_id AND o.stix_id = r.ref_id)
    GROUP BY r.community_id, r.ref_id;
INSERT INTO meta (key, value)
    SELECT 'last_num', CAST(COALESCE(MAX(num), 0) AS TEXT) FROM object_ids;

ALTER TABLE objects ADD COLUMN num BIGINT NOT NULL DEFAULT 0;
UPDATE objects SET num = (SELECT i.num FROM object_ids i
                          WHERE i.community_id = objects.community_id AND i.stix_id = objects.stix_id);
DROP INDEX objects_by_id;
CREATE INDEX objects_by_num ON objects (num, version);

ALTER TABLE object_refs ADD COLUMN target_num BIGINT NOT NULL DEFAULT 0;
UPDATE object_refs SET target_num = (SELECT i.num FROM object_ids i
                                     WHERE i.community_id = object_refs.community_id
                                       AND i.stix_id = object_refs.ref_id);
DROP INDEX object_refs_by_target;
CREATE INDEX object_refs_by_target ON object_refs (target_num);
