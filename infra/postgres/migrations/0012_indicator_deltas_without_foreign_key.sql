-- A revision's deltas are written in the revision's own transaction, by the one writer of both tables, and neither is
-- ever deleted: the foreign key checked what cannot happen, once per delta row (a trigger and a share lock on the
-- revision for every row copied — a tenth of PostgreSQL's time in the distributed peak day).
ALTER TABLE indicator_deltas DROP CONSTRAINT IF EXISTS indicator_deltas_rev_fkey;
