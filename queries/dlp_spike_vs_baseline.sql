-- name: dlp_spike_vs_baseline
-- purpose: security_incident
-- description: A person's DLP matches in a recent window against their own baseline before
-- description: it (seed 001: exfiltration before leaving). Daily rates are compared; people
-- description: with no baseline are compared against one match per baseline period.
-- param: until timestamp = 9999-12-31 : end of the recent window (default: the last match)
-- param: window_days integer = 7 : length of the recent window in days
-- param: baseline_days integer = 60 : length of the baseline before it in days
-- param: factor number = 3 : recent daily rate at least this many times the baseline rate
-- param: min_matches integer = 5 : least matches in the recent window
WITH edge AS (
    SELECT least($until, max(time)) AS until FROM data_security_finding
),
bounds AS (
    SELECT
        until,
        until - to_days($window_days) AS recent_from,
        until - to_days($window_days + $baseline_days) AS baseline_from
    FROM edge
),
per_person AS (
    SELECT
        d.actor_user,
        count(*) FILTER (WHERE d.time > b.recent_from AND d.time <= b.until) AS recent,
        count(*) FILTER (WHERE d.time > b.baseline_from AND d.time <= b.recent_from) AS baseline,
        sum(d.sensitive_count) FILTER (
            WHERE d.time > b.recent_from AND d.time <= b.until
        ) AS recent_items
    FROM data_security_finding AS d, bounds AS b
    WHERE d.actor_user IS NOT NULL
    GROUP BY d.actor_user
)
SELECT
    actor_user,
    recent,
    baseline,
    recent_items,
    round(recent / $window_days, 2) AS recent_per_day,
    round(baseline / $baseline_days, 3) AS baseline_per_day
FROM per_person
WHERE recent >= $min_matches
    AND recent * $baseline_days >= $factor * greatest(baseline, 1) * $window_days
ORDER BY recent * $baseline_days / greatest(baseline, 1) DESC, actor_user
