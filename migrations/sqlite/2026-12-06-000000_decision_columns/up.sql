-- Every POST reads every version of each id its objects reference (the reference rule of the
-- delivery decision), by number. With only (num, version) in this index, each of those versions
-- cost a lookup of its table row, which holds the body: a page per version, most of them not in
-- the cache past 100,000 objects. With the columns the decision reads in the index (the rowid,
-- seq, is in every index), an id's versions are one short run of index entries.
DROP INDEX objects_by_num;
CREATE INDEX objects_by_num ON objects (num, version, stix_id, stix_type, producer_id, tlp,
    recipients, added_at, release_at, released);
