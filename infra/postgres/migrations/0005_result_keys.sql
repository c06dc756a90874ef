-- The result-key index every gateway shares (fixed decision 11): one row per version of a result key, with the
-- fingerprint of its content. A version is reserved (durable = false) by the gateway that decides it, in the
-- transaction that finds the key's versions; the primary key makes a version number taken once. It is marked durable
-- once the gateway's journal write is acknowledged; a version that never is (its write failed, its gateway died) is
-- journalled again by whichever gateway next receives the same content, under the same number.
CREATE TABLE result_versions (
    key UUID NOT NULL,          -- 128-bit fingerprint of (lab, accession, test)
    version INTEGER NOT NULL,
    content UUID NOT NULL,      -- 128-bit fingerprint of the content hash
    durable BOOLEAN NOT NULL DEFAULT false,
    decided_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (key, version));
GRANT SELECT, INSERT, UPDATE ON result_versions TO sidep_app;
