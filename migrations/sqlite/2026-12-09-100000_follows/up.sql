-- Follows (docs/sharing.md section 8): a user follows one object of a community (its versions and
-- whatever references it) or, with target '', the whole community. Private to the user.
CREATE TABLE follows (
    id TEXT PRIMARY KEY NOT NULL,
    user_name TEXT NOT NULL,
    community_id TEXT NOT NULL,
    target TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX follows_by_target ON follows (community_id, target, user_name);
CREATE INDEX follows_by_user ON follows (user_name, created_at);

-- What each follower was told: one row per version that became deliverable to it and matched one
-- of its follows, at its own feed position `at` (strictly increasing per user).
CREATE TABLE notifications (
    user_name TEXT NOT NULL,
    at BIGINT NOT NULL,
    id TEXT NOT NULL,
    community_id TEXT NOT NULL,
    seq BIGINT NOT NULL REFERENCES objects (seq) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    follow_target TEXT NOT NULL,
    PRIMARY KEY (user_name, at)
) WITHOUT ROWID;
CREATE INDEX notifications_by_seq ON notifications (seq);
