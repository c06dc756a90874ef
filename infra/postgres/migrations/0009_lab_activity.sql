-- The labs' activity by hour and the results' delays from sample to receipt (lab health, data freshness): every
-- gateway adds its own counts. Monitoring data, nothing nominative.
CREATE TABLE lab_hours (
    hour BIGINT NOT NULL,
    lab TEXT NOT NULL,
    received INTEGER NOT NULL,
    stored INTEGER NOT NULL,
    rejected INTEGER NOT NULL,
    quarantined INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    last_stored_at TIMESTAMPTZ,
    PRIMARY KEY (hour, lab));
CREATE INDEX lab_hours_last ON lab_hours (lab, last_stored_at);
CREATE TABLE result_delays (
    day INTEGER NOT NULL,
    delay INTEGER NOT NULL,
    results BIGINT NOT NULL,
    PRIMARY KEY (day, delay));
GRANT SELECT, INSERT, UPDATE ON lab_hours, result_delays TO sidep_app;
