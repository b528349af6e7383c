-- Webhooks of the setup file (`[[webhook]]`): each user's notifications, or those of every user
-- of a partner, are POSTed to `url`, signed with `secret` (resolved from the environment by
-- `cairn apply`). `owner` is `user:NAME` or `partner:ID`.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL
);

-- One row per notification and webhook that must receive it: attempts, when the next one is
-- due, and how the last one went. `done_at` is set once it was received (2xx) or given up.
CREATE TABLE webhook_outbox (
    webhook_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    done_at BIGINT,
    last_result TEXT NOT NULL,
    PRIMARY KEY (webhook_id, user_name, at),
    -- An object deleted takes its notifications with it, and their deliveries still owed.
    FOREIGN KEY (user_name, at) REFERENCES notifications (user_name, at)
        ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);
-- A sender takes each webhook's earliest due deliveries.
CREATE INDEX webhook_outbox_due ON webhook_outbox (webhook_id, next_at) WHERE done_at IS NULL;

-- Each user's last feed position given: positions (and the event ids made from them) are never
-- given twice, even when the entry that held the last one is deleted with its object.
CREATE TABLE feed_marks (
    user_name TEXT PRIMARY KEY NOT NULL,
    last_at BIGINT NOT NULL
);
INSERT INTO feed_marks (user_name, last_at)
    SELECT user_name, MAX(at) FROM notifications GROUP BY user_name;
