-- name: admin_privileged_store_access
-- purpose: security_incident
-- description: Administrators' own access to quarantined mail and other privileged stores
-- description: (seed 001: few admins, and their access logged to catch snooping). Object
-- description: accesses (Windows 4663) in a store class (quarantine, mailbox, hr, journal,
-- description: backup), per person, with whether the session held special privileges
-- description: (a 4672 logon with the same logon id) or the access used them.
-- param: from timestamp = 1970-01-01 : window start (the case window applies as well)
-- param: to timestamp = 9999-12-31 : window end (exclusive)
WITH admin_sessions AS (
    SELECT DISTINCT session_id
    FROM authentication
    WHERE event_id = '4672' AND session_id IS NOT NULL
)
SELECT
    r.actor_user,
    r.store_class,
    count(*) AS accesses,
    count(DISTINCT r.object_name) AS objects,
    list_distinct(list(r.action)) AS actions,
    bool_or(a.session_id IS NOT NULL OR coalesce(r.privileged, false)) AS with_admin_rights,
    min(r.time) AS first,
    max(r.time) AS last
FROM record_access AS r
LEFT JOIN admin_sessions AS a ON a.session_id = r.session_id
WHERE r.store_class IS NOT NULL AND r.time >= $from AND r.time < $to
GROUP BY r.actor_user, r.store_class
ORDER BY with_admin_rights DESC, accesses DESC, r.actor_user
