-- See the SQLite migration of the same name.
CREATE TABLE receipts (
    id BIGSERIAL PRIMARY KEY NOT NULL,
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
