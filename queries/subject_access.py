"""Subject access (GDPR art. 15): what the store holds about one employee, and every
break-glass reveal that named them. Only pseudonyms are stored, so an operator runs it for
the employee inside an open case; it turns a name into pseudonyms (alias directory + HMAC
key) and is ledgered with the case and those pseudonyms. The name goes only into the
report for the employee, outside the store: never the ledger, the lake or an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from pydantic import BaseModel

from schemas.datasets import DATASETS, ColumnSpec, IdentityKind
from schemas.purposes import Purpose
from store.cases import require_open_case
from store.keys import KeyRing, load_keys
from store.layout import StoreLayout
from store.ledger import Ledger
from store.ledger_entry import EntryKind, LedgerEntry
from transforms.identity import AliasDirectory, normalize_identifier
from transforms.pseudonymize import pseudonym_token

REPORT_JSON, REPORT_TEXT = "subject-access.json", "subject-access.txt"


class SubjectAccessError(ValueError):
    """A subject access request is refused (never names the identity)."""


class DatasetEvents(BaseModel):
    dataset: str
    purpose: str
    events: int  # rows; a record kept for both purposes is stored (and counted) under each
    first: datetime | None
    last: datetime | None


class Reveal(BaseModel):
    request: str | None
    revealed_at: str
    revealed_by: str | None  # who ran the reveal
    requested_by: str | None
    custodians: list[str]  # custodians present at the reveal
    case: str | None
    purpose: str | None
    justification: str | None
    where: str | None  # "store" or "bundle"
    pseudonyms: list[str]  # which of the person's pseudonyms were revealed


class SubjectAccessReport(BaseModel):
    identity: str  # as given by the operator: the report is for the employee
    known_employee: bool
    pseudonyms: list[str]
    case: str
    generated_by: str
    generated_at: datetime
    events: list[DatasetEvents]
    reveals: list[Reveal]


def key_periods(keys: KeyRing) -> list[tuple[str, bytes]]:
    """(key id, key) of every live pseudonym key period: the person has one pseudonym per
    period. A destroyed period's pseudonyms can no longer be linked to anyone."""
    return list(keys.pseudonym_keys.items())


def person_pseudonyms(
    identity: str, keys: KeyRing, aliases: AliasDirectory
) -> tuple[list[str], bool]:
    """The person's user pseudonyms and whether the alias directory knows them.

    An e-mail address also names its OneDrive personal site (`a_b_example_no`); with a
    directory entry both map to one employee, without one the segment is its own token."""
    norm = normalize_identifier(identity)
    segment = [norm.replace("@", "_").replace(".", "_")] if "@" in norm else []
    canonicals = dict(aliases.canonical(form) for form in [identity, *segment])  # → known
    periods = key_periods(keys)
    tokens = [pseudonym_token(k, i, IdentityKind.user, c) for i, k in periods for c in canonicals]
    return list(dict.fromkeys(tokens)), any(canonicals.values())


def _match(col: ColumnSpec, sql_type: str) -> str:
    name = '"' + col.name + '"'
    if sql_type.endswith("[]"):
        return f"list_has_any({name}, $p)"
    if col.url:
        return f"list_contains($p, regexp_extract({name}, '/personal/([^/?#]+)$', 1))"
    return f"list_contains($p, CAST({name} AS VARCHAR))"


def count_events(layout: StoreLayout, pseudonyms: list[str]) -> list[DatasetEvents]:
    """Rows per dataset × purpose where any person column holds one of the pseudonyms."""
    found: list[DatasetEvents] = []
    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    scan = "read_parquet($f, union_by_name = true, hive_partitioning = false)"
    for spec in DATASETS.values():
        people = [c for c in spec.columns if c.identity is IdentityKind.user]
        for purpose in Purpose:
            part = layout.partition_dir(spec.name, purpose.value)
            files = sorted(str(p) for p in part.glob("date=*/*.parquet"))
            if not files:
                continue
            rel = con.sql(f"SELECT * FROM {scan} LIMIT 0", params={"f": files})
            present = {n: str(t) for n, t in zip(rel.columns, rel.types, strict=True)}
            tests = [_match(c, present[c.name]) for c in people if c.name in present]
            if not tests:
                continue
            query = f"SELECT count(*), min(time), max(time) FROM {scan} WHERE {' OR '.join(tests)}"
            n, first, last = con.sql(query, params={"f": files, "p": pseudonyms}).fetchall()[0]
            if n:
                found.append(DatasetEvents(dataset=spec.name, purpose=purpose.value, events=n,
                                           first=first, last=last))  # fmt: skip
    con.close()
    return found


