"""Conformance over every input file of Elastic's fixtures (../shared/fixtures/elastic,
read by path): each line goes through `--source auto` detection and its format's parser,
and the fields the line itself carries are compared with Elastic's expected documents:
addresses and ports, transport, user, outcome and time. Each file must agree on at least
99% of compared fields; every line not parsed is listed with its reason.

Each parser's own test adds what needs a vendor vocabulary (action, rule names, logon
types). `CONFORMANCE` below is the table quoted in docs/formats.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests import elastic_fixtures as ef
from transforms.auto_detect import detect_lines
from transforms.parse.base import REASON, ROW, ParseContext
from transforms.parse.registry import FORMATS

# Elastic's field → our column (the first of several Elastic paths that is present wins)
COMPARED = {
    "src_ip": ("source.ip",),
    "src_port": ("source.port",),
    "dst_ip": ("destination.ip",),
    "dst_port": ("destination.port",),
    "protocol": ("network.transport",),
    "actor_user": ("source.user.name", "user.name"),
    "outcome": ("event.outcome",),
}
TRANSPORTS = {"ipv6-icmp": "icmpv6", "icmpv6": "icmpv6"}
# Fixture files whose lines no supported format claims, and why (checked, not assumed).
UNSUPPORTED = {"checkpoint/test-checkpoint-cme.log": "Check Point's own syslog format"}


def _inputs() -> list[tuple[str, str]]:
    found = []
    for path in sorted(ef.FIXTURES.glob("*/*")):
        name = path.name
        if name.endswith(("-expected.json", ".yml")) or path.parent == ef.FIXTURES:
            continue
        found.append((path.parent.name, name))
    return found


def _load(folder: str, name: str) -> ef.Fixture:
    if not name.endswith(".json"):
        return ef.load(folder, name)
    base = ef.FIXTURES / folder
    events = json.loads((base / name).read_text(encoding="utf-8"))["events"]
    lines = [e.get("event", {}).get("original") or json.dumps(e) for e in events]
    expected = json.loads((base / f"{name}-expected.json").read_text())["expected"]
    return ef.Fixture(lines, expected, "UTC")


def _reference(fx: ef.Fixture) -> datetime:
    years = [int(d["@timestamp"][:4]) for d in fx.expected if d.get("@timestamp")]
    return datetime(max(years) if years else 2026, 12, 31, 23, 59, tzinfo=UTC)


def _instant(value: datetime | str | None, line: str) -> str | None:
    """UTC to the millisecond; month-day-time only for year-less syslog lines (Elastic
    gave those the year it ran in)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return text[5:] if ef.is_year_less(line) else text


def _user(ours: str | None, theirs: str | None) -> str | None:
    """Elastic splits `DOMAIN\\user` into user.domain and user.name."""
    if ours and theirs and "\\" in ours and "\\" not in theirs:
        return ours.rsplit("\\", 1)[1]
    return ours


def conformance(folder: str, name: str) -> tuple[ef.Agreement, list[str], dict[str, int]]:
    fx = _load(folder, name)
    lines = pa.array(fx.lines, pa.string())
    formats = detect_lines(lines, list(FORMATS.values())).to_pylist()
    ctx = ParseContext(reference_time=_reference(fx), timezone=fx.timezone)
    agreement, unparsed, used = ef.Agreement(), [], {}
    for fmt_name in sorted({f for f in formats if f}):
        rows = [i for i, f in enumerate(formats) if f == fmt_name]
        used[fmt_name] = len(rows)
        result = FORMATS[fmt_name].parse(pa.array([fx.lines[i] for i in rows]), ctx)
        for reject in result.rejects.to_pylist():
            unparsed.append(f"line {rows[reject[ROW]] + 1}: {fmt_name}: {reject[REASON]}")
        for ours in result.table.to_pylist():
            i = rows[ours[ROW]]
            doc, line = fx.expected[i], fx.lines[i]
            for column, paths in COMPARED.items():
                theirs = next((ef.get(doc, p) for p in paths if ef.get(doc, p) is not None), None)
                value = ours.get(column)
                if column == "protocol":
                    theirs = TRANSPORTS.get(theirs, theirs)
                if column == "outcome" and value is None:
                    continue  # we say nothing: nothing to compare
                if column == "actor_user":
                    value = _user(value, theirs)
                agreement.check(i, column, value, theirs)
            theirs_time = doc.get("@timestamp")
            agreement.check(i, "time", _instant(ours["time"], line), _instant(theirs_time, line))
    unparsed += [f"line {i + 1}: no format recognised" for i, f in enumerate(formats) if not f]
    return agreement, unparsed, used


@pytest.mark.parametrize(("folder", "name"), _inputs())
def test_fixture_file_conforms(folder: str, name: str) -> None:
    agreement, unparsed, used = conformance(folder, name)
    key = f"{folder}/{name}"
    print(f"{key}: formats {used}; {agreement.summary()}; unparsed {len(unparsed)}")
    for line in unparsed:
        print("  ", line)
    if key in UNSUPPORTED:
        assert not used, f"{key}: expected no supported format ({UNSUPPORTED[key]})"
        return
    assert used, f"{key}: no supported format claims its lines"
    assert agreement.compared > 0
    assert agreement.ratio >= 0.99, agreement.disagreements[:20]
