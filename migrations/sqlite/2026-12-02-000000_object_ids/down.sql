DROP INDEX object_refs_by_target;
ALTER TABLE object_refs DROP COLUMN target_num;
CREATE INDEX object_refs_by_target ON object_refs (community_id, ref_id);
DROP INDEX objects_by_num;
ALTER TABLE objects DROP COLUMN num;
CREATE INDEX objects_by_id ON objects (community_id, stix_id, version);
DELETE FROM meta WHERE key = 'last_num';
DROP TABLE object_ids;
