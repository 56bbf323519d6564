"""auth.log from the municipality's Linux servers: OpenSSH, PAM, sudo and cron.

Some servers log classic BSD headers, others rsyslog's RFC 3339 timestamps (one with
its FQDN). Besides the administrators' daily work it holds what a security analyst
looks for: an SSH brute force from a TEST-NET address, a second short attack,
employees who mistype their password, and passwords typed into the user name prompt
(the reason a raw auth.log is sensitive).
"""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta

from pipelines.synthetic.logkit import (
    Seen,
    bsd_header,
    garbage_line,
    rfc3339_header,
    truncated,
    work_time,
)
from pipelines.synthetic.org import SERVER_BY_NAME, SERVERS, Employee, Organisation, Server
from pipelines.synthetic.scenario import BRUTE_FORCE_IP, SECOND_ATTACKER_IP, Scenario, at

SSH_SERVERS = tuple(s for s in SERVERS if s.name != "srv-print01")
SUDO_COMMANDS = (
    "/usr/bin/systemctl restart nginx",
    "/usr/bin/systemctl status postgresql",
    "/usr/bin/journalctl -u ssh --since today",
    "/usr/bin/apt-get upgrade -y",
    "/usr/bin/tail -n 200 /var/log/syslog",
    "/usr/bin/vim /etc/nginx/sites-enabled/intranett.conf",
    "/usr/sbin/ufw status verbose",
    "/usr/bin/df -h",
)
BOT_USERS = (
    "root",
    "admin",
    "oracle",
    "postgres",
    "ubuntu",
    "test",
    "user",
    "git",
    "ftpuser",
    "support",
    "guest",
    "deploy",
    "administrator",
    "backup",
    "nagios",
)
# Passwords typed into the user name prompt (combo lists, or an employee's slip).
ATTACK_SECRETS = ("Fjordvik#123", "Vinter2025!")
EMPLOYEE_SECRETS = ("Sommer2024!", "Passord123!", "Hjemme#2026")


