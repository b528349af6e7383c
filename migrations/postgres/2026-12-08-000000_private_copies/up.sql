-- See the SQLite migration of the same name: private copies, delivered to their producer only.
ALTER TABLE objects ADD COLUMN private_copy BOOLEAN NOT NULL DEFAULT FALSE;
DROP INDEX objects_by_num;
CREATE INDEX objects_by_num ON objects (num, version)
    INCLUDE (seq, stix_id, stix_type, producer_id, tlp, recipients, added_at, release_at, released,
        private_copy);
