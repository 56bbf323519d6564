"""The demo's MDM part: an Intune device export of the same municipality (with fields
seed 003 forbids, as careless exports have them), ingested with `--source auto` so the
format is recognised by its header and the forbidden fields are dropped and counted."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console

from pipelines.synthetic.intune_inventory import write_inventory
from store.layout import StoreLayout
from store.ledger import Ledger

DEVICES_PER_EMPLOYEE = 0.5


def staff_upns(aliases: Path) -> list[str]:
    """One e-mail address per employee of the alias directory, in its order."""
    seen: dict[str, str] = {}
    with open(aliases, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if "@" in row["identifier"]:
                seen.setdefault(row["employee_id"], row["identifier"])
    return list(seen.values())


def ingest_inventory(
    layout: StoreLayout, inputs_dir: Path, aliases: Path, operator: str, console: Console,
    start: datetime,
) -> bool:  # fmt: skip
    from loggvern.commands import ingest

    staff = staff_upns(aliases)
    export = inputs_dir / "intune-devices.csv"
    count = max(4, int(len(staff) * DEVICES_PER_EMPLOYEE))
    exported = start + timedelta(days=2, hours=6)  # the morning after the logs' two days
    write_inventory(export, count, 7, "csv", staff, forbidden=True, exported=exported)
    summary = ingest(layout.root, "auto", [export], aliases=aliases, actor=operator)
    Ledger(layout, operator).checkpoint()
    ok = summary.read == summary.written + summary.rejected
    found = ", ".join(f"{n} {name}" for name, n in sorted(summary.formats.items()))
    console.print(
        f"   {'auto':9} read={summary.read} written={summary.written} "
        f"rejected={summary.rejected} {'✓' if ok else '✗ ACCOUNTING MISMATCH'} (detected: {found})"
    )
    if summary.dropped:
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(summary.dropped.items()))
        console.print(f"             dropped at the edge (seed 003): {dropped}", style="dim")
    return ok
