"""`loggvern demo`: a synthetic municipality's logs → ingest → a few queries, showing
purpose limitation at work (what each purpose sees, and what is refused).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from rich.console import Console

from loggvern.commands_audit import audit_report
from loggvern.demo_breakglass import CUSTODIANS, THRESHOLD, breakglass_round
from loggvern.demo_inventory import ingest_inventory
from loggvern.output import render
from pipelines.synthetic.municipality import generate_municipality
from queries.named import load_named
from queries.session import QueryError, QueryRefused, QuerySession
from queries.stats import run_stats
from schemas.policy import default_policies
from schemas.purposes import UnlawfulPurposeError
from store.cases import open_case
from store.init import init_store, signing_fingerprint
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_verify import verify_ledger
from transforms.identity import AliasDirectory

OPERATOR, ANALYST, AUDITOR = "demo-operator", "demo-analyst", "demo-auditor"

TIMEZONE = "Europe/Oslo"  # the synthetic BSD syslog headers are local time
DAYS_AGO = 6  # the synthetic logs cover two days starting this long before today


def demo_start(today: date | None = None) -> datetime:
    """Midnight UTC of the logs' first day: relative to today, so that retention (which
    drops lines already past it at ingest) never empties the demo."""
    day = (today or datetime.now(UTC).date()) - timedelta(days=DAYS_AGO)
    return datetime.combine(day, time(), tzinfo=UTC)


# (title, purpose, needs the case, named query, parameters, columns shown)
QUERIES: list[tuple[str, str, bool, str, list[str], list[str]]] = [
    ("Top blocked destinations per device", "network_administration", False,
     "top_blocked_destinations", ["per_device=1"],
     ["device", "destination", "dst_port", "blocked"]),
    ("Devices and people talking to TikTok / Telegram (seed 002)", "security_incident", True,
     "tiktok_telegram_devices", ["min_connections=5"],
     ["actor_user", "service", "connections"]),
    ("SSH brute force: bursts of failed logins by source", "security_incident", True,
     "failed_login_bursts_by_source", ["min_failures=50"],
     ["src_ip", "window_start", "failures", "accounts_tried"]),
    ("DLP: people with many sensitive matches, and where it went", "security_incident", True,
     "dlp_matches_by_pseudonym", ["min_matches=3"],
     ["actor_user", "matches", "sensitive_items", "recipients"]),
    ("TikTok / Telegram installed on service devices (MDM inventory, seed 002)",
     "security_incident", True, "tiktok_telegram_installed", [],
     ["device", "owner", "ownership", "apps", "finding"]),
]  # fmt: skip
REFUSED: list[tuple[str, str, bool, str]] = [
    ("network_administration asking for people", "network_administration", False,
     "SELECT actor_user FROM network_activity LIMIT 1"),
    ("copying the lake out", "security_incident", True,
     "COPY (SELECT * FROM authentication) TO '/tmp/loggvern-out.csv'"),
    ("reading another purpose's view", "network_administration", False,
     "SELECT * FROM security_incident.authentication"),
    ("incident work without a case", "security_incident", False, "SELECT 1"),
    ("a purpose the law does not know", "productivity", False, "SELECT 1"),
]  # fmt: skip


def run_demo(store: Path, *, employees: int = 300, console: Console | None = None) -> int:
    from loggvern.commands import ingest  # the same path `loggvern ingest` takes

    console = console or Console()
    inputs_dir = store.parent / f"{store.name}-input"
    console.print(f"[bold]1. Synthetic logs of Fjordvik kommune[/bold] → {inputs_dir}")
    start = demo_start()
    inputs = generate_municipality(inputs_dir, employees=employees, start=start)
    layout = StoreLayout(store)
    if not layout.marker.is_file():
        init_store(store, default_policies(), OPERATOR, CUSTODIANS, THRESHOLD)
        console.print(f"   initialised store {store}; ledger key {signing_fingerprint(layout)}")
    console.print("[bold]2. Ingest[/bold] (pseudonymise, minimise, tag purposes)")
    for source, path in (
        ("iptables", inputs.firewall),
        ("sshd", inputs.auth),
        ("o365-dlp", inputs.dlp),
    ):
        summary = ingest(
            store, source, [path], aliases=inputs.aliases, timezone=TIMEZONE, actor=OPERATOR
        )
        Ledger(layout, OPERATOR).checkpoint()
        ok = summary.read == summary.written + summary.rejected
        console.print(
            f"   {source:9} read={summary.read} written={summary.written} "
            f"rejected={summary.rejected} {'✓' if ok else '✗ ACCOUNTING MISMATCH'}"
        )
        for reason, count in sorted(summary.reasons.items(), key=lambda item: -item[1])[:4]:
            console.print(f"             dead letter: {count} × {reason}", style="dim")
    ingest_inventory(layout, inputs_dir, inputs.aliases, OPERATOR, console, start)
    analyst = Ledger(layout, ANALYST)
    case = open_case(
        layout, analyst, f"Alarms {start:%d %B}",
        "IDS alarms: SSH brute force on the jump host, DLP matches to private mail",
        start - timedelta(days=15),
    )  # fmt: skip
    console.print(f"[bold]3. Queries under a declared purpose[/bold] (incident {case.id})")
    suspects: list[str] = []
    for title, purpose, needs_case, name, params, columns in QUERIES:
        query = load_named(name)
        with QuerySession(layout, purpose, case.id if needs_case else None, ANALYST) as session:
            result = session.execute(query.sql, query.bind(params), named=name)
        analyst.checkpoint()
        if name == "dlp_matches_by_pseudonym":
            suspects = result.table.column("actor_user").to_pylist()
        shown = result.table.select(columns)
        render(shown, "table", console, title=f"{title}  [{purpose}: {name}]")
    stats = run_stats(layout, "logins_per_day", [], ANALYST)
    analyst.checkpoint()
    render(stats.table, "table", console, title=f"Logins per day, no purpose: k={stats.k} "
           f"({stats.suppressed} small group(s) suppressed)")  # fmt: skip
    console.print("[bold]4. What purpose limitation refuses[/bold] (each refusal is ledgered)")
    for what, purpose, needs_case, sql in REFUSED:
        try:
            with QuerySession(layout, purpose, case.id if needs_case else None, ANALYST) as s:
                s.execute(sql)
        except (QueryError, QueryRefused, UnlawfulPurposeError) as exc:
            console.print(f"   [yellow]refused[/yellow] {what}: {exc}")
        analyst.checkpoint()
    console.print("[bold]5. Break-glass[/bold]: a name for the DLP incident's top pseudonym")
    aliases = AliasDirectory.load(inputs.aliases)
    revealed = bool(suspects) and breakglass_round(
        layout, case.id, suspects[0], ANALYST, aliases, console
    )
    console.print("[bold]6. The auditor's view[/bold]")
    verified = verify_ledger(layout.ledger, signing_fingerprint(layout))
    console.print(f"   {verified.summary()}")
    report_dir = store.parent / f"{store.name}-report"
    report = audit_report(layout, report_dir, [inputs.aliases], AUDITOR)
    Ledger(layout, AUDITOR).checkpoint()
    console.print(f"   audit report: {report.status} → {report_dir / 'report.html'}")
    for problem in report.problems:
        console.print(f"   [red]problem[/red]: {problem}")
    console.print(
        f"Done. Try: loggvern query {store} --purpose network_administration "
        '"SELECT protocol, count(*) FROM network_activity GROUP BY ALL"\n'
        f"      loggvern audit verify {store}   ·   loggvern query --list"
    )
    return 0 if verified.ok and report.ok and revealed else 1
