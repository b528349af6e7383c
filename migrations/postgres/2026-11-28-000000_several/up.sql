-- True once another version of the same id is stored in the community (by any producer). It
-- lets the first/last filter skip its per-row probe for the many objects with one version. It is
-- set when a version arrives and never cleared (a stale TRUE only costs that probe).
ALTER TABLE objects ADD COLUMN several BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE objects SET several = TRUE
WHERE EXISTS (
    SELECT 1 FROM objects o2
    WHERE o2.community_id = objects.community_id
      AND o2.stix_id = objects.stix_id
      AND o2.seq <> objects.seq
);
