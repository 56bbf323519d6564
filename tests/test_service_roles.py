"""Separation of duties with real OS users: the store belongs to a service account,
`loggvern serve` runs as it, and analysts, custodians, auditors and operators call it as
themselves (`runuser -u USER`). The kernel names each caller; their groups give roles.

Needs root (to create users and groups, unique per run, removed at the end); skipped
with the reason otherwise. When the venv's interpreter is not reachable by other users
(e.g. it lives under /root), the system's python of the same version runs the venv's
packages through `site.addsitedir`.
"""

from __future__ import annotations

import csv
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipelines.synthetic.municipality import generate_municipality
from schemas.datasets import IdentityKind
from service.roles import COMMAND_ROLES
from store.keys import load_keys
from store.layout import StoreLayout
from tests.service_helpers import (
    ISSUE_ROLES,
    ledger_entries,
    run_cli,
    start_service,
    stop_service,
)
from transforms.pseudonymize import pseudonym_token

TOOLS = ("useradd", "userdel", "groupadd", "groupdel", "runuser")
WHY = "DLP matches: personal numbers sent to a private mail address"
PERSON = "amir.paulsen@fjordvik.kommune.no"  # the synthetic scenario's exfiltrator
HERE = Path(__file__).resolve().parent

EXPECTED = ISSUE_ROLES
ROLE_GROUPS = {"analyst": "ana", "custodian": "cus", "auditor": "aud", "operator": "ops"}
USERS = {  # short name → role groups
    "svc": [], "ana": ["ana"], "cu1": ["cus"], "cu2": ["cus"], "both": ["ana", "cus"],
    "aud": ["aud"], "ops": ["ops"], "none": [],
}  # fmt: skip

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="needs root to create OS users and groups (CI runs these tests as root)",
    ),  # fmt: skip
    pytest.mark.skipif(
        not all(shutil.which(t) for t in TOOLS),
        reason=f"needs {', '.join(TOOLS)} to create users and run as them",
    ),  # fmt: skip
]


@dataclass
class World:
    base: Path
    prefix: str
    python: list[str] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # short → OS name
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def store(self) -> Path:
        return self.base / "srv" / "store"

    @property
    def socket(self) -> Path:
        return self.base / "run" / "loggvern.sock"

    def home(self, short: str) -> Path:
        return self.base / "home" / short

    def name(self, short: str) -> str:
        return self.users[short]

    def run_as(self, short: str, *argv: str, stdin: str | None = None,
               socket: bool = True) -> tuple[int, str, str]:  # fmt: skip
        """`loggvern ARGV` as that user (through the socket unless told otherwise)."""
        tail = ["--socket", str(self.socket)] if socket else []
        command = [*self.python, "-m", "loggvern.cli", *argv, *tail]
        return self._run(short, command, stdin, socket)

    def batch(self, short: str, calls: list[dict[str, list[str]]]) -> list[list]:
        code, out, err = self._run(short, [*self.python, str(HERE / "service_batch.py")],
                                   json.dumps(calls))  # fmt: skip
        assert code == 0, err
        return json.loads(out)

    def _run(
        self, short: str, command: list[str], stdin: str | None, socket: bool = True
    ) -> tuple[int, str, str]:
        env = ["env", "-u", "LOGGVERN_SOCKET", "PYTHONDONTWRITEBYTECODE=1"]
        if socket:
            env.append(f"LOGGVERN_SOCKET={self.socket}")
        done = subprocess.run(
            ["runuser", "-u", self.name(short), "--", *env, *command], input=stdin,
            capture_output=True, text=True, cwd=self.home(short), timeout=600,
        )  # fmt: skip
        return done.returncode, done.stdout, done.stderr


def _sh(*argv: str) -> None:
    for attempt in range(20):  # other test runs may hold the passwd lock for a moment
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode == 0:
            return
        if "lock" not in done.stderr:
            break
        time.sleep(0.2 * (attempt + 1))
    raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


def _own(path: Path, user: str, mode: int) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, mode)


