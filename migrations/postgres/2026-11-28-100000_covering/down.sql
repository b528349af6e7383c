DROP INDEX deliveries_by_date;
CREATE UNIQUE INDEX deliveries_by_date ON deliveries (user_name, community_id, date_added);
DROP INDEX object_refs_by_target;
CREATE INDEX object_refs_by_target ON object_refs (community_id, ref_id);
