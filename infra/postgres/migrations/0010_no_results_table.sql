-- No results table: nothing queried it. A result lives once, in the results topic (the system of record); the result-key
-- index answers new / duplicate / correction, and each stage keeps what its own queries need.
DROP TABLE IF EXISTS results;
