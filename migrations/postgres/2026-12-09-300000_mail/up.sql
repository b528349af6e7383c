-- Mailboxes of the setup file (`[[mail]]`): each user's notifications, or those of every user of
-- a partner, mailed to `address` as they come (`immediate`) or in a daily digest at
-- `digest_minute` (minutes after midnight UTC). `created_at`: nothing older is mailed.
CREATE TABLE mailboxes (
    id TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    address TEXT NOT NULL,
    schedule TEXT NOT NULL,
    digest_minute BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Per mailbox and user: the feed position mailed through, when the next mail may go, and how
-- the last attempt went.
CREATE TABLE mail_cursors (
    mailbox_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    sent_through BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    last_result TEXT NOT NULL,
    PRIMARY KEY (mailbox_id, user_name)
);
