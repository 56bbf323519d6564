"""What happens in the synthetic municipality besides ordinary work: the incidents the
demo investigates, chosen once so that the firewall, auth and DLP logs agree on who,
where and when.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipelines.synthetic.logkit import LOCAL_TZ
from pipelines.synthetic.org import IT_DEPARTMENT, Device, Employee, Organisation, ascii_name

# Telegram's published ranges (https://core.telegram.org/resources/cidr.txt).
TELEGRAM_NETS = (
    "91.108.4.0/22",
    "91.108.8.0/22",
    "91.108.12.0/22",
    "91.108.16.0/22",
    "91.108.56.0/22",
    "149.154.160.0/20",
)
# Illustrative TikTok ranges, chosen for the demo: 71.18.0.0/16 is attributed to
# ByteDance (AS396986) in public BGP data, 161.117.0.0/16 is Alibaba Cloud Singapore
# space serving TikTok endpoints. Check current BGP/ASN data before using them for a
# real detection.
TIKTOK_NETS = ("71.18.0.0/16", "161.117.0.0/16")

# TEST-NET addresses (RFC 5737): clearly fake attackers.
BRUTE_FORCE_IP = "203.0.113.77"
SECOND_ATTACKER_IP = "198.51.100.23"
PUBLIC_IP = "192.0.2.10"  # the municipality's public firewall address (TEST-NET-1)


@dataclass(frozen=True)
class Scenario:
    days: tuple[datetime, ...]  # UTC instants of local midnight, one per day
    brute_force_start: datetime  # 203.0.113.77 against srv-jump01, ~25 minutes
    second_attack_start: datetime  # 198.51.100.23, a short burst
    exfiltrator: Employee  # mails and uploads files with national ID numbers
    exfil_start: datetime  # the burst lasts under an hour
    private_address: str  # the exfiltrator's private e-mail address
    telegram_devices: tuple[Device, ...]
    tiktok_devices: tuple[Device, ...]


def local_midnights(start: datetime, days: int) -> tuple[datetime, ...]:
    first = start.astimezone(LOCAL_TZ)
    out = []
    for d in range(days):
        day = datetime(first.year, first.month, first.day, tzinfo=LOCAL_TZ) + timedelta(days=d)
        out.append(datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).astimezone(start.tzinfo))
    return tuple(out)


def at(day: datetime, hour: float) -> datetime:
    return day + timedelta(hours=hour)


def make_scenario(org: Organisation, start: datetime, days: int, rng: random.Random) -> Scenario:
    midnights = local_midnights(start, days)
    staff = [e for e in org.employees if e.department != IT_DEPARTMENT] or org.employees
    exfiltrator = rng.choice(staff)
    phones = [d for d in org.devices if d.kind == "phone" and d.owner != exfiltrator.index]
    phones = phones or [d for d in org.devices if d.owner != exfiltrator.index]
    chosen = rng.sample(phones, min(5, len(phones)))
    private = f"{ascii_name(exfiltrator.first)[0]}{exfiltrator.sam[3:6]}{rng.randrange(60, 99)}"
    return Scenario(
        days=midnights,
        brute_force_start=at(midnights[0], 2 + rng.random()),
        second_attack_start=at(midnights[-1], 14 + rng.random()),
        exfiltrator=exfiltrator,
        exfil_start=at(midnights[-1], 20 + rng.random() / 2),
        private_address=f"{private}.privat@gmail.com",
        telegram_devices=tuple(chosen[:3]),
        tiktok_devices=tuple(chosen[2:] or chosen[-1:]),  # one phone may have both
    )
