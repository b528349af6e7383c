-- A version posted under an id that another partner owns and that is hidden from the poster is
-- the poster's private copy: delivered to the poster's partner only (docs/sharing.md section 6).
-- The decision reads it for every version of a referenced id, so it joins the covering index.
ALTER TABLE objects ADD COLUMN private_copy BOOLEAN NOT NULL DEFAULT FALSE;
DROP INDEX objects_by_num;
CREATE INDEX objects_by_num ON objects (num, version, stix_id, stix_type, producer_id, tlp,
    recipients, added_at, release_at, released, private_copy);
