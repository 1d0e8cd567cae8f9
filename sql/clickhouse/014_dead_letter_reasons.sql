-- The dead letters as the analysts' role reads them (sql/roles/): each invalid record once, its
-- reason and raw coordinates, without the payload. SQL SECURITY DEFINER: the view reads
-- dead_letters with the rights of the user who created it (the writer, which runs the
-- migrations), so a role that may not read dead_letters itself reads this view.
CREATE VIEW IF NOT EXISTS dead_letter_reasons
DEFINER = CURRENT_USER SQL SECURITY DEFINER
AS SELECT reason, topic, partition, offset, detected_at
FROM dead_letters FINAL
