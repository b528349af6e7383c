DROP INDEX objects_pending;
CREATE INDEX objects_pending ON objects (community_id, released, release_at);
