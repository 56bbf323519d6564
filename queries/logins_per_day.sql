-- name: logins_per_day
-- purpose: statistics
-- description: Successful and failed logins per day and method, with how many distinct
-- description: people; groups of fewer than k people are suppressed.
-- dataset: authentication
-- reads: security_incident
SELECT
    date_trunc('day', time) AS day,
    outcome,
    auth_method,
    count(*) AS logins,
    count(DISTINCT actor_user) AS people
FROM authentication
WHERE action = 'ssh_login'
GROUP BY ALL
ORDER BY day, outcome, auth_method
