-- name: record_lookups_outside_care
-- purpose: security_incident
-- description: Record look-ups without a service need (seeds 001 and 004): per person
-- description: (pseudonym), how many records they opened, how many belong to another care
-- description: unit than their own, and how many carry no reason code. A person shows up
-- description: when any of the three passes its threshold.
-- param: from timestamp = 1970-01-01 : window start (the case window applies as well)
-- param: to timestamp = 9999-12-31 : window end (exclusive)
-- param: min_records integer = 50 : distinct records opened in the window
-- param: min_outside integer = 1 : look-ups of records of another care unit
-- param: min_without_reason integer = 1 : look-ups without a reason code
SELECT
    actor_user,
    any_value(actor_unit) AS unit,
    count(*) AS lookups,
    count(DISTINCT record_id) AS records,
    count(*) FILTER (
        WHERE record_unit IS NOT NULL AND record_unit IS DISTINCT FROM actor_unit
    ) AS outside_unit,
    count(*) FILTER (WHERE reason_code IS NULL OR trim(reason_code) = '') AS without_reason,
    min(time) AS first,
    max(time) AS last
FROM record_access
WHERE record_id IS NOT NULL AND actor_user IS NOT NULL AND time >= $from AND time < $to
GROUP BY actor_user
HAVING count(DISTINCT record_id) >= $min_records
    OR outside_unit >= $min_outside
    OR without_reason >= $min_without_reason
ORDER BY outside_unit + without_reason DESC, records DESC, actor_user
