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
    last_received_at TIMESTAMPTZ,
    PRIMARY KEY (hour, lab));
-- When each lab's latest item was received (what lab health measures a silence from), one row a lab.
CREATE TABLE lab_last (
    lab TEXT PRIMARY KEY,
    last_received_at TIMESTAMPTZ NOT NULL);
-- The items each lab had rejected in an hour, by reason (the first error's code).
CREATE TABLE lab_rejections (
    hour BIGINT NOT NULL,
    lab TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (hour, lab, reason));
CREATE TABLE result_delays (
    day INTEGER NOT NULL,
    delay INTEGER NOT NULL,
    results BIGINT NOT NULL,
    PRIMARY KEY (day, delay));
GRANT SELECT, INSERT, UPDATE ON lab_hours, lab_last, lab_rejections, result_delays TO sidep_app;
