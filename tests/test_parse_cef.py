"""The CEF parser: header and extension escapes, keys and labelled custom strings, time
forms, Check Point's own format refused, a real ingest, robustness and throughput."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given

from tests import elastic_fixtures as ef
from tests import parser_checks as checks
from transforms.parse.base import REASON, ROW, ParseContext
from transforms.parse.cef import CEF, NOT_CEF, parse_cef
from transforms.parse.registry import FORMATS

CTX = ParseContext(reference_time=datetime(2026, 11, 20, 12, tzinfo=UTC), timezone="Europe/Oslo")
REASONS = {
    "empty line", NOT_CEF, "incomplete CEF header", "too many fields", "no event time",
    "invalid src address", "invalid dst address", "invalid port",
}  # fmt: skip
DENY, URL_BLOCK, VPN = CEF.examples
HEAD = "CEF:0|Example|Gate|1.0|{sig}|Event|{sev}|"
LINES = (DENY, URL_BLOCK, VPN)


def parse(*lines: str | None, ctx: ParseContext = CTX):
    return checks.parse_accounted(CEF, lines, ctx, REASONS)


def row(line: str, ctx: ParseContext = CTX) -> dict:
    return checks.single_row(parse(line, ctx=ctx))


def ext(text: str, sig: str = "100", sev: str = "5") -> dict:
    return row(HEAD.format(sig=sig, sev=sev) + "rt=1794812400000 " + text)


def test_firewall_deny() -> None:
    got = row(DENY)
    assert got["time"] == datetime(2026, 11, 16, 7, 1, 2, 123000, tzinfo=UTC)
    assert (got["observer"], got["event_id"], got["severity"], got["action"]) == (
        "fw-edge-2",
        "100",
        "5",
        "drop",
    )
    assert (got["src_ip"], got["src_port"], got["dst_ip"], got["dst_port"], got["protocol"]) == (
        "10.20.3.44", 51514, "198.51.100.20", 443, "tcp",
    )  # fmt: skip
    assert (got["actor_user"], got["device"], got["rule_name"]) == (
        "kari.nordmann",
        "PC-0412",
        "Block-Games",
    )
    assert (got["in_iface"], got["out_iface"], got["bytes_in"], got["bytes_out"]) == (
        "port1",
        "wan1",
        0,
        0,
    )


def test_url_block_with_escapes() -> None:
    got = row(URL_BLOCK)
    assert got["url"] == "https://games.example.com/play?level=2"  # `\=` unescaped
    assert (got["url_category"], got["action"], got["protocol"], got["observer"]) == (
        "Games",
        "drop",
        "tcp",
        None,
    )
    assert got["time"] == datetime(2026, 11, 16, 7, 5, 10, tzinfo=UTC)  # epoch milliseconds


def test_vpn_event() -> None:
    got = row(VPN)
    assert (got["observer"], got["event_id"], got["outcome"], got["vpn_tunnel"]) == (
        "vpn-gw-1", "tunnel-up", "success", "staff-ssl",
    )  # fmt: skip
    assert (got["src_ip"], got["nat_src_ip"], got["actor_user"]) == (
        "198.51.100.99",
        "10.212.134.200",
        "kari.nordmann",
    )


def test_header_escapes_and_values_with_spaces() -> None:
    got = row(
        "<134>Nov 16 08:00:00 h CEF:0|V\\|x|P\\\\|1|sig\\|7|Name \\| with pipe|High|src=10.0.0.1"
    )
    assert (got["event_id"], got["severity"], got["time"]) == (
        "sig|7",
        "high",
        datetime(2026, 11, 16, 7, tzinfo=UTC),
    )
    spaced = ext("cs1Label=Policy Name cs1=Allow all   staff  act=permit dst=10.0.0.2")
    assert (spaced["rule_name"], spaced["action"], spaced["dst_ip"]) == (
        "Allow all   staff",
        "allow",
        "10.0.0.2",
    )
    equals = ext(
        "request=http://x.example/a?b=c&d=e cat=web/proxy app=HTTP suser=C:\\\\Users\\\\kari"
    )
    assert (equals["url"], equals["event_type"], equals["app"]) == (
        "http://x.example/a?b=c&d=e",
        "web/proxy",
        "HTTP",
    )
    assert equals["actor_user"] == "C:\\Users\\kari"
    first = ext("src=10.0.0.1 src=10.0.0.9 spt=1 ")
    assert (first["src_ip"], first["src_port"]) == ("10.0.0.1", 1)  # the first occurrence wins


def test_long_keys_labels_and_ipv6() -> None:
    got = ext(
        "c6a2=2001:db8::5 c6a3=2001:db8:1::9 sourceTranslatedAddress=203.0.113.5 "
        "destinationTranslatedAddress=10.1.1.1 cs2Label=Threat Name cs2=Mirai cs3Label=session-id "
        "cs3=S-77 cs4Label=Application cs4=ssh in=10 out=20 outcome=Failure proto=17"
    )
    assert (got["src_ip"], got["dst_ip"], got["ip_version"]) == ("2001:db8::5", "2001:db8:1::9", 6)
    assert (got["nat_src_ip"], got["nat_dst_ip"], got["threat_name"], got["session_id"]) == (
        "203.0.113.5", "10.1.1.1", "Mirai", "S-77",
    )  # fmt: skip
    assert (got["app"], got["bytes_out"], got["bytes_in"], got["outcome"], got["protocol"]) == (
        "ssh", 10, 20, "failure", "udp",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("stamp", "want"),
    [
        ("rt=1794812400000", datetime(2026, 11, 16, 7, tzinfo=UTC)),
        ("rt=1794812400", datetime(2026, 11, 16, 7, tzinfo=UTC)),
        ("rt=Nov 16 2026 08:00:00", datetime(2026, 11, 16, 7, tzinfo=UTC)),  # Europe/Oslo
        ("rt=Nov 16 2026 08:00:00.250 UTC", datetime(2026, 11, 16, 8, 0, 0, 250000, tzinfo=UTC)),
        ("rt=Nov 16 08:00:00 CET", datetime(2026, 11, 16, 7, tzinfo=UTC)),
        ("rt=Dec 31 23:00:00 +0000", datetime(2025, 12, 31, 23, tzinfo=UTC)),  # last year's
        ("rt=Nov 16 2026 08:00:00 dtz=America/New_York", datetime(2026, 11, 16, 13, tzinfo=UTC)),
        ("start=2026-11-16T08:00:00+01:00", datetime(2026, 11, 16, 7, tzinfo=UTC)),
        ("rt=garbage end=2026-11-16T07:00:00Z", datetime(2026, 11, 16, 7, tzinfo=UTC)),
    ],
)
def test_time_forms(stamp: str, want: datetime) -> None:
    assert row(HEAD.format(sig=1, sev=1) + stamp + " src=10.0.0.1")["time"] == want


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (None, "empty line"),
        ("", "empty line"),
        ("hello world", NOT_CEF),
        ("CEF:x|a|b|c|d|e|f|rt=1794812400000", NOT_CEF),
        ("CEF:0|a|b|c|d|e", "incomplete CEF header"),
        ("CEF:0|a|b|c|d|e|f\\|g", "incomplete CEF header"),
        (HEAD.format(sig=1, sev=1) + "src=10.0.0.1", "no event time"),
        (HEAD.format(sig=1, sev=1) + "rt=1794812400000 src=10.0.0.300", "invalid src address"),
        (HEAD.format(sig=1, sev=1) + "rt=1794812400000 dpt=65536", "invalid port"),
        (HEAD.format(sig=1, sev=1) + "rt=1794812400000" + " a=b" * 1100, "too many fields"),
    ],
)
def test_rejected_with_fixed_reasons(line: str | None, reason: str) -> None:
    assert parse(line).rejects.column(REASON).to_pylist() == [reason]


def test_checkpoint_syslog_is_not_cef() -> None:
    """Check Point's own syslog format (`[key:"value"; ...]`) is claimed by no format here,
    and parsed as CEF each line is rejected with a fixed reason."""
    lines = ef.load("checkpoint", "test-checkpoint-cme.log").lines
    for name in ("cef", "fortigate", "panos"):
        assert FORMATS[name].detect(pa.array(lines)).to_pylist() == [False] * len(lines), name
    result = parse(*lines)
    assert result.table.num_rows == 0
    assert result.rejects.column(REASON).to_pylist() == [NOT_CEF] * len(lines)


def test_detect_claims_cef_and_nothing_else() -> None:
    others = ['date=2026-11-16 logid="1" type="utm" devname="x" msg="CEF:0|a|b|c|d|e|f|"']
    others += checks.elastic_lines(f for f in checks.ELASTIC_LOGS if f != "checkpoint")
    checks.assert_detects_only("cef", LINES, others)


def test_ingest_end_to_end(tmp_path: Path) -> None:
    lines = [*LINES, "CEF:0|a|b", "just text"]
    store, summary = checks.ingest_lines(tmp_path, "cef", lines, timezone="Europe/Oslo")
    assert (summary.written, summary.rejected) == (len(LINES), 2)
    people = ("kari.nordmann", "ola", "PC-0412", "fw-edge-2", "vpn-gw-1")
    internal = ("10.20.3.44", "10.20.3.45", "10.212.134.200", "10.20.3.")
    home = ("198.51.100.99",)  # the VPN client (outcome success): a personal address
    hidden = {"actor_user", "url", "url_category"}
    values = checks.purpose_strings(store, "network_activity", hidden)
    assert "198.51.100.20" in values["security_incident"]  # external: clear
    for purpose, found in values.items():
        assert found and not checks.plain_values(found, people, internal + home, ["kari"]), purpose


def test_every_truncation_never_raises() -> None:
    result = parse(*checks.truncations(LINES))
    assert result.table.num_rows > 0 and result.rejects.num_rows > 0


@checks.PROPERTY
@given(checks.mutated(LINES, ["|", "=", " ", "\\", "x", "\x00", "é", ""]))
def test_mutations_never_raise(lines: list[str]) -> None:
    parse(*lines)


def test_one_megabyte_lines() -> None:
    head = HEAD.format(sig=1, sev=1) + "rt=1794812400000 "
    huge = [head + "a=b " * 250_000, head + "k" * 1_000_000 + "=v", head + "\\=" * 500_000,
            "CEF:0|" + "|" * 1_000_000, head + "msg=" + "a b " * 250_000]  # fmt: skip
    result = parse(*huge, DENY)
    assert result.table.column(ROW).to_pylist()[-1] == len(huge)


def test_a_large_input_parses_whole() -> None:
    lines = pa.array([DENY.replace("51514", str(50000 + i % 9999)) for i in range(50_000)])
    result, _rate = checks.lines_per_second(parse_cef, lines, CTX)
    assert result.table.num_rows == len(lines)  # speed: benchmarks/, not here
