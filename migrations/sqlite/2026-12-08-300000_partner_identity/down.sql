ALTER TABLE partners DROP COLUMN identity;
