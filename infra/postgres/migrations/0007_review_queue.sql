-- The review queue (possible matches, INS conflicts) read in order without scanning every decision.
CREATE INDEX matches_review ON matches (seq) WHERE rule IN ('PossibleMatch', 'InsConflict');
