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
    PRIMARY KEY (webhook_id, user_name, at)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE done_at IS NULL;
