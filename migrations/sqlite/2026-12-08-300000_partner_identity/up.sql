-- The STIX identity a partner signs its objects with (`[[partner]] identity`); NULL means the
-- one Cairn derives from the partner's id. Another partner naming it in created_by_ref is refused.
ALTER TABLE partners ADD COLUMN identity TEXT;
