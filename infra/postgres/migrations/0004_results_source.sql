-- A result is stored once, in the results topic (the system of record): the results table keeps what queries select
-- it by and where it lives ("topic/partition/offset"), no longer a JSON copy of it.
ALTER TABLE results DROP COLUMN json;
ALTER TABLE results ADD COLUMN source TEXT NOT NULL DEFAULT '';
ALTER TABLE results ALTER COLUMN source DROP DEFAULT;
