DROP INDEX objects_by_num;
CREATE INDEX objects_by_num ON objects (num, version, stix_id, stix_type, producer_id, tlp,
    recipients, added_at, release_at, released);
ALTER TABLE objects DROP COLUMN private_copy;
