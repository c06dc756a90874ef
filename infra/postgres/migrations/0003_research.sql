-- The research sink's tables (the same as the embedded store's): one row per result before pseudonymisation (the
-- person id never leaves the store), the sample dates whose Parquet partition must be written again, oppositions.

CREATE TABLE research_rows (
    key TEXT PRIMARY KEY,
    person_id BIGINT NOT NULL,
    version INTEGER NOT NULL,
    sample_date TEXT NOT NULL,
    json TEXT NOT NULL);
CREATE INDEX research_rows_date ON research_rows (sample_date);
CREATE INDEX research_rows_person ON research_rows (person_id);

-- mark grows at every change of the date: a writer clears only the marks it has seen, so a change made while it
-- writes is written by the next pass.
CREATE SEQUENCE research_dirty_mark;
CREATE TABLE research_dirty (
    sample_date TEXT PRIMARY KEY,
    mark BIGINT NOT NULL DEFAULT nextval('research_dirty_mark'));

CREATE TABLE research_persons_merged (
    from_person BIGINT PRIMARY KEY,
    into_person BIGINT NOT NULL);

CREATE TABLE oppositions (
    id BIGSERIAL PRIMARY KEY,
    recorded_at BIGINT NOT NULL,
    person_id BIGINT,
    identity_key TEXT);
CREATE INDEX oppositions_person ON oppositions (person_id);
CREATE INDEX oppositions_identity ON oppositions (identity_key);

GRANT SELECT, INSERT, UPDATE, DELETE ON research_rows, research_dirty, research_persons_merged, oppositions TO sidep_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sidep_app;
