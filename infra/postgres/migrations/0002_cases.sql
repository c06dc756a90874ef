-- The fan-out's tables (the same as the embedded store's): positive results kept for the cases they open, cases for
-- contact tracers with a feed cursor that grows at every change, one patient advice notice per case ever.

CREATE TABLE case_results (
    key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    json TEXT NOT NULL);

CREATE TABLE cases (
    seq BIGINT NOT NULL UNIQUE,
    case_id TEXT PRIMARY KEY,
    positive_key TEXT NOT NULL,
    person_id BIGINT NOT NULL,
    sample_date TEXT NOT NULL,
    territory TEXT NOT NULL,
    region TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    json TEXT NOT NULL);
CREATE INDEX cases_key ON cases (positive_key);
CREATE INDEX cases_person ON cases (person_id, sample_date);
CREATE INDEX cases_territory ON cases (territory, seq);

CREATE TABLE notices (
    id BIGSERIAL PRIMARY KEY,
    case_id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    acked_at BIGINT,
    json TEXT NOT NULL);

GRANT SELECT, INSERT, UPDATE ON case_results, cases, notices TO sidep_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sidep_app;
