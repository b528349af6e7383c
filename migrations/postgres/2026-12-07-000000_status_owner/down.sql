ALTER TABLE statuses DROP COLUMN community_id;
ALTER TABLE statuses DROP COLUMN user_name;
