"""The people, devices and servers of the synthetic municipality "Fjordvik kommune".

Every log generator draws from this one directory so that the same person shows up
under several identifiers (UPN, e-mail aliases, `FJORDVIK\\sam`, plain sam, display
name) across sources: exactly what identity canonicalisation has to undo. Every
identifier is at least six characters long, so a random pseudonym string cannot
contain one by chance.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

DOMAIN = "fjordvik.kommune.no"
AD_DOMAIN = "FJORDVIK"
LOCAL_DOMAIN = "fjordvik.local"
TENANT = "fjordvik"

FIRST_NAMES = (
    "Kari", "Ola", "Ingrid", "Lars", "Anne", "Per", "Silje", "Jon", "Marit", "Knut",
    "Hilde", "Bjørn", "Nina", "Arne", "Tone", "Geir", "Liv", "Terje", "Randi", "Odd",
    "Åse", "Tor", "Solveig", "Eirik", "Ragnhild", "Sindre", "Ida", "Magnus", "Synnøve",
    "Håkon", "Astrid", "Sverre", "Guro", "Øystein", "Mette", "Jørgen", "Heidi", "Trond",
    "Kristin", "Espen", "Camilla", "Vegard", "Line", "Stian", "Marte", "Henrik", "Tuva",
    "Sigurd", "Elin", "Steinar", "Berit", "Torstein", "Hanne", "Audun", "Sunniva", "Ivar",
    "Frøydis", "Kjetil", "Gunhild", "Rune", "Nora", "Emil", "Maja", "Amir", "Fatima",
    "Oskar", "Sofie", "Mathias", "Ingeborg", "Aksel", "Tiril", "Halvor", "Vilde", "Petter",
    "Ane", "Jakob", "Linnea", "Sander", "Hege", "Dag",
)  # fmt: skip

LAST_NAMES = (
    "Nordmann", "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen",
    "Kristiansen", "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg",
    "Haugen", "Hagen", "Johannessen", "Andreassen", "Jacobsen", "Dahl", "Halvorsen",
    "Henriksen", "Lund", "Sørensen", "Moen", "Gundersen", "Iversen", "Strand", "Solberg",
    "Svendsen", "Eide", "Knutsen", "Martinsen", "Paulsen", "Bakken", "Kristoffersen",
    "Mathisen", "Lie", "Amundsen", "Rasmussen", "Lunde", "Solheim", "Berge", "Moe",
    "Nygård", "Bakke", "Fredriksen", "Holm", "Lien", "Hauge", "Christensen", "Evensen",
    "Sæther", "Aas", "Hovland", "Myhre", "Vik", "Brekke", "Tangen", "Fjeld", "Rønning",
    "Aasen", "Sandvik", "Lillebø", "Haugland", "Thorsen", "Nguyen", "Ali", "Hussain",
    "Skogen", "Engen", "Ødegård", "Furuseth", "Rød", "Sletten", "Kvamme", "Grønlie",
)  # fmt: skip

# (name, relative size); department n gets client subnet 10.20.n.0/24.
DEPARTMENTS = (
    ("Rådmannens kontor", 3), ("IKT", 4), ("Helse og omsorg", 22), ("Barnevern", 6),
    ("NAV Fjordvik", 8), ("Oppvekst og skole", 24), ("Teknisk drift", 10),
    ("Plan og bygg", 6), ("Økonomi", 5), ("Personal", 4), ("Kultur", 8),
)  # fmt: skip
IT_DEPARTMENT = 2


@dataclass(frozen=True)
class Server:
    name: str
    ip: str
    ports: tuple[int, ...]  # TCP services clients use
    rfc3339: bool = False  # rsyslog with high-precision RFC 3339 timestamps
    fqdn_header: bool = False  # writes its FQDN into the syslog header

    @property
    def log_host(self) -> str:
        return f"{self.name}.{LOCAL_DOMAIN}" if self.fqdn_header else self.name


SERVERS = (
    Server("srv-jump01", "10.10.0.5", (22,)),
    Server("srv-dns01", "10.10.0.10", ()),
    Server("srv-journal01", "10.10.0.21", (443,), rfc3339=True),
    Server("srv-sak01", "10.10.0.22", (443, 8443)),
    Server("srv-file01", "10.10.0.30", (445,)),
    Server("srv-web01", "10.10.0.40", (443, 80)),
    Server("srv-db01", "10.10.0.50", (5432,), rfc3339=True, fqdn_header=True),
    Server("srv-print01", "10.10.0.60", (631, 9100)),
    Server("srv-backup01", "10.10.0.70", (8400,), rfc3339=True),
)
SERVER_BY_NAME = {s.name: s for s in SERVERS}
ULA_PREFIX = "fd3c:9a1e:7b20"  # the municipality's IPv6 unique local prefix


@dataclass
class Device:
    name: str  # FV-LT-01234 / FV-MOB-01234
    kind: str  # "laptop" / "phone"
    ip: str
    ip6: str
    mac: str
    owner: int  # employee index

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{LOCAL_DOMAIN}"


@dataclass
class Employee:
    index: int
    employee_id: str
    first: str
    last: str
    department: int
    upn: str
    aliases: tuple[str, ...]
    sam: str
    uid: int
    devices: list[Device] = field(default_factory=list)
    admin: bool = False
    home_ip: str = ""

    @property
    def display_name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def domain_sam(self) -> str:
        return f"{AD_DOMAIN}\\{self.sam}"

    @property
    def site_segment(self) -> str:
        """The OneDrive personal-site segment, e.g. kari_nordmann_fjordvik_kommune_no."""
        return self.upn.replace(".", "_").replace("@", "_")

    @property
    def identifiers(self) -> tuple[str, ...]:
        return (self.upn, *self.aliases, self.domain_sam, self.sam, self.display_name)


@dataclass
class Organisation:
    employees: list[Employee]
    departments: tuple[str, ...]

    @property
    def admins(self) -> list[Employee]:
        return [e for e in self.employees if e.admin]

    @property
    def devices(self) -> list[Device]:
        return [d for e in self.employees for d in e.devices]

    def alias_rows(self) -> list[tuple[str, str]]:
        return [(e.employee_id, ident) for e in self.employees for ident in e.identifiers]


_ASCII = str.maketrans({"æ": "ae", "ø": "o", "å": "a", "é": "e", "ü": "u"})


def ascii_name(name: str) -> str:
    return name.lower().translate(_ASCII).replace(" ", "")


def _unique(candidate: str, used: set[str]) -> str:
    value, n = candidate, 2
    while value in used:
        value, n = f"{candidate}{n}", n + 1
    used.add(value)
    return value


def _aliases(first: str, last: str, rng: random.Random, used: set[str]) -> tuple[str, ...]:
    forms = [f"{first[0]}.{last}", f"{first}.{last}", f"{first}{last}", f"{first}.{last[0]}"]
    count = 2 if rng.random() < 0.2 else 1
    picked = rng.sample(forms, count)
    if count == 2 and rng.random() < 0.5:  # an old surname kept as an alias after marriage
        picked[1] = f"{first}.{ascii_name(rng.choice(LAST_NAMES))}"
    return tuple(f"{_unique(p, used)}@{DOMAIN}" for p in picked)


def _mac(rng: random.Random, oui: str) -> str:
    return oui + "".join(f":{rng.randrange(256):02x}" for _ in range(3))


_OUIS = ("3c:52:82", "f4:8e:38", "a4:83:e7", "dc:a6:32", "90:10:35", "8c:85:90")


def build_organisation(employees: int, rng: random.Random) -> Organisation:
    """A deterministic (for `rng`'s state) staff list with devices, admins and home IPs."""
    pairs = [(f, ln) for f in FIRST_NAMES for ln in LAST_NAMES]
    if not 4 <= employees <= len(pairs):
        raise ValueError(f"employees must be between 4 and {len(pairs)}")
    names = rng.sample(pairs, employees)
    weights = [w for _, w in DEPARTMENTS]
    depts = [rng.choices(range(1, len(DEPARTMENTS) + 1), weights)[0] for _ in names]
    depts[0], depts[1] = IT_DEPARTMENT, IT_DEPARTMENT  # at least two administrators
    used_local: set[str] = set()
    used_sam: set[str] = set()
    people: list[Employee] = []
    for i, ((first, last), dept) in enumerate(zip(names, depts, strict=True)):
        f, ln = ascii_name(first), ascii_name(last)
        local = _unique(f"{f}.{ln}", used_local)
        aliases = _aliases(f, ln, rng, used_local)
        stem = f[:3] + ln[:3]
        n = 1
        while f"{stem}{n:02d}" in used_sam:
            n += 1
        sam = f"{stem}{n:02d}"
        used_sam.add(sam)
        people.append(
            Employee(
                index=i,
                employee_id=f"E{10001 + i}",
                first=first,
                last=last,
                department=dept,
                upn=f"{local}@{DOMAIN}",
                aliases=aliases,
                sam=sam,
                uid=1001 + i,
                admin=dept == IT_DEPARTMENT,
            )
        )
    _give_devices(people, rng)
    for e in people:
        if e.admin:  # Telenor / Altibox-style residential ranges
            e.home_ip = f"{rng.choice((84, 88))}.{rng.randrange(80, 240)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"  # noqa: E501
    return Organisation(people, tuple(name for name, _ in DEPARTMENTS))


def _give_devices(people: list[Employee], rng: random.Random) -> None:
    next_host: dict[int, int] = {}  # subnet -> next free host number
    subnet_of_dept = {d: d for d in range(1, len(DEPARTMENTS) + 1)}
    spare_subnet = len(DEPARTMENTS) + 100  # overflow subnets when a department fills up
    serials = rng.sample(range(1000, 99999), 2 * len(people))
    for e in people:
        kinds = ["laptop"] + (["phone"] if rng.random() < 0.55 else [])
        for kind in kinds:
            subnet = subnet_of_dept[e.department]
            host = next_host.get(subnet, 11)
            if host > 250:
                subnet = subnet_of_dept[e.department] = spare_subnet
                spare_subnet, host = spare_subnet + 1, 11
            next_host[subnet] = host + 1
            serial = serials.pop()
            e.devices.append(
                Device(
                    name=f"FV-{'LT' if kind == 'laptop' else 'MOB'}-{serial:05d}",
                    kind=kind,
                    ip=f"10.20.{subnet}.{host}",
                    ip6=f"{ULA_PREFIX}:{subnet:x}::{host:x}",
                    mac=_mac(rng, rng.choice(_OUIS)),
                    owner=e.index,
                )
            )
