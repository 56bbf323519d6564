-- name: tiktok_telegram_installed
-- purpose: security_incident
-- description: Devices with TikTok or Telegram installed, from the MDM inventory (seed
-- description: 002: not allowed on service devices, nor on personal devices with access
-- description: to internal services). Shows every service device with either app, and
-- description: personal devices whose owner (or the device itself) reached an internal
-- description: address through the firewall.
-- param: apps text = tiktok|telegram : app names to look for (regular expression)
WITH inventory AS (
    SELECT
        device,
        owner,
        ownership,
        os,
        max(time) AS seen,
        list_distinct(flatten(list(installed_apps))) AS apps
    FROM device_inventory
    GROUP BY device, owner, ownership, os
),
flagged AS (
    SELECT
        *,
        list_filter(apps, lambda a: regexp_matches(lower(a), $apps)) AS banned
    FROM inventory
),
reaching_devices AS (
    SELECT DISTINCT device FROM network_activity WHERE dst_ip_internal AND device IS NOT NULL
),
reaching_owners AS (
    SELECT DISTINCT actor_user AS owner
    FROM network_activity
    WHERE dst_ip_internal AND actor_user IS NOT NULL
    UNION
    SELECT DISTINCT owner FROM flagged WHERE device IN (SELECT device FROM reaching_devices)
)
SELECT
    device,
    owner,
    coalesce(ownership, 'unknown') AS ownership,
    os,
    banned AS apps,
    CASE
        WHEN ownership IS DISTINCT FROM 'personal' THEN 'service device'
        ELSE 'personal device, owner reaches internal services'
    END AS finding,
    seen
FROM flagged
WHERE len(banned) > 0
    AND (ownership IS DISTINCT FROM 'personal' OR owner IN (SELECT owner FROM reaching_owners))
ORDER BY finding DESC, device
