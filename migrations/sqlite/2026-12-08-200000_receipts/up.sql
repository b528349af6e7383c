-- What each user was served (pull: the versions of one page of objects) and posted (push: the
-- versions stored, and how many were refused), for audits and recalls (`cairn receipts`).
-- `seqs` lists the versions' sequence numbers, each as its difference from the one before.
CREATE TABLE receipts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_name TEXT NOT NULL,
    community_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    seqs TEXT NOT NULL,
    refused BIGINT NOT NULL
);
CREATE INDEX receipts_by_community ON receipts (community_id, at);
CREATE INDEX receipts_by_user ON receipts (user_name, at);
CREATE INDEX receipts_by_age ON receipts (at);
