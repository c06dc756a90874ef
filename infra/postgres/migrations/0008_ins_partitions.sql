-- Where each INS was first seen (fixed decision 5): every later result with that INS is journalled under the same
-- partition key, so that one match worker holds the INS holder and links the result by INS even when its birth date
-- or sex was mistyped. The INS is kept as its SHA-256 (the cases tables of the same database hold it in clear for the
-- contact tracers).
CREATE TABLE ins_partitions (
    ins_hash BYTEA PRIMARY KEY,
    partition_key TEXT NOT NULL);
GRANT SELECT, INSERT ON ins_partitions TO sidep_app;
