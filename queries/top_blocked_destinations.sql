-- name: top_blocked_destinations
-- purpose: network_administration
-- description: Destinations the firewall blocked most often, per client device
-- description: (pseudonym; where the log names no device, its source subnet), to spot
-- description: misconfigured clients and unwanted services.
-- param: per_device integer = 5 : destinations shown per device
-- param: min_blocked integer = 1 : least number of blocked packets to show
WITH blocked AS (
    SELECT
        coalesce(device, src_ip) AS device,
        dst_ip AS destination,
        dst_port,
        protocol,
        count(*) AS blocked,
        min(time) AS first_hour,
        max(time) AS last_hour
    FROM network_activity
    WHERE action IN ('drop', 'reject') AND src_ip_internal
    GROUP BY 1, 2, 3, 4
),
ranked AS (
    SELECT
        *,
        row_number() OVER (PARTITION BY device ORDER BY blocked DESC, destination) AS rank
    FROM blocked
)
SELECT device, destination, dst_port, protocol, blocked, first_hour, last_hour
FROM ranked
WHERE rank <= $per_device AND blocked >= $min_blocked
ORDER BY blocked DESC, device, destination