def find_reveals(entries: Iterable[LedgerEntry], pseudonyms: list[str]) -> list[Reveal]:
    """Every successful break-glass reveal whose revealed pseudonyms include the person's."""
    mine = set(pseudonyms)
    requests: dict[str, dict] = {}
    intents: dict[int, LedgerEntry] = {}
    found: list[Reveal] = []
    for entry in entries:
        body = entry.body
        if entry.kind == EntryKind.BREAKGLASS_REQUESTED:
            request = body.get("request") or {}
            requests[str(request.get("id"))] = request
        elif entry.kind == EntryKind.BREAKGLASS_REVEAL_INTENT:
            intents[entry.seq] = entry
        elif entry.kind == EntryKind.BREAKGLASS_REVEAL_RESULT and body.get("outcome") == "ok":
            hit = [p for p in body.get("revealed") or [] if p in mine]
            if not hit:
                continue
            intent = intents.get(entry.ref) if entry.ref is not None else None
            ib = intent.body if intent else {}
            rid = body.get("request") or ib.get("request")
            req = requests.get(str(rid), {})
            found.append(Reveal(
                request=rid, revealed_at=entry.time, revealed_by=intent and intent.actor,
                requested_by=req.get("requested_by"), custodians=ib.get("custodians") or [],
                case=ib.get("case") or req.get("case"), where=body.get("where") or ib.get("where"),
                purpose=ib.get("purpose") or req.get("purpose"),
                justification=req.get("justification"), pseudonyms=sorted(set(hit)),
            ))  # fmt: skip
    return found


def subject_access(
    layout: StoreLayout, identity: str, case_id: str, out_dir: Path, actor: str,
    aliases_path: Path | None = None,
) -> SubjectAccessReport:  # fmt: skip
    """Find the person's events and reveals, ledgered with the case; write the reports."""
    layout.require()
    require_open_case(layout, case_id)
    if out_dir.resolve().is_relative_to(layout.root.resolve()):
        raise SubjectAccessError("--out is inside the store; identities never go into the store")
    if not normalize_identifier(identity):
        raise SubjectAccessError("--identity is empty")
    aliases = AliasDirectory.load(aliases_path) if aliases_path else AliasDirectory()
    pseudonyms, known = person_pseudonyms(identity, load_keys(layout.keys), aliases)
    ledger = Ledger(layout, actor)
    kinds = (EntryKind.SUBJECT_ACCESS_INTENT, EntryKind.SUBJECT_ACCESS_RESULT)
    with ledger.action(*kinds, {"case": case_id, "pseudonyms": pseudonyms}) as outcome:
        report = SubjectAccessReport(
            identity=identity, known_employee=known, pseudonyms=pseudonyms, case=case_id,
            generated_by=actor, generated_at=datetime.now(UTC),
            events=count_events(layout, pseudonyms),
            reveals=find_reveals(ledger.entries(), pseudonyms),
        )  # fmt: skip
        write_report(report, out_dir)
        outcome.fields.update(
            datasets=len({e.dataset for e in report.events}),
            events=sum(e.events for e in report.events), reveals=len(report.reveals),
        )  # fmt: skip
    return report


def write_report(report: SubjectAccessReport, out_dir: Path) -> None:
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, text in ((REPORT_JSON, report.model_dump_json(indent=2) + "\n"),
                       (REPORT_TEXT, render_text(report))):  # fmt: skip
        fd = os.open(out_dir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def render_text(report: SubjectAccessReport) -> str:
    """The readable report for the employee."""
    known = "found in" if report.known_employee else "not found in"
    lines = [
        "Subject access report (GDPR article 15)",
        f"Person: {report.identity} ({known} the alias directory)",
        f"Prepared by {report.generated_by} on {_when(report.generated_at)}, case {report.case}",
        "Stored under the pseudonym(s): " + ", ".join(report.pseudonyms),
        "\nStored events (a record kept for both purposes is counted under each):",
        *[f"  {e.dataset} / {e.purpose}: {e.events} event(s), {_when(e.first)} to {_when(e.last)}"
          for e in report.events],
        *(["  none"] if not report.events else []),
        "\nRe-identifications (break-glass reveals that included you):",
        *[f"  {r.revealed_at}: request {r.request}, case {r.case}, purpose {r.purpose}\n"
          f"    requested by {r.requested_by}; revealed by {r.revealed_by} with custodians "
          f"{', '.join(r.custodians) or '-'} ({r.where})\n    justification: {r.justification}"
          for r in report.reveals],
        *(["  none"] if not report.reveals else []),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"
