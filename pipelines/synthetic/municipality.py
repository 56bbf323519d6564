"""A synthetic Norwegian municipality, "Fjordvik kommune", writing the raw logs that
the demo, the tests and the benchmark ingest.

Real security logs of real employees cannot be used to build or show a privacy tool,
so this module writes realistic ones instead: a firewall log (netfilter/UFW kernel
lines), an auth.log (OpenSSH, PAM, sudo), Microsoft 365 DLP audit records, the alias
directory HR/AD would export, and, as ground truth for privacy tests, every plain
identity that was actually written. The output is deterministic for a given seed.

Timestamps: BSD syslog headers are in the municipality's local time (Europe/Oslo)
without a year; RFC 3339 headers carry their offset; DLP times are UTC. Parse with
`ParseContext(timezone="Europe/Oslo", reference_time=start)`.

identities.json keys: user_names (UPN local parts), emails (every address written,
in the case written, including private external ones), aliases (e-mail aliases),
display_names, sam_accounts (plain sAMAccountName; `FJORDVIK\\sam` contains it),
host_names (log hosts: fv-fw01, srv-…), device_names, internal_ips (10/8 and ULA
addresses), home_ips, mistyped_secrets (passwords typed as user names),
personal_site_segments (OneDrive URL segments), mac_addresses, key_fingerprints
(SSH `SHA256:…`), then malformed {file: broken lines inserted}, counts {file: lines,
broken ones included} and scenario (the incidents' ground truth).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipelines.synthetic.authlog import AuthWriter
from pipelines.synthetic.dlp import DlpWriter
from pipelines.synthetic.firewall import FirewallWriter
from pipelines.synthetic.logkit import Seen, insert_malformed
from pipelines.synthetic.org import Organisation, build_organisation
from pipelines.synthetic.scenario import (
    BRUTE_FORCE_IP,
    SECOND_ATTACKER_IP,
    TELEGRAM_NETS,
    TIKTOK_NETS,
    Scenario,
    make_scenario,
)


@dataclass(frozen=True)
class DemoInputs:
    firewall: Path  # iptables/netfilter kernel lines in syslog
    auth: Path  # OpenSSH/PAM/sudo auth.log
    dlp: Path  # Microsoft 365 DLP audit records, one JSON object per line
    aliases: Path  # alias directory CSV exported from HR/AD
    identities: Path  # JSON: every plain identity written into the inputs


def generate_municipality(
    out_dir: Path,
    *,
    employees: int = 300,
    days: int = 2,
    seed: int = 7,
    start: datetime = datetime(2026, 11, 16, tzinfo=UTC),
) -> DemoInputs:
    """Write firewall.log, auth.log, dlp.jsonl, aliases.csv and identities.json into
    `out_dir` for `employees` people over `days` local calendar days from `start`."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def stream(name: str) -> random.Random:  # independent, stable stream per component
        return random.Random(f"{seed}/{name}")

    org = build_organisation(employees, stream("org"))
    scenario = make_scenario(org, start, days, stream("scenario"))
    seen = Seen()
    files = {"firewall": "firewall.log", "auth": "auth.log", "dlp": "dlp.jsonl"}
    writers = {
        "firewall": FirewallWriter(org, scenario, stream("firewall"), seen),
        "auth": AuthWriter(org, scenario, stream("auth"), seen),
        "dlp": DlpWriter(org, scenario, stream("dlp"), seen),
    }
    counts: dict[str, int] = {}
    malformed: dict[str, int] = {}
    for name, writer in writers.items():
        writer.generate()
        lines = writer.lines()
        bad = writer.malformed(lines)
        lines = insert_malformed(lines, bad, stream(f"{name}/malformed"))
        _write_lines(out_dir / files[name], lines)
        counts[name], malformed[files[name]] = len(lines), len(bad)

    aliases = out_dir / "aliases.csv"
    with aliases.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("employee_id", "identifier"))
        w.writerows(org.alias_rows())

    identities = out_dir / "identities.json"
    doc: dict[str, Any] = _identities(org, seen)
    doc["malformed"] = malformed
    doc["counts"] = counts
    doc["scenario"] = _scenario_truth(scenario)
    identities.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return DemoInputs(
        firewall=out_dir / files["firewall"],
        auth=out_dir / files["auth"],
        dlp=out_dir / files["dlp"],
        aliases=aliases,
        identities=identities,
    )


def _write_lines(path: Path, lines: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines))
        f.write("\n")


def _identities(org: Organisation, seen: Seen) -> dict[str, Any]:
    doc: dict[str, Any] = seen.as_dict()
    emails = set(doc["emails"])
    # A lower-case UPN written anywhere contains its local part verbatim.
    doc["user_names"] = sorted(e.upn.split("@")[0] for e in org.employees if e.upn in emails)
    return doc


def _scenario_truth(sc: Scenario) -> dict[str, Any]:
    """Who did what, when: only values that also occur in the logs."""
    end = sc.exfil_start + timedelta(hours=1)
    return {
        "exfiltrator": sc.exfiltrator.upn,
        "private_address": sc.private_address,
        "exfil_window_utc": [sc.exfil_start.isoformat(), end.isoformat()],
        "brute_force_ip": BRUTE_FORCE_IP,
        "second_attacker_ip": SECOND_ATTACKER_IP,
        "telegram_device_ips": [d.ip for d in sc.telegram_devices],
        "tiktok_device_ips": [d.ip for d in sc.tiktok_devices],
        "telegram_nets": list(TELEGRAM_NETS),
        "tiktok_nets": list(TIKTOK_NETS),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Write the Fjordvik kommune demo logs.")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--employees", type=int, default=300)
    p.add_argument("--days", type=int, default=2)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    inputs = generate_municipality(
        args.out_dir, employees=args.employees, days=args.days, seed=args.seed
    )
    counts = json.loads(inputs.identities.read_text(encoding="utf-8"))["counts"]
    print(f"wrote {counts} to {args.out_dir} in {time.perf_counter() - t0:.2f}s")


if __name__ == "__main__":
    main()
