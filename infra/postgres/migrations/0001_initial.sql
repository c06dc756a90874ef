-- Sidep's store in the distributed mode: the same tables as the embedded SQLite store (src/Sidep.Storage.Embedded),
-- applied by `sidep db migrate`. Consumer positions live next to the writes they cover: one transaction for both.

CREATE TABLE results (
    lab_id TEXT NOT NULL,
    accession_id TEXT NOT NULL,
    test_code TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    interpretation TEXT NOT NULL,
    loinc TEXT,
    sample_date TEXT,
    partition_key TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (lab_id, accession_id, test_code));

CREATE TABLE consumer_offsets (
    consumer TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    PRIMARY KEY (consumer, partition));

CREATE TABLE matches (
    lab_id TEXT NOT NULL,
    accession_id TEXT NOT NULL,
    test_code TEXT NOT NULL,
    version INTEGER NOT NULL,
    person_id BIGINT NOT NULL,
    rule TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    decision TEXT NOT NULL,
    seq BIGSERIAL,
    PRIMARY KEY (lab_id, accession_id, test_code, version));
CREATE INDEX matches_person ON matches (person_id);

CREATE TABLE person_merges (
    from_person BIGINT PRIMARY KEY,
    into_person BIGINT NOT NULL);

CREATE TABLE indicator_revisions (
    rev BIGSERIAL PRIMARY KEY,
    processed_at BIGINT NOT NULL,
    results INTEGER NOT NULL,
    cells INTEGER NOT NULL);
CREATE INDEX indicator_revisions_time ON indicator_revisions (processed_at);

CREATE TABLE indicator_deltas (
    rev BIGINT NOT NULL REFERENCES indicator_revisions (rev),
    day INTEGER NOT NULL,
    cell INTEGER NOT NULL,
    dp INTEGER NOT NULL,
    dt INTEGER NOT NULL);
CREATE INDEX indicator_deltas_rev ON indicator_deltas (rev);

-- Every read of nominative data. Append-only at the database level: the application role may insert and read, never
-- update or delete; a trigger refuses it to everyone else too (owners and superusers included).
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    agent TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    query TEXT NOT NULL,
    case_ids TEXT NOT NULL);

CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END $$;
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sidep_app') THEN
        CREATE ROLE sidep_app NOLOGIN;
    END IF;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON results, consumer_offsets, matches, person_merges, indicator_revisions, indicator_deltas TO sidep_app;
GRANT SELECT, INSERT ON audit TO sidep_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit FROM PUBLIC;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sidep_app;
