-- Nothing to change: SQLite's tables now check their foreign keys at commit, so that a multi-row
-- INSERT keeps no statement journal. PostgreSQL keeps none either way; its keys stay as they are.
SELECT 1;
