-- A page walks deliveries_by_date and needs each row's `seq`; carried in the index, the walk
-- can skip the table (index-only scan) wherever the visibility map allows. Likewise the
-- one-hop recheck reads `seq` from object_refs_by_target.
DROP INDEX deliveries_by_date;
CREATE UNIQUE INDEX deliveries_by_date ON deliveries (user_name, community_id, date_added) INCLUDE (seq);
DROP INDEX object_refs_by_target;
CREATE INDEX object_refs_by_target ON object_refs (community_id, ref_id) INCLUDE (seq);
