-- Only versions whose release is still ahead are ever looked up by release time, and they are
-- few (delays end): indexing just those spares every stored version an index entry.
DROP INDEX objects_pending;
CREATE INDEX objects_pending ON objects (community_id, release_at) WHERE released = FALSE;
