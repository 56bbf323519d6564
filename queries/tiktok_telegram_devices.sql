-- name: tiktok_telegram_devices
-- purpose: security_incident
-- description: Devices (and the pseudonymous people behind them) talking to TikTok or
-- description: Telegram (seed 002: these apps are not to be on work devices). The
-- description: firewall log holds addresses, not domain names, so the services are
-- description: matched by the IPv4 networks their domains resolve to. A device the log
-- description: does not name is shown by its (encrypted) internal address.
-- param: min_connections integer = 1 : least number of connections to show
WITH services(service, network, prefix) AS (
    VALUES
        ('Telegram', '149.154.160.0', 20),
        ('Telegram', '91.108.4.0', 22),
        ('Telegram', '91.108.8.0', 22),
        ('Telegram', '91.108.12.0', 22),
        ('Telegram', '91.108.16.0', 22),
        ('Telegram', '91.108.56.0', 22),
        ('TikTok', '71.18.0.0', 16),
        ('TikTok', '161.117.0.0', 16)
),
-- IPv4 text → number without the inet extension (which would have to be downloaded).
ranges AS (
    SELECT
        service,
        (split_part(network, '.', 1)::BIGINT * 16777216
            + split_part(network, '.', 2)::BIGINT * 65536
            + split_part(network, '.', 3)::BIGINT * 256
            + split_part(network, '.', 4)::BIGINT) // (1 << (32 - prefix)) AS net,
        prefix
    FROM services
),
flows AS (
    SELECT
        coalesce(device, src_ip) AS device,
        actor_user,
        time,
        split_part(dst_ip, '.', 1)::BIGINT * 16777216
            + split_part(dst_ip, '.', 2)::BIGINT * 65536
            + split_part(dst_ip, '.', 3)::BIGINT * 256
            + split_part(dst_ip, '.', 4)::BIGINT AS dst
    FROM network_activity
    WHERE NOT dst_ip_internal AND regexp_full_match(dst_ip, '\d+\.\d+\.\d+\.\d+')
)
SELECT
    f.device,
    f.actor_user,
    r.service,
    count(*) AS connections,
    min(f.time) AS first,
    max(f.time) AS last
FROM flows AS f
JOIN ranges AS r ON f.dst // (1 << (32 - r.prefix)) = r.net
GROUP BY ALL
HAVING count(*) >= $min_connections
ORDER BY connections DESC, f.device