def _python_for_others(world: World) -> list[str] | None:
    """An interpreter command the test users can run that loads this venv's packages."""
    candidates = [[sys.executable]]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")
    if system and os.path.realpath(system) != os.path.realpath(sys.executable):
        boot = world.base / "boot.py"
        boot.write_text(
            "import runpy, site, sys\n"
            f"site.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
            "sys.argv = sys.argv[1:]\n"
            "if sys.argv[0] == '-m':\n"
            "    sys.argv = sys.argv[1:]\n"
            "    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
            "else:\n"
            "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        )
        os.chmod(boot, 0o644)
        candidates.append([system, "-S", "-s", str(boot)])  # no system site-packages
    probe = world.base / "probe.py"
    probe.write_text("import loggvern.commands, loggvern.commands_serve, duckdb, pyarrow\n")
    os.chmod(probe, 0o644)
    for command in candidates:
        world.python = command
        if world._run("none", [*command, str(probe)], None)[0] == 0:
            return command
    return None


def _create_accounts(world: World, created: list[tuple[str, str]]) -> None:
    for short in ("ana", "cus", "aud", "ops", "cli"):
        world.groups[short] = f"{world.prefix}-{short}"
        _sh("groupadd", world.groups[short])
        created.append(("groupdel", world.groups[short]))
    for short, groups in USERS.items():
        world.users[short] = f"{world.prefix}{short}"
        extra = ",".join(world.groups[g] for g in groups)
        _sh("useradd", "-M", "-N", "-g", world.groups["cli"], *(["-G", extra] if extra else []),
            "-s", "/usr/sbin/nologin", world.users[short])  # fmt: skip
        created.insert(0, ("userdel", world.users[short]))


def _lay_out(world: World) -> None:
    os.chmod(world.base, 0o755)
    for short in USERS:
        world.home(short).mkdir(parents=True)
        _own(world.home(short), world.name(short), 0o700)
    os.chmod(world.base / "home", 0o755)
    (world.base / "srv").mkdir()
    _own(world.base / "srv", world.name("svc"), 0o755)
    (world.base / "run").mkdir()
    _own(world.base / "run", world.name("svc"), 0o750)
    os.chown(world.base / "run", -1, _gid(world.groups["cli"]))
    roles = world.base / "roles.toml"
    lines = [f'"{world.groups[g]}" = ["{role}"]' for role, g in ROLE_GROUPS.items()]
    roles.write_text("version = 1\n[groups]\n" + "\n".join(lines) + "\n")
    os.chmod(roles, 0o644)


def _gid(group: str) -> int:
    import grp

    return grp.getgrnam(group).gr_gid


def _hand_out_shares(world: World) -> None:
    """Each custodian keeps their share at home; cu2 sits with cu1 for the reveal."""
    shares = world.store / "custodians"
    for short in ("cu1", "cu2", "both"):
        target = world.home(short) / f"{short}.share"
        shutil.copyfile(shares / f"{world.name(short)}.share", target)
        _own(target, world.name(short), 0o600)
    present = world.home("cu1") / "cu2.share"
    shutil.copyfile(world.home("cu2") / "cu2.share", present)
    _own(present, world.name("cu1"), 0o600)
    shutil.rmtree(shares)


def _inputs(world: World) -> Path:
    data = world.home("ops") / "input"
    generate_municipality(data, employees=20, days=2)
    for path in [data, *data.iterdir()]:
        _own(path, world.name("ops"), 0o700 if path.is_dir() else 0o600)
    for short in USERS:  # a file everyone can send as a share, a log or a receipt
        for name, text in (("dummy.share", "not a share\n"), ("dummy.log", "junk\n")):
            _own_file(world.home(short) / name, text, world.name(short))
    return data


def _own_file(path: Path, text: str, user: str) -> None:
    path.write_text(text)
    _own(path, user, 0o600)


def _serve(world: World) -> subprocess.Popen[bytes]:
    svc = pwd.getpwnam(world.name("svc"))
    command = [*world.python, "-m", "loggvern.cli", "serve", str(world.store), "--socket",
               str(world.socket), "--roles", str(world.base / "roles.toml"),
               "--socket-group", world.groups["cli"]]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/nonexistent"}
    return start_service(
        command, world.socket, world.base / "serve.log", user=svc.pw_uid, group=svc.pw_gid,
        extra_groups=[], env=env, cwd=world.base / "srv",
    )  # fmt: skip


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    prefix = "lgv" + secrets.token_hex(3)
    w = World(Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir="/tmp")), prefix)
    created: list[tuple[str, str]] = []
    proc = None
    try:
        _create_accounts(w, created)
        _lay_out(w)
        if _python_for_others(w) is None:
            pytest.skip(f"no interpreter the test users can run loads this venv's packages "
                        f"({sys.executable} is not reachable by other users)")  # fmt: skip
        data = _inputs(w)
        custodians = ",".join(w.name(s) for s in ("cu1", "cu2", "both"))
        code, _, err = w.run_as("svc", "init", str(w.store), "--custodians", custodians,
                                "--threshold", "2", socket=False)  # fmt: skip
        assert code == 0, err
        _hand_out_shares(w)
        proc = _serve(w)
        for source, name in (("sshd", "auth.log"), ("o365-dlp", "dlp.jsonl")):
            code, _, err = w.run_as("ops", "ingest", str(w.store), "--source", source,
                                    str(data / name), "--aliases", str(data / "aliases.csv"),
                                    "--timezone", "Europe/Oslo")  # fmt: skip
            assert code == 0, err
        code, out, err = w.run_as("ana", "case", "open", str(w.store), "--title", "DLP",
                                  "--justification", WHY, "--from", "2026-11-01")  # fmt: skip
        assert code == 0 and "CASE-0001" in out, err
        yield w
    finally:
        if proc is not None:
            assert stop_service(proc) == 0, (w.base / "serve.log").read_text()[-2000:]
        for command, name in created:
            subprocess.run([command, name], capture_output=True)
        shutil.rmtree(w.base, ignore_errors=True)


