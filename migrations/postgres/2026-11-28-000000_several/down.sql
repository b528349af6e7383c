ALTER TABLE objects DROP COLUMN several;
