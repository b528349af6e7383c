DROP INDEX objects_by_num;
CREATE INDEX objects_by_num ON objects (num, version);
