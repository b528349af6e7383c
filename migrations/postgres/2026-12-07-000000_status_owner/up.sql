-- A status names the user who posted and the community it went to: only that user and the
-- posting partner's moderators of that community may read it. Older rows (NULL) are readable by
-- nobody; they expire with the retention.
ALTER TABLE statuses ADD COLUMN user_name TEXT;
ALTER TABLE statuses ADD COLUMN community_id TEXT;
