-- What each followed report or grouping holds (its object_refs) in the newest version of it
-- delivered to the follower (`version`): a follow on a container also matches these objects
-- and what references them.
CREATE TABLE follow_holds (
    user_name TEXT NOT NULL,
    community_id TEXT NOT NULL,
    container TEXT NOT NULL,
    held TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (user_name, community_id, container, held)
);
CREATE INDEX follow_holds_by_held ON follow_holds (community_id, held);
