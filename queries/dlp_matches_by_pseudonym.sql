-- name: dlp_matches_by_pseudonym
-- purpose: security_incident
-- description: DLP rule matches per person (pseudonym) within a time window: how many,
-- description: how many sensitive items, which rules and where they were sent.
-- param: from timestamp = 1970-01-01 : window start (the case window applies as well)
-- param: to timestamp = 9999-12-31 : window end (exclusive)
-- param: min_matches integer = 1 : least number of matches to show
SELECT
    actor_user,
    count(*) AS matches,
    sum(sensitive_count) AS sensitive_items,
    list_distinct(flatten(list(rule_names))) AS rules,
    list_distinct(flatten(list(recipients))) AS recipients,
    min(time) AS first,
    max(time) AS last
FROM data_security_finding
WHERE time >= $from AND time < $to AND actor_user IS NOT NULL
GROUP BY actor_user
HAVING count(*) >= $min_matches
ORDER BY matches DESC, actor_user
