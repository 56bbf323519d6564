"""Netfilter/UFW kernel lines from the municipality's two firewalls.

fv-fw01 is the perimeter (eth0 outside, eth1 clients, eth2 servers) and fv-fw02
separates clients from the server segment (eth1 clients, eth2 servers). An
identity-aware front-end appends `USER=<identifier>` to client sessions, using
whichever form of the person's identity the session carried (UPN, e-mail alias,
`FJORDVIK\\sam`, a capitalised UPN), so one person appears under several names.
"""

from __future__ import annotations

import ipaddress
import random
from datetime import datetime, timedelta
from itertools import accumulate

from pipelines.synthetic.logkit import Seen, bsd_header, garbage_line, truncated, work_time
from pipelines.synthetic.org import SERVER_BY_NAME, SERVERS, Device, Employee, Organisation
from pipelines.synthetic.scenario import (
    BRUTE_FORCE_IP,
    PUBLIC_IP,
    TELEGRAM_NETS,
    TIKTOK_NETS,
    Scenario,
)

FW1, FW2 = "fv-fw01", "fv-fw02"

# Popular services (Microsoft 365, Google, Cloudflare, Fastly, Akamai, AWS, Norwegian
# hosting) as /16 prefixes for the outbound web pool.
_WEB_PREFIXES = (
    "13.107",
    "52.97",
    "40.99",
    "20.190",
    "142.250",
    "172.217",
    "104.16",
    "151.101",
    "23.54",
    "3.64",
    "185.26",
    "195.88",
    "77.40",
    "213.155",
)
_WEB6 = ("2a00:1450:400f:80d::", "2603:1026:c0b:10::", "2606:4700::6810:", "2a04:4e42:600::")
_SCAN_PREFIXES = ("45.148", "185.224", "193.163", "162.142", "167.94", "89.248", "194.26")
_RESOLVERS = ("1.1.1.1", "9.9.9.9", "8.8.8.8")
_GMAIL = ("142.250.74.101", "142.250.74.69", "172.217.21.165")
_SCAN_PORTS = (22, 23, 80, 443, 445, 1433, 3389, 5900, 8080, 8443, 5060, 2323, 6379)


