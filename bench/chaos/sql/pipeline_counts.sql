-- The job's reconciliation counts over all received minutes and raw topics.
SELECT sum(received) AS received, sum(clean) AS clean, sum(dead_letters) AS dead_letters,
       sum(duplicates) AS duplicates, sum(too_late) AS too_late
FROM pipeline_counts FINAL
