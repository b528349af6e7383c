-- Readers whose views are the same share one stream of rows (docs/sharing.md section 8): a
-- version reaching a thousand such readers is one row, not a thousand. `deliveries` keeps the
-- views of the readers that differ from their class (named by a version, or moved by a change).
-- A class: the readers of one community with one key (effective cap, types, redistributes,
-- the producers that exclude them). `last_ts` and `last_n` are its stamp and position counters.
CREATE TABLE classes (
    id BIGINT PRIMARY KEY NOT NULL,
    community_id TEXT NOT NULL,
    key TEXT NOT NULL,
    last_ts BIGINT NOT NULL,
    last_n BIGINT NOT NULL
);
CREATE UNIQUE INDEX classes_by_key ON classes (community_id, key);

-- One row per version in a class's stream: its position `n` and stamp `ts`, both increasing.
CREATE TABLE class_rows (
    class_id BIGINT NOT NULL,
    n BIGINT NOT NULL,
    seq BIGINT NOT NULL REFERENCES objects (seq) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    ts BIGINT NOT NULL,
    PRIMARY KEY (class_id, n)
);
CREATE UNIQUE INDEX class_rows_by_ts ON class_rows (class_id, ts);
CREATE INDEX class_rows_by_seq ON class_rows (seq, class_id, n);

-- How each reader sees its community: from its class's stream (rows from position `start_n`,
-- each dated max(ts, base_ts + n - base_n), or ts when base_ts is NULL), or, when class_id is
-- NULL, from its own rows in `deliveries`.
CREATE TABLE reader_views (
    user_name TEXT NOT NULL,
    community_id TEXT NOT NULL,
    class_id BIGINT,
    start_n BIGINT NOT NULL,
    base_ts BIGINT,
    base_n BIGINT NOT NULL,
    PRIMARY KEY (user_name, community_id)
);
-- Every reader served so far keeps its own rows.
INSERT INTO reader_views (user_name, community_id, class_id, start_n, base_ts, base_n)
    SELECT user_name, community_id, NULL, 0, NULL, 0 FROM reader_marks;