def entries(world: World, **match: str) -> list[dict]:
    found = ledger_entries(world.store)
    return [e for e in found if all(e.get(k) == v for k, v in match.items())]


def test_the_store_is_the_service_accounts_alone(world):
    info = world.store.stat()
    assert pwd.getpwuid(info.st_uid).pw_name == world.name("svc")
    assert info.st_mode & 0o777 == 0o700
    probe = (
        "import json, os, sys\n"
        "seen = {}\n"
        "for what, path in [('list', sys.argv[1]), ('keys', sys.argv[1] + '/keys/pseudonym.key'),"
        " ('ledger', sys.argv[1] + '/ledger/ledger.jsonl'), ('lake', sys.argv[1] + '/lake')]:\n"
        "    try:\n"
        "        os.listdir(path) if what in ('list', 'lake') else open(path, 'rb').read()\n"
        "        seen[what] = 'read'\n"
        "    except OSError as exc:\n"
        "        seen[what] = type(exc).__name__\n"
        "print(json.dumps(seen))\n"
    )
    for short in ("ana", "aud", "cu1", "ops"):
        code, out, err = world._run(short, [world.python[0], "-c", probe, str(world.store)], None)
        assert code == 0, err
        assert set(json.loads(out).values()) == {"PermissionError"}, (short, out)


def test_direct_mode_is_the_owners_alone(world):
    code, out, err = world.run_as("ana", "case", "list", str(world.store), socket=False)
    assert code == 2 and out == ""
    assert f"refused: {world.name('ana')} may not run `case list` directly" in err
    assert f"only for the store's owner ({world.name('svc')})" in err and "--socket" in err
    code, _, err = run_cli("audit", "verify", str(world.store))  # root is not the owner either
    assert code == 2 and "refused: root may not run `audit verify` directly" in err
    code, out, err = world.run_as("svc", "stats", str(world.store), "--named", "logins_per_day",
                                  socket=False)  # fmt: skip
    assert code == 0, err
    assert entries(world, kind="stats_intent")[-1]["mode"] == "direct"


