-- A date's research rows are read a page at a time in key order (a busy day's partition is rewritten without holding
-- all its rows): the index on (sample_date, key) serves those pages in order; the one on sample_date alone goes.
CREATE INDEX research_rows_date_key ON research_rows (sample_date, key);
DROP INDEX IF EXISTS research_rows_date;
