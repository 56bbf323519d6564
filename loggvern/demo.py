"""`loggvern demo`: a synthetic municipality's logs → ingest → a few queries, showing
purpose limitation at work (what each purpose sees, and what is refused).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from loggvern.output import render
from pipelines.synthetic.municipality import generate_municipality
from queries.session import QueryError, QuerySession
from schemas.policy import default_policies
from schemas.purposes import UnlawfulPurposeError
from store.init import init_store
from store.layout import StoreLayout

TIMEZONE = "Europe/Oslo"  # the synthetic BSD syslog headers are local time
TELEGRAM_TIKTOK = (
    "(dst_ip LIKE '149.154.%' OR dst_ip LIKE '91.108.%' OR dst_ip LIKE '71.18.%' "
    "OR dst_ip LIKE '161.117.%')"
)

QUERIES: list[tuple[str, str, str | None, str]] = [
    (
        "Subnets reaching TikTok / Telegram (seed 002) by the hour (internal ones encrypted)",
        "network_administration",
        None,
        f"SELECT src_ip AS src_subnet, dst_ip AS dst_subnet, count(*) AS connections, "
        f"min(time) AS first_hour FROM network_activity WHERE {TELEGRAM_TIKTOK} "
        f"AND src_ip_internal GROUP BY ALL ORDER BY connections DESC LIMIT 8",
    ),
    (
        "Who reached TikTok / Telegram (pseudonyms, for the incident case)",
        "security_incident",
        "DEMO-1",
        f"SELECT actor_user, count(*) AS connections, count(DISTINCT src_ip) AS addresses "
        f"FROM network_activity WHERE {TELEGRAM_TIKTOK} AND actor_user IS NOT NULL "
        f"GROUP BY ALL ORDER BY connections DESC LIMIT 8",
    ),
    (
        "SSH brute force: sources with many failed logins",
        "security_incident",
        "DEMO-1",
        "SELECT src_ip, count(*) AS failures, count(DISTINCT actor_user) AS accounts_tried, "
        "min(time) AS first, max(time) AS last FROM authentication "
        "WHERE outcome = 'failure' GROUP BY src_ip HAVING count(*) >= 10 "
        "ORDER BY failures DESC LIMIT 5",
    ),
    (
        "DLP: people with many sensitive matches, and where it went",
        "security_incident",
        "DEMO-1",
        "SELECT actor_user, count(*) AS matches, sum(sensitive_count) AS items, "
        "list_distinct(flatten(list(recipients))) AS recipient_domains "
        "FROM data_security_finding GROUP BY actor_user HAVING count(*) >= 3 "
        "ORDER BY matches DESC LIMIT 5",
    ),
]


def run_demo(store: Path, *, employees: int = 300, console: Console | None = None) -> int:
    from loggvern.commands import ingest  # the same path `loggvern ingest` takes

    console = console or Console()
    inputs_dir = store.parent / f"{store.name}-input"
    console.print(f"[bold]1. Synthetic logs of Fjordvik kommune[/bold] → {inputs_dir}")
    inputs = generate_municipality(inputs_dir, employees=employees)
    layout = StoreLayout(store)
    if not layout.marker.is_file():
        init_store(store, default_policies())
        console.print(f"   initialised store {store}")
    console.print("[bold]2. Ingest[/bold] (pseudonymise, minimise, tag purposes)")
    for source, path in (
        ("iptables", inputs.firewall),
        ("sshd", inputs.auth),
        ("o365-dlp", inputs.dlp),
    ):
        summary = ingest(store, source, [path], aliases=inputs.aliases, timezone=TIMEZONE)
        ok = summary.read == summary.written + summary.rejected
        console.print(
            f"   {source:9} read={summary.read} written={summary.written} "
            f"rejected={summary.rejected} {'✓' if ok else '✗ ACCOUNTING MISMATCH'}"
        )
        for reason, count in sorted(summary.reasons.items(), key=lambda item: -item[1])[:4]:
            console.print(f"             dead letter: {count} × {reason}", style="dim")
    console.print("[bold]3. Queries under a declared purpose[/bold]")
    for title, purpose, case, sql in QUERIES:
        with QuerySession(layout, purpose, case, actor="demo") as session:
            result = session.execute(sql)
        render(result.table, "table", console, title=f"{title}  [{purpose}]")
    console.print("[bold]4. What purpose limitation refuses[/bold]")
    try:
        with QuerySession(layout, "network_administration", actor="demo") as session:
            session.execute("SELECT actor_user FROM network_activity LIMIT 1")
    except QueryError as exc:
        console.print(
            f"   [yellow]refused[/yellow] network_administration asking for people: {exc}"
        )
    try:
        QuerySession(layout, "productivity", actor="demo")
    except UnlawfulPurposeError as exc:
        console.print(f"   [yellow]refused[/yellow] {exc}")
    console.print(
        f"Done. Try: loggvern query {store} --purpose network_administration "
        '"SELECT protocol, count(*) FROM network_activity GROUP BY ALL"'
    )
    return 0