def _matrix_calls(world: World, short: str) -> list[tuple[str, dict[str, list[str]]]]:
    s, home = str(world.store), world.home(short)
    share, log = str(home / "dummy.share"), str(home / "dummy.log")
    calls = {
        "query": ["query", s, "--purpose", "network_administration", "--named",
                  "top_blocked_destinations"],
        "stats": ["stats", s, "--named", "logins_per_day"],
        "case open": ["case", "open", s, "--title", "m", "--justification", WHY],
        "case close": ["case", "close", s, "CASE-9999"],
        "case list": ["case", "list", s],
        "breakglass request": ["breakglass", "request", s, "--case", "CASE-9999", "--purpose",
                               "security_incident", "--justification", WHY, "--pseudonym",
                               "usr-k1-x", "--notify", "now"],
        "breakglass notified": ["breakglass", "notified", s, "BG-9999"],
        "breakglass list": ["breakglass", "list", s],
        "breakglass approve": ["breakglass", "approve", s, "BG-9999", "--share", share],
        "breakglass reveal": ["breakglass", "reveal", s, "BG-9999", "--share", share],
        "breakglass bundle": ["breakglass", "bundle", s, "BG-9999", "--out",
                              str(home / "m-bundle.json")],
        "breakglass record": ["breakglass", "record", s, "BG-9999", "--revealed", share],
        "audit verify": ["audit", "verify", s],
        "audit head": ["audit", "head", s],
        "audit report": ["audit", "report", s, "--out", str(home / "m-report")],
        "ingest": ["ingest", s, "--source", "sshd", log],
        "deadletter show": ["deadletter", "show", s, "--limit", "1"],
        "subject-access": ["subject-access", s, "--identity", "nobody@example.org", "--case",
                           "CASE-9999", "--out", str(home / "m-sa")],
    }  # fmt: skip
    out = [(key, {"argv": [*argv, "--socket", str(world.socket)]}) for key, argv in calls.items()]
    for key in sorted(set(COMMAND_ROLES) - set(calls)):  # not in this branch's parser (yet)
        out.append((key, {"raw": [*key.split(), "--help"]}))
    return out


@pytest.mark.parametrize("short", ["ana", "cu1", "aud", "ops", "none"])
def test_each_role_runs_exactly_its_commands(world, short):
    role = {"ana": "analyst", "cu1": "custodian", "aud": "auditor", "ops": "operator"}.get(short)
    allowed = EXPECTED.get(role or "", set())
    user = world.name(short)
    calls = _matrix_calls(world, short)
    assert {key for key, _ in calls} == set().union(*EXPECTED.values())
    results = world.batch(short, [c for _, c in calls])
    refused = set()
    for (key, _), (code, out, err) in zip(calls, results, strict=True):
        if key in allowed:
            assert "may not run" not in err, (key, err)
        else:
            held = role or "no loggvern role"
            assert code == 2 and out == "", (key, code, err)
            assert f"refused: {user} ({held}) may not run `{key}`: it needs the " in err, err
            refused.add(key)
    assert refused == set().union(*EXPECTED.values()) - allowed
    ledgered = [e["body"]["command"] for e in entries(world, kind="refusal", actor=user)
                if e["body"]["route"] == "role"]  # fmt: skip
    assert sorted(ledgered) == sorted(refused)
    mine = entries(world, actor=user)
    assert mine and {e["mode"] for e in mine} == {"socket"}


def test_work_is_ledgered_under_the_real_os_user(world):
    code, out, err = world.run_as("ana", "query", str(world.store), "--purpose",
                                  "security_incident", "--case", "CASE-0001", "--named",
                                  "dlp_matches_by_pseudonym", "--format", "csv")  # fmt: skip
    assert code == 0 and "usr-k1-" in out, err
    intent = entries(world, kind="query_intent")[-1]
    assert (intent["actor"], intent["mode"]) == (world.name("ana"), "socket")
    ingests = entries(world, kind="ingest_result", actor=world.name("ops"))
    assert len(ingests) >= 2 and {e["mode"] for e in ingests} == {"socket"}
    opened = entries(world, kind="case_opened")[0]
    assert (opened["actor"], opened["mode"]) == (world.name("ana"), "socket")


def test_as_over_the_socket_is_refused(world):
    code, out, err = world.run_as("ana", "breakglass", "list", str(world.store), "--as",
                                  world.name("aud"))  # fmt: skip
    ana = world.name("ana")
    assert code == 2 and out == "" and f"--as is not allowed over the socket; {ana} acts as" in err
    refusal = entries(world, kind="refusal", actor=ana)[-1]
    assert refusal["body"]["route"] == "actor_override"


def _pseudonym(world: World) -> tuple[str, str]:
    with open(world.home("ops") / "input" / "aliases.csv", encoding="utf-8") as fh:
        ids = {r["identifier"].lower(): r["employee_id"] for r in csv.DictReader(fh)}
    keys = load_keys(StoreLayout(world.store).keys)
    canonical = f"employee:{ids[PERSON]}"
    token = pseudonym_token(keys.pseudonym, keys.pseudonym_key_id, IdentityKind.user, canonical)
    return token, canonical