class FirewallWriter:
    def __init__(self, org: Organisation, scenario: Scenario, rng: random.Random, seen: Seen):
        self.org, self.sc, self.rng, self.seen = org, scenario, rng, seen
        r = rng
        self.web = [f"{p}.{r.randrange(256)}.{r.randrange(1, 255)}" for p in _WEB_PREFIXES * 12]
        self.web_cum = list(accumulate(1 / (i + 1) ** 0.8 for i in range(len(self.web))))
        self.web6 = [f"{p}{r.randrange(1, 0xFFFF):x}" for p in _WEB6 * 5]
        self.scanners = [
            f"{r.choice(_SCAN_PREFIXES)}.{r.randrange(256)}.{r.randrange(1, 255)}"
            for _ in range(40)
        ]

        def mac() -> str:
            return ":".join(f"{r.randrange(256):02x}" for _ in range(6))

        self.fw_mac = {
            (FW1, "eth0"): mac(),
            (FW1, "eth1"): mac(),
            (FW1, "eth2"): mac(),
            (FW2, "eth1"): mac(),
            (FW2, "eth2"): mac(),
        }
        self.isp_mac = mac()
        self.server_mac = {s.name: mac() for s in SERVERS}
        self.events: list[tuple[datetime, int, str]] = []
        self.boot = {FW1: rng.uniform(1e5, 9e6), FW2: rng.uniform(1e5, 9e6)}

    # -- formatting -------------------------------------------------------------
    def _emit(
        self,
        t: datetime,
        host: str,
        action: str,
        iin: str,
        out: str,
        mac: str,
        body: str,
        user: str | None = None,
    ) -> None:
        uptime = f"[{self.boot[host] + t.timestamp() - self.sc.days[0].timestamp():.6f}] "
        kern = uptime if host == FW2 else ""  # fw02's kernel prints its uptime stamp
        tail = f" USER={user}" if user else ""
        line = (
            f"{bsd_header(t, host)} kernel: {kern}[UFW {action}] IN={iin} OUT={out} "
            f"MAC={mac} {body}{tail}"
        )
        self.seen.add("host_names", host)
        self.events.append((t, len(self.events), line))

    def _mac(self, host: str, iface: str, src_mac: str, v6: bool = False) -> str:
        dst = self.fw_mac[(host, iface)]
        self.seen.add("mac_addresses", dst, src_mac)
        return f"{dst}:{src_mac}:{'86:dd' if v6 else '08:00'}"

    def _v4(self, src: str, dst: str, ttl: int, proto: str, length: int | None = None) -> str:
        self.seen.ip(src, dst)
        r = self.rng
        if proto.startswith("PROTO=TCP"):
            length = length or r.choice((52, 60))
        elif proto.startswith("PROTO=UDP"):  # IP length = UDP length + 20-byte header
            length = int(proto.rsplit("LEN=", 1)[1]) + 20
        df = "DF " if not proto.startswith("PROTO=ICMP") or r.random() < 0.5 else ""
        return (
            f"SRC={src} DST={dst} LEN={length} TOS=0x00 PREC=0x00 TTL={ttl} "
            f"ID={r.randrange(65536)} {df}{proto}"
        )

    def _tcp(self, dpt: int, window: int = 64240, flags: str = "SYN") -> str:
        spt = self.rng.randrange(49152, 65536)
        return f"PROTO=TCP SPT={spt} DPT={dpt} WINDOW={window} RES=0x00 {flags} URGP=0"

    def _udp(self, dpt: int, spt: int | None = None, ulen: int | None = None) -> str:
        spt = spt or self.rng.randrange(49152, 65536)
        return f"PROTO=UDP SPT={spt} DPT={dpt} LEN={ulen or self.rng.randrange(30, 90)}"

    def _user(self, e: Employee) -> str:
        r = self.rng.random()
        if r < 0.55:
            self.seen.add("emails", e.upn)
            return e.upn
        if r < 0.75:
            alias = self.rng.choice(e.aliases)
            self.seen.add("emails", alias)
            self.seen.add("aliases", alias)
            return alias
        if r < 0.95:
            self.seen.add("sam_accounts", e.sam)
            return e.domain_sam
        local, domain = e.upn.split("@")
        upn = f"{local.title()}@{domain}"
        self.seen.add("emails", upn)
        return upn

    # -- traffic ----------------------------------------------------------------
    def _web(
        self, t: datetime, e: Employee, d: Device, dst: str | None = None, dpt: int | None = None
    ) -> None:
        r = self.rng
        dst = dst or r.choices(self.web, cum_weights=self.web_cum)[0]
        dpt = dpt or (443 if r.random() < 0.88 else 80)
        blocked = r.random() < 0.02
        if blocked:
            dpt = r.choice((25, 6881, 3389, 1194))
        laptop = d.kind == "laptop"
        body = self._v4(
            d.ip, dst, 127 if laptop else 63, self._tcp(dpt, 64240 if laptop else 65535)
        )
        self._emit(
            t,
            FW1,
            "BLOCK" if blocked else "ALLOW",
            "eth1",
            "eth0",
            self._mac(FW1, "eth1", d.mac),
            body,
            self._user(e),
        )

    def _person_event(self, t: datetime, e: Employee) -> None:
        r = self.rng
        d = e.devices[0] if len(e.devices) == 1 or r.random() < 0.7 else e.devices[1]
        ttl = 127 if d.kind == "laptop" else 63
        k = r.random()
        if k < 0.60:
            self._web(t, e, d)
        elif k < 0.72:
            srv = r.choice([s for s in SERVERS if s.ports])
            body = self._v4(d.ip, srv.ip, ttl, self._tcp(r.choice(srv.ports)))
            self._emit(
                t, FW2, "ALLOW", "eth1", "eth2", self._mac(FW2, "eth1", d.mac), body, self._user(e)
            )
        elif k < 0.84:
            body = self._v4(d.ip, SERVER_BY_NAME["srv-dns01"].ip, ttl, self._udp(53))
            self._emit(t, FW2, "ALLOW", "eth1", "eth2", self._mac(FW2, "eth1", d.mac), body)
        elif k < 0.89:
            dst = r.choices(self.web, cum_weights=self.web_cum)[0]
            body = self._v4(d.ip, dst, ttl, self._udp(443))
            self._emit(
                t, FW1, "ALLOW", "eth1", "eth0", self._mac(FW1, "eth1", d.mac), body, self._user(e)
            )
        elif k < 0.92:
            dst = r.choice((SERVER_BY_NAME["srv-file01"].ip, SERVER_BY_NAME["srv-web01"].ip))
            icmp = f"PROTO=ICMP TYPE=8 CODE=0 ID={r.randrange(1, 65536)} SEQ={r.randrange(1, 9)}"
            body = self._v4(d.ip, dst, ttl, icmp, length=60)
            self._emit(t, FW2, "ALLOW", "eth1", "eth2", self._mac(FW2, "eth1", d.mac), body)
        else:
            self.seen.ip(d.ip6)
            dst = r.choice(self.web6)
            body = (
                f"SRC={d.ip6} DST={dst} LEN=80 TC=0 HOPLIMIT={ttl} "
                f"FLOWLBL={r.randrange(1 << 20)} {self._tcp(443)}"
            )
            self._emit(
                t,
                FW1,
                "ALLOW",
                "eth1",
                "eth0",
                self._mac(FW1, "eth1", d.mac, v6=True),
                body,
                self._user(e),
            )

    def _inbound_scan(self, t: datetime, src: str, dpt: int | None = None) -> None:
        r = self.rng
        dpt = dpt or r.choice(_SCAN_PORTS)
        tcp = f"PROTO=TCP SPT={r.randrange(1024, 65536)} DPT={dpt} WINDOW=1024 RES=0x00 SYN URGP=0"
        body = self._v4(src, PUBLIC_IP, r.randrange(230, 250), tcp, length=40)
        self._emit(t, FW1, "BLOCK", "eth0", "", self._mac(FW1, "eth0", self.isp_mac), body)

    def _server_out(self, t: datetime, server: str, dst: str, proto: str) -> None:
        srv = SERVER_BY_NAME[server]
        body = self._v4(srv.ip, dst, 63, proto)
        mac = self._mac(FW1, "eth2", self.server_mac[server])
        self._emit(t, FW1, "ALLOW", "eth2", "eth0", mac, body)

    def generate(self) -> None:
        r, sc = self.rng, self.sc
        n_emp = len(self.org.employees)
        for day in sc.days:
            for e in self.org.employees:
                for _ in range(r.randint(30, 48)):
                    self._person_event(work_time(day, r, 0.08), e)
            for _ in range(2 * n_emp):
                self._inbound_scan(
                    day + timedelta(seconds=r.uniform(0, 86400)), r.choice(self.scanners)
                )
            for _ in range(n_emp // 2 + 5):
                t = day + timedelta(seconds=r.uniform(0, 86400))
                self._server_out(t, "srv-dns01", r.choice(_RESOLVERS), self._udp(53, 53))
            for h in range(24):  # the firewall's own time sync, logged with the socket owner
                t = day + timedelta(hours=h, seconds=r.uniform(0, 60))
                body = self._v4(PUBLIC_IP, "194.58.200.20", 64, self._udp(123, 123, 56))
                self._emit(
                    t,
                    FW1,
                    "ALLOW",
                    "",
                    "eth0",
                    self._mac(FW1, "eth0", self.isp_mac),
                    f"{body} UID=108 GID=114",
                )
            self._apps(day)
        self._incidents()

    def _apps(self, day: datetime) -> None:
        """Telegram and TikTok on a handful of service phones, day and night."""
        r = self.rng
        for nets, devices in (
            (TELEGRAM_NETS, self.sc.telegram_devices),
            (TIKTOK_NETS, self.sc.tiktok_devices),
        ):
            for d in devices:
                owner = self.org.employees[d.owner]
                for _ in range(r.randint(6, 14)):
                    net = ipaddress.ip_network(r.choice(nets))
                    dst = str(net[r.randrange(1, net.num_addresses - 1)])
                    port = r.choice((443, 443, 443, 80, 5222)) if nets is TELEGRAM_NETS else 443
                    self._web(work_time(day, r, 0.35), owner, d, dst, port)

    def _incidents(self) -> None:
        r, sc = self.rng, self.sc
        jump = SERVER_BY_NAME["srv-jump01"]
        for _ in range(60):  # the brute force, port-forwarded to the jump host
            t = sc.brute_force_start + timedelta(seconds=r.uniform(0, 1500))
            tcp = (
                f"PROTO=TCP SPT={r.randrange(32768, 61000)} DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0"
            )
            body = self._v4(BRUTE_FORCE_IP, jump.ip, 49, tcp, length=60)
            mac = self._mac(FW1, "eth0", self.isp_mac)
            self._emit(t, FW1, "ALLOW", "eth0", "eth2", mac, body)
        for _ in range(8):
            t = sc.second_attack_start + timedelta(seconds=r.uniform(-300, 0))
            self._inbound_scan(t, "198.51.100.23", r.choice((22, 23, 3389)))
        e = sc.exfiltrator
        for _ in range(12):  # webmail sessions during the exfiltration
            t = sc.exfil_start + timedelta(seconds=r.uniform(0, 3000))
            self._web(t, e, e.devices[0], r.choice(_GMAIL), 443)

    def lines(self) -> list[str]:
        return [line for _, _, line in sorted(self.events)]

    def malformed(self, lines: list[str]) -> list[str]:
        """A truncated line, garbage, and a line with an out-of-range port."""
        r = self.rng
        with_port = [x for x in lines if " DPT=" in x]
        bad_port = r.choice(with_port)
        start = bad_port.index(" DPT=") + 5
        end = bad_port.index(" ", start)
        return [
            truncated(r.choice(lines), r),
            garbage_line(r),
            bad_port[:start] + "99999" + bad_port[end:],
        ]
