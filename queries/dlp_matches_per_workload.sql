-- name: dlp_matches_per_workload
-- purpose: statistics
-- description: DLP matches per day and workload, with how many distinct people;
-- description: groups of fewer than k people are suppressed.
-- dataset: data_security_finding
-- reads: security_incident
SELECT
    date_trunc('day', time) AS day,
    workload,
    count(*) AS matches,
    count(DISTINCT actor_user) AS people
FROM data_security_finding
GROUP BY ALL
ORDER BY day, workload