def test_requester_never_approves_even_holding_both_roles(world):
    target, identity = _pseudonym(world)
    s = str(world.store)
    code, out, err = world.run_as("both", "breakglass", "request", s, "--case", "CASE-0001",
                                  "--purpose", "security_incident", "--justification", WHY,
                                  "--pseudonym", target, "--notify", "now")  # fmt: skip
    assert code == 0, err
    request = out.strip()
    both, cu1 = world.name("both"), world.name("cu1")
    code, _, err = world.run_as("both", "breakglass", "approve", s, request, "--share",
                                str(world.home("both") / "both.share"))  # fmt: skip
    assert code == 2 and both in err, err
    refusal = entries(world, kind="refusal", actor=both)[-1]
    assert (refusal["mode"], refusal["body"]["route"]) == ("socket", "requester_as_approver")
    code, _, err = world.run_as("ana", "breakglass", "reveal", s, request, "--share",
                                str(world.home("ana") / "dummy.share"))  # fmt: skip
    assert code == 2 and "needs the custodian role" in err
    for short in ("cu1", "cu2"):
        code, _, err = world.run_as(short, "breakglass", "approve", s, request, "--share",
                                    str(world.home(short) / f"{short}.share"))  # fmt: skip
        assert code == 0, err
    code, out, err = world.run_as("cu1", "breakglass", "reveal", s, request, "--share",
                                  str(world.home("cu1") / "cu1.share"), "--share",
                                  str(world.home("cu1") / "cu2.share"))  # fmt: skip
    assert code == 0 and target in out and identity in out, err
    approvals = entries(world, kind="breakglass_approved")
    assert [e["actor"] for e in approvals[-2:]] == [cu1, world.name("cu2")]
    result = entries(world, kind="breakglass_reveal_result")[-1]
    assert (result["actor"], result["mode"], result["body"]["revealed"]) == (cu1, "socket",
                                                                            [target])  # fmt: skip
    assert identity not in (world.store / "ledger" / "ledger.jsonl").read_text()


def test_the_auditors_report_names_who_is_analyst_and_custodian(world):
    out_dir = world.home("aud") / "report"
    code, out, err = world.run_as("aud", "audit", "report", str(world.store), "--out",
                                  str(out_dir))  # fmt: skip
    assert code in (0, 1) and "wrote" in out, err
    report = out_dir / "report.json"
    assert pwd.getpwuid(report.stat().st_uid).pw_name == world.name("aud")
    roles = next(s for s in json.loads(report.read_text())["sections"] if s["id"] == "roles")
    assert [h["user"] for h in roles["analyst_and_custodian"]] == [world.name("both")]
    holders = {h["user"]: h["roles"] for h in roles["holders"]}
    assert holders[world.name("ana")] == ["analyst"] and world.name("none") not in holders
    assert roles["status"] == "warning" and world.groups["ana"] in roles["groups"]


def test_a_uid_without_a_user_name_is_refused(world):
    uid = next(u for u in range(54321, 60000) if not _has_user(u))
    client = (
        "import json, socket, struct, sys\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "s.connect(sys.argv[1])\n"
        "body = json.dumps({'argv': ['case', 'list', sys.argv[2]], 'cwd': '/'}).encode()\n"
        "s.sendall(struct.pack('>I', len(body)) + body)\n"
        "n = struct.unpack('>I', s.recv(4, socket.MSG_WAITALL))[0]\n"
        "print(s.recv(n, socket.MSG_WAITALL).decode())\n"
    )
    done = subprocess.run(
        [world.python[0], "-S", "-c", client, str(world.socket), str(world.store)],
        user=uid, group=_gid(world.groups["cli"]), extra_groups=[], capture_output=True,
        text=True, cwd="/", timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["exit_code"] == 2 and f"uid {uid} has no user name" in answer["stderr"]
    refusal = entries(world, kind="refusal", actor=f"uid:{uid}")[-1]
    assert (refusal["mode"], refusal["body"]["route"]) == ("socket", "unknown_user")


def _has_user(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False
