-- The lab register and the labs' transcoding tables, shared by every gateway of the distributed mode (they were in
-- each gateway's data directory): any gateway serves any lab, and a mapping added through one reaches all.
CREATE TABLE labs (
    finess TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    api_key_hash TEXT NOT NULL UNIQUE,
    facility_ids TEXT[] NOT NULL,
    mllp_sources TEXT[] NOT NULL,
    mllp_certs TEXT[] NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE INDEX labs_mllp_sources ON labs USING gin (mllp_sources);
CREATE INDEX labs_mllp_certs ON labs USING gin (mllp_certs);

-- mark numbers the changes, in the order they commit (a table lock serialises writers: changes are rare), so that a
-- gateway following them from its last mark misses none.
CREATE SEQUENCE transcoding_mark;
CREATE TABLE transcoding (
    lab TEXT NOT NULL,
    local_code TEXT NOT NULL,
    loinc TEXT NOT NULL,
    label TEXT,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    mark BIGINT NOT NULL DEFAULT nextval('transcoding_mark'),
    PRIMARY KEY (lab, local_code));
CREATE INDEX transcoding_mark_idx ON transcoding (mark);
GRANT SELECT, INSERT, UPDATE ON labs, transcoding TO sidep_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO sidep_app;
