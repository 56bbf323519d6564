-- name: failed_login_bursts_by_pseudonym
-- purpose: security_incident
-- description: Accounts (pseudonyms) with a burst of failed logins within one window,
-- description: from how many sources: a targeted account or a compromised password.
-- param: window_minutes integer = 10 : length of a window in minutes
-- param: min_failures integer = 5 : failures within one window to count as a burst
SELECT
    actor_user,
    time_bucket(to_minutes($window_minutes::BIGINT), time) AS window_start,
    count(*) AS failures,
    count(DISTINCT src_ip) AS sources,
    bool_or(invalid_user) AS unknown_account
FROM authentication
WHERE outcome = 'failure' AND actor_user IS NOT NULL
GROUP BY ALL
HAVING count(*) >= $min_failures
ORDER BY failures DESC, window_start
