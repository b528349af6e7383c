-- See the SQLite migration of the same name: the columns the delivery decision reads of every
-- version of a referenced id, in the index that finds those versions.
DROP INDEX objects_by_num;
CREATE INDEX objects_by_num ON objects (num, version)
    INCLUDE (seq, stix_id, stix_type, producer_id, tlp, recipients, added_at, release_at, released);
