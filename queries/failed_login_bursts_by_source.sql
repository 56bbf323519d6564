-- name: failed_login_bursts_by_source
-- purpose: security_incident
-- description: Sources with a burst of failed logins within one window (brute force,
-- description: password spraying), with how many accounts each tried.
-- param: window_minutes integer = 10 : length of a window in minutes
-- param: min_failures integer = 10 : failures within one window to count as a burst
SELECT
    src_ip,
    time_bucket(to_minutes($window_minutes::BIGINT), time) AS window_start,
    count(*) AS failures,
    count(DISTINCT actor_user) AS accounts_tried,
    min(time) AS first,
    max(time) AS last
FROM authentication
WHERE outcome = 'failure'
GROUP BY ALL
HAVING count(*) >= $min_failures
ORDER BY failures DESC, window_start