class AuthWriter:
    def __init__(self, org: Organisation, scenario: Scenario, rng: random.Random, seen: Seen):
        self.org, self.sc, self.rng, self.seen = org, scenario, rng, seen
        self.events: list[tuple[datetime, int, str]] = []
        self.session_id = 100
        self.fingerprints: dict[int, str] = {}
        others = [e for e in org.employees if not e.admin and e is not scenario.exfiltrator]
        n_power = min(len(others), max(1, len(org.employees) // 50))  # GIS, web editors
        self.ssh_users = [e for e in org.employees if e.admin] + rng.sample(others, n_power)

    def _emit(self, t: datetime, srv: Server, proc: str, pid: int | None, *msgs: str) -> None:
        header = rfc3339_header(t, srv.log_host) if srv.rfc3339 else bsd_header(t, srv.log_host)
        self.seen.add("host_names", srv.log_host)
        tag = f"{proc}[{pid}]" if pid is not None else proc
        for msg in msgs:
            self.events.append((t, len(self.events), f"{header} {tag}: {msg}"))

    def _fingerprint(self, e: Employee) -> str:
        if e.index not in self.fingerprints:
            digest = base64.b64encode(self.rng.randbytes(32)).decode().rstrip("=")
            kind = "ED25519" if self.rng.random() < 0.7 else "RSA"
            self.fingerprints[e.index] = f"{kind} SHA256:{digest}"
        return self.fingerprints[e.index]

    def _source(self, e: Employee) -> str:
        ip = e.devices[0].ip
        self.seen.ip(ip)
        return ip

    def session(self, t: datetime, e: Employee, srv: Server, src: str, method: str) -> None:
        r, sam = self.rng, e.sam
        pid, port = r.randrange(1000, 65000), r.randrange(49152, 65536)
        self.seen.add("sam_accounts", sam)
        accepted = f"Accepted {method} for {sam} from {src} port {port} ssh2"
        if method == "publickey":
            fp = self._fingerprint(e)
            self.seen.add("key_fingerprints", fp.split(" ")[1])
            accepted += f": {fp}"
        opened = f"session opened for user {sam}(uid={e.uid}) by (uid=0)"
        self._emit(t, srv, "sshd", pid, accepted, f"pam_unix(sshd:session): {opened}")
        self.session_id += 1
        self._emit(t, srv, "systemd-logind", 612, f"New session {self.session_id} of user {sam}.")
        end = t + timedelta(minutes=r.uniform(2, 90))
        for _ in range(r.randint(0, 3) if e.admin else 0):
            ts = t + (end - t) * r.random()
            pwd = r.choice((f"/home/{sam}", "/var/log", "/etc/nginx", f"/home/{sam}"))
            tty, owner = f"pts/{r.randrange(4)}", f"{sam}(uid={e.uid})"
            self._emit(
                ts,
                srv,
                "sudo",
                None,
                f"{sam} : TTY={tty} ; PWD={pwd} ; USER=root ; COMMAND={r.choice(SUDO_COMMANDS)}",
                f"pam_unix(sudo:session): session opened for user root(uid=0) by {owner}",
            )
            ts += timedelta(seconds=r.uniform(1, 30))
            self._emit(
                ts, srv, "sudo", None, "pam_unix(sudo:session): session closed for user root"
            )
        self._emit(
            end,
            srv,
            "sshd",
            pid,
            f"Received disconnect from {src} port {port}:11: disconnected by user",
            f"Disconnected from user {sam} {src} port {port}",
            f"pam_unix(sshd:session): session closed for user {sam}",
        )
        logout = f"Session {self.session_id} logged out. Waiting for processes to exit."
        self._emit(end, srv, "systemd-logind", 612, logout)

    def _failed_then_ok(self, t: datetime, e: Employee, srv: Server, user: str) -> None:
        """`user` is the account typed: the person's sam, or a password in the wrong field.
        This server resolves client names (UseDNS), so PAM names the device."""
        r = self.rng
        src, dev = self._source(e), e.devices[0]
        pid, port = r.randrange(1000, 65000), r.randrange(49152, 65536)
        self.seen.add("device_names", dev.name)
        rhost = f"logname= uid=0 euid=0 tty=ssh ruser= rhost={dev.fqdn}"
        if user != e.sam:
            self.seen.add("mistyped_secrets", user)
            who = f"invalid user {user}"
            self._emit(
                t,
                srv,
                "sshd",
                pid,
                f"Invalid user {user} from {src} port {port}",
                "pam_unix(sshd:auth): check pass; user unknown",
                f"pam_unix(sshd:auth): authentication failure; {rhost}",
            )
        else:
            self.seen.add("sam_accounts", user)
            who = user
            failure = f"pam_unix(sshd:auth): authentication failure; {rhost}  user={user}"
            self._emit(t, srv, "sshd", pid, failure)
        t2 = t + timedelta(seconds=r.uniform(2, 6))
        closed = who if user != e.sam else f"authenticating user {user}"
        self._emit(
            t2,
            srv,
            "sshd",
            pid,
            f"Failed password for {who} from {src} port {port} ssh2",
            f"Connection closed by {closed} {src} port {port} [preauth]",
        )
        self.session(t2 + timedelta(seconds=r.uniform(5, 40)), e, srv, src, "password")

    def _attack(self, start: datetime, src: str, attempts: int, users: tuple[str, ...]) -> None:
        r, jump = self.rng, SERVER_BY_NAME["srv-jump01"]
        t = start
        for _ in range(attempts):
            t += timedelta(seconds=r.expovariate(1 / 12))
            pid, port = r.randrange(1000, 65000), r.randrange(32768, 61000)
            user = r.choice(users)
            at_port = f"{src} port {port}"
            if user in ATTACK_SECRETS:
                self.seen.add("mistyped_secrets", user)
            if user == "root":
                msgs = [
                    "pam_unix(sshd:auth): authentication failure; "
                    f"logname= uid=0 euid=0 tty=ssh ruser= rhost={src}  user=root",
                    f"Failed password for root from {at_port} ssh2",
                ]
                if r.random() < 0.3:
                    msgs.append(
                        f"error: maximum authentication attempts exceeded for root from {at_port}"
                        " ssh2 [preauth]"
                    )
                msgs.append(f"Connection closed by authenticating user root {at_port} [preauth]")
            else:
                msgs = [
                    f"Invalid user {user} from {at_port}",
                    f"Failed password for invalid user {user} from {at_port} ssh2",
                    f"Disconnected from invalid user {user} {at_port} [preauth]",
                ]
            self._emit(t, jump, "sshd", pid, *msgs)

    def generate(self) -> None:
        r, sc = self.rng, self.sc
        for day in sc.days:
            for e in self.ssh_users:
                for _ in range(r.randint(2, 6) if e.admin else r.randint(0, 2)):
                    srv = r.choice(SSH_SERVERS)
                    method = "publickey" if e.admin and r.random() < 0.75 else "password"
                    self.session(work_time(day, r, 0.05), e, srv, self._source(e), method)
                if e.admin and (r.random() < 0.5 or e is self.org.admins[0]):  # from home, evenings
                    self.seen.add("home_ips", e.home_ip)
                    t = at(day, 19 + 3 * r.random())
                    self.session(t, e, SERVER_BY_NAME["srv-jump01"], e.home_ip, "publickey")
            for e in r.sample(self.ssh_users, min(2, len(self.ssh_users))):
                self._failed_then_ok(work_time(day, r, 0), e, r.choice(SSH_SERVERS), e.sam)
            for srv in SSH_SERVERS:
                for h in range(24):
                    t = day + timedelta(hours=h, minutes=17, seconds=r.uniform(0, 2))
                    pid = r.randrange(1000, 65000)
                    opened = "session opened for user root(uid=0) by (uid=0)"
                    self._emit(t, srv, "CRON", pid, f"pam_unix(cron:session): {opened}")
                    t += timedelta(seconds=r.uniform(0.1, 3))
                    self._emit(
                        t, srv, "CRON", pid, "pam_unix(cron:session): session closed for user root"
                    )
        admins = self.org.admins
        for i, secret in enumerate(EMPLOYEE_SECRETS):
            day = sc.days[i % len(sc.days)]
            e = admins[i % len(admins)]
            self._failed_then_ok(work_time(day, r, 0), e, r.choice(SSH_SERVERS), secret)
        self._attack(sc.brute_force_start, BRUTE_FORCE_IP, 130, BOT_USERS + ATTACK_SECRETS)
        self._attack(sc.second_attack_start, SECOND_ATTACKER_IP, 15, ("admin", "root", "ubuntu"))

    def lines(self) -> list[str]:
        return [line for _, _, line in sorted(self.events)]

    def malformed(self, lines: list[str]) -> list[str]:
        r = self.rng
        accepted = [x for x in lines if "Accepted " in x and " port " in x]
        src = r.choice(accepted)
        start = src.index(" port ") + 6
        end = src.index(" ", start)
        return [truncated(r.choice(lines), r), garbage_line(r), src[:start] + "99999" + src[end:]]
