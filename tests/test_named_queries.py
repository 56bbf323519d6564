"""Named queries and k-anonymous statistics, on the synthetic municipality's store:
every queries/*.sql parses, passes the guard and finds what the synthetic data holds
under its declared purpose; wrong purposes and bad parameters are refused; statistics
suppress groups of fewer than k distinct people (k from the dataset's policy).
Also a smoke run of benchmarks/query_session_bench.py so it cannot rot.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loggvern import commands
from queries.guard import check_statement
from queries.named import NAMED_DIR, STATISTICS, NamedQueryError, named_queries, parse_named
from schemas.datasets import DATASETS
from schemas.lake import purpose_schema
from schemas.policy import default_policy_path, load_policy
from schemas.purposes import Purpose
from store.layout import StoreLayout
from store.ledger_entry import EntryKind
from tests.test_query_session import (
    NA,
    SI,
    TIMEZONE,
    Built,
    Run,
    build_synthetic_store,
    cli,
    entries,
    kinds,
    query,
)

ROOT = Path(__file__).resolve().parents[1]
SCENARIO_DAY = datetime(2026, 12, 1, 10, tzinfo=UTC)  # after the synthetic days


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_synthetic_store(tmp_path_factory.mktemp("named-queries"))


@pytest.fixture
def store(built: Built) -> Iterator[Path]:
    """The module's store; a pristine copy is put back at the same path afterwards."""
    yield built.root
    shutil.rmtree(built.root)
    shutil.copytree(built.pristine, built.root, symlinks=True)


@pytest.fixture(scope="module")
def scenario(built: Built) -> dict:
    return json.loads(built.inputs.identities.read_text())["scenario"]


def run_named(
    capsys: pytest.CaptureFixture[str], built: Built, name: str, *params: str, fmt: str = "csv"
) -> Run:
    """Run a named query under its declared purpose (statistics through `stats`).

    CSV by default, not JSON, so that these tests see every query's results even while
    `--format json` fails on some of them (test_json_output_of_every_named_query)."""
    declared = named_queries()[name].purpose
    extra = [*(arg for p in params for arg in ("--param", p)), "--format", fmt]
    if declared == STATISTICS:
        return cli(capsys, "stats", built.root, "--named", name, *extra)
    case = built.wide if declared == SI else None
    return cli(capsys, *query(str(built.root), "--named", name, *extra,
                              purpose=declared, case=case))  # fmt: skip


def csv_rows(run: Run) -> list[dict]:
    """Rows of `--format csv` output: integers, JSON lists, None for empty cells."""

    def value(cell: str) -> object:
        if cell == "":
            return None
        if cell.startswith("["):
            return json.loads(cell)
        return int(cell) if re.fullmatch(r"-?\d+", cell) else cell

    return [{k: value(v) for k, v in row.items()} for row in csv.DictReader(io.StringIO(run.out))]


# -- every named query ------------------------------------------------------------------


def test_every_named_query_file_parses_and_passes_the_guard() -> None:
    files = sorted(NAMED_DIR.glob("*.sql"))
    queries = named_queries()
    assert len(queries) == len(files) >= 7  # no two files share a name
    for named in queries.values():
        assert Path(named.path).stem == named.name
        assert named.description and named.sql and not named.sql.endswith(";")
        checked = check_statement(named.sql, DATASETS)
        assert checked.tables and checked.tables <= set(DATASETS)
        assert named.bind([]) == {p.name: p.convert(p.default) for p in named.params}
        if named.purpose == STATISTICS:
            assert named.dataset in DATASETS and named.reads is not None
            assert "people" in named.sql  # suppression needs the distinct people column
        else:
            assert named.dataset is None and named.reads is None


def _bursts_by_source(rows: list[dict], scenario: dict) -> None:
    brute = [r for r in rows if r["src_ip"] == scenario["brute_force_ip"]]
    assert brute and all(r["failures"] >= 10 for r in rows)
    assert max(r["accounts_tried"] for r in brute) > 1  # it tried many accounts


def _bursts_by_pseudonym(rows: list[dict], scenario: dict) -> None:
    assert rows and all(r["failures"] >= 5 for r in rows)
    assert all(r["actor_user"].startswith("usr-k1-") for r in rows)  # pseudonyms only


def _apps(rows: list[dict], scenario: dict) -> None:
    people = {
        s: {r["actor_user"] for r in rows if r["service"] == s} for s in ("TikTok", "Telegram")
    }
    assert len(people["Telegram"]) == len(scenario["telegram_device_ips"])
    assert len(people["TikTok"]) == len(scenario["tiktok_device_ips"])
    assert all(p.startswith("usr-k1-") for ps in people.values() for p in ps)


def _dlp(rows: list[dict], scenario: dict) -> None:
    top = rows[0]  # ordered by matches: the exfiltration
    assert "gmail.com" in top["recipients"] and top["actor_user"].startswith("usr-k1-")
    start, end = (datetime.fromisoformat(t) for t in scenario["exfil_window_utc"])
    assert (
        start <= datetime.fromisoformat(top["first"]) <= datetime.fromisoformat(top["last"]) <= end
    )
    assert "shan79" not in json.dumps(rows)  # the private address itself never shows


def _top_blocked(rows: list[dict], scenario: dict) -> None:
    assert rows and all(r["blocked"] >= 1 for r in rows)
    per_device: dict[str, int] = {}
    for r in rows:
        per_device[r["device"]] = per_device.get(r["device"], 0) + 1
    assert max(per_device.values()) <= 5


def _k_anonymous(rows: list[dict], scenario: dict) -> None:
    assert all(r["people"] >= 5 for r in rows)


def _logins_per_day(rows: list[dict], scenario: dict) -> None:
    _k_anonymous(rows, scenario)
    assert {r["outcome"] for r in rows} >= {"failure"} and sum(r["logins"] for r in rows) > 100


# What each named query must find in the synthetic data (every query needs an entry).
EXPECT: dict[str, Callable[[list[dict], dict], None]] = {
    "failed_login_bursts_by_source": _bursts_by_source,
    "failed_login_bursts_by_pseudonym": _bursts_by_pseudonym,
    "tiktok_telegram_devices": _apps,
    "dlp_matches_by_pseudonym": _dlp,
    "top_blocked_destinations": _top_blocked,
    "logins_per_day": _logins_per_day,
    "dlp_matches_per_workload": _k_anonymous,  # 40 people: every group is below k
}


def test_every_named_query_has_an_expectation() -> None:
    """Here on the municipality's logs, or in test_detections on planted cases."""
    from tests.test_detections import DETECTIONS

    assert set(EXPECT) | set(DETECTIONS) == set(named_queries())
    assert not set(EXPECT) & set(DETECTIONS)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_named_query_runs_under_its_purpose(
    store: Path, built: Built, scenario: dict, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    named = named_queries()[name]
    before = len(entries(store))
    run = run_named(capsys, built, name)
    assert run.code == 0, run.err
    rows = csv_rows(run)
    EXPECT[name](rows, scenario)
    new = entries(store)[before:]
    params = {p.name: str(p.convert(p.default)) for p in named.params}
    if named.purpose == STATISTICS:
        assert kinds(new) == [EntryKind.STATS_INTENT, EntryKind.STATS_RESULT, EntryKind.CHECKPOINT]
        assert new[0].body == {"named": name, "dataset": named.dataset, "k": 5, "params": params}
    else:
        assert kinds(new) == [EntryKind.QUERY_INTENT, EntryKind.QUERY_RESULT, EntryKind.CHECKPOINT]
        assert new[0].body["named"] == name and new[0].body["sql"] == named.sql
        assert new[0].body["params"] == params and new[0].body["purpose"] == named.purpose
    assert new[1].ref == new[0].seq and new[1].body["rows"] == len(rows)


def test_parameters_are_bound_and_ledgered(
    store: Path, built: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    default = csv_rows(run_named(capsys, built, "failed_login_bursts_by_source"))
    before = len(entries(store))
    run = run_named(capsys, built, "failed_login_bursts_by_source", "min_failures=50",
                    "window_minutes=60")  # fmt: skip
    assert run.code == 0, run.err
    rows = csv_rows(run)
    assert rows and all(r["failures"] >= 50 for r in rows) and len(rows) < len(default)
    intent = entries(store)[before]
    assert intent.body["params"] == {"min_failures": "50", "window_minutes": "60"}
    run = run_named(capsys, built, "dlp_matches_by_pseudonym", "from=2026-11-17T19:00:00Z")
    assert run.code == 0, run.err
    late = csv_rows(run)
    assert late and all(datetime.fromisoformat(r["first"]) >= datetime(2026, 11, 17, 19, tzinfo=UTC)
                        for r in late)  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECT))  # dlp_…: sum() → HUGEINT → Decimal
def test_json_output_of_every_named_query(
    built: Built, store: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    run = run_named(capsys, built, name, fmt="json")
    assert run.code == 0, run.err
    assert len(run.json_rows()) == len(csv_rows(run_named(capsys, built, name)))


# -- refusals ---------------------------------------------------------------------------


def _one_refusal(root: Path, before: int) -> dict:
    new = entries(root)[before:]
    assert kinds(new) == [EntryKind.REFUSAL, EntryKind.CHECKPOINT]
    return new[0].body


@pytest.mark.parametrize("name", sorted(named_queries()))
def test_named_query_under_the_wrong_purpose_is_refused(
    store: Path, built: Built, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    declared = named_queries()[name].purpose
    wrong = NA if declared != NA else SI
    before = len(entries(store))
    run = cli(capsys, *query(str(store), "--named", name, "--format", "json",
                             purpose=wrong, case=built.wide if wrong == SI else None))  # fmt: skip
    assert run.code == 2 and run.out == ""
    if declared == STATISTICS:
        assert "is a statistics query: run `loggvern stats`" in run.err
    else:
        assert f"{name} is for {declared}, not {wrong}" in run.err
    body = _one_refusal(store, before)
    assert body["command"] == "query" and body["purpose"] == wrong
    assert body["route"] == "invalid_request"


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("failed_login_bursts_by_source", ["nope=1"],
         r"unknown parameter\(s\) \['nope'\]; known: window_minutes, min_failures"),
        ("failed_login_bursts_by_source", ["min_failures=ten"],
         r"parameter min_failures: 'ten' is not of type integer"),
        ("failed_login_bursts_by_source", ["min_failures=10 OR 1=1"],
         r"parameter min_failures: '10 OR 1=1' is not of type integer"),
        ("failed_login_bursts_by_source", ["min_failures="],
         r"parameter min_failures: '' is not of type integer"),
        ("dlp_matches_by_pseudonym", ["from=yesterday"],
         r"parameter from: 'yesterday' is not of type timestamp"),
        ("failed_login_bursts_by_source", ["min_failures"],
         r"--param 'min_failures': expected NAME=VALUE"),
        ("no_such_query", [], r"no named query 'no_such_query'; known: "),
    ],
)  # fmt: skip
def test_bad_parameters_are_refused(
    store: Path,
    built: Built,
    capsys: pytest.CaptureFixture[str],
    name: str,
    params: list[str],
    message: str,
) -> None:
    before = len(entries(store))
    extra = [arg for p in params for arg in ("--param", p)]
    run = cli(capsys, *query(str(store), "--named", name, *extra, purpose=SI, case=built.wide))
    assert run.code == 2 and run.out == ""
    assert re.search(message, run.err), run.err
    assert _one_refusal(store, before)["route"] == "invalid_request"


def test_required_parameter_missing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "needs_a_source.sql"
    path.write_text(
        "-- name: needs_a_source\n-- purpose: security_incident\n"
        "-- description: failures from one source\n"
        "-- param: source text : the source address to look at\n"
        "SELECT count(*) AS n FROM authentication WHERE src_ip = $source\n"
    )
    named = parse_named(path)
    assert named.params[0].default is None
    with pytest.raises(NamedQueryError, match="parameter source is required .the source address"):
        named.bind([])
    assert named.bind(["source=203.0.113.77"]) == {"source": "203.0.113.77"}
    path.write_text("-- name: bad\n-- purpose: security_incident\n-- param: nonsense\nSELECT 1\n")
    with pytest.raises(NamedQueryError, match="bad param line"):
        parse_named(path)
    path.write_text("-- name: bad\n-- purpose: productivity\n-- description: x\nSELECT 1\n")
    with pytest.raises(NamedQueryError, match="invalid named query header"):
        parse_named(path)


def test_query_list_lists_every_named_query(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # wide enough that rich folds no cell (the console's width is fixed when it is made
    # if COLUMNS is set then, as under xdist, so the attribute is patched, not COLUMNS)
    monkeypatch.setattr(commands.out, "_width", 300)
    run = cli(capsys, "query", "--list")
    assert run.code == 0
    for named in named_queries().values():
        line = next((ln for ln in run.out.splitlines() if f" {named.name} " in ln), None)
        assert line is not None, named.name
        assert named.purpose in line
        for param in named.params:
            assert param.describe() in run.out


def test_query_list_keeps_names_whole_on_a_narrow_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(commands.out, "_width", 80)
    run = cli(capsys, "query", "--list")
    for name in named_queries():
        assert name in run.out, name


# -- statistics -------------------------------------------------------------------------


def test_stats_needs_no_purpose_and_is_ledgered(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(entries(store))
    run = cli(capsys, "stats", store, "--named", "logins_per_day", "--format", "json")
    assert run.code == 0, run.err
    rows = run.json_rows()
    found = re.search(r"k=5: (\d+) group\(s\) with fewer than 5 people suppressed", run.err)
    assert found, run.err
    intent, result, checkpoint = entries(store)[before:]
    assert intent.kind is EntryKind.STATS_INTENT and result.kind is EntryKind.STATS_RESULT
    assert checkpoint.kind is EntryKind.CHECKPOINT
    assert intent.body == {"named": "logins_per_day", "dataset": "authentication", "k": 5,
                           "params": {}}  # fmt: skip
    assert result.ref == intent.seq
    assert result.body == {"outcome": "ok", "rows": len(rows),
                           "suppressed_groups": int(found.group(1))}  # fmt: skip
    assert "purpose" not in intent.body and "sql" not in intent.body


def test_stats_refuses_a_query_that_is_not_statistics(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(entries(store))
    run = cli(capsys, "stats", store, "--named", "failed_login_bursts_by_source")
    assert run.code == 2 and run.out == ""
    assert "not a statistics query (it is for security_incident)" in run.err
    new = entries(store)[before:]
    assert new[0].kind is EntryKind.REFUSAL and new[0].body["route"] == "not_statistics"
    assert new[0].body["command"] == "stats" and new[-1].kind is EntryKind.CHECKPOINT
    assert not any(e.kind in (EntryKind.STATS_INTENT, EntryKind.QUERY_INTENT) for e in new)


def test_stats_refusal_is_ledgered_once(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = len(entries(store))
    assert cli(capsys, "stats", store, "--named", "failed_login_bursts_by_source").code == 2
    assert kinds(entries(store)[before:]) == [EntryKind.REFUSAL, EntryKind.CHECKPOINT]


def put_login_groups(root: Path, groups: dict[tuple[str, str], tuple[int, int]]) -> None:
    """Write authentication rows into the security_incident partition: for each
    (outcome, auth_method) group, `people` distinct accounts with `rows_each` rows."""
    policy = load_policy(default_policy_path("sshd"))
    schema = purpose_schema(policy, Purpose.security_incident)
    rows = []
    for (outcome, method), (people, rows_each) in groups.items():
        for person in range(people):
            for _ in range(rows_each):
                rows.append({"outcome": outcome, "auth_method": method,
                             "actor_user": f"usr-k1-{outcome}-{method}-{person:03d}"})  # fmt: skip
    n = len(rows)
    columns = {f.name: pa.nulls(n, f.type) for f in schema}
    columns["time"] = pa.array([SCENARIO_DAY] * n, schema.field("time").type)
    columns["action"] = pa.array(["ssh_login"] * n)
    for key in ("outcome", "auth_method", "actor_user"):
        columns[key] = pa.array([r[key] for r in rows])
    layout = StoreLayout(root)
    target = layout.partition_dir("authentication", Purpose.security_incident.value)
    target = target / f"date={SCENARIO_DAY:%Y-%m-%d}"
    target.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns, schema=schema), target / "test-00000-0000.parquet")


def _stats_on_day(run: Run) -> list[tuple[str, str, int, int]]:
    assert run.code == 0, run.err
    day = f"{SCENARIO_DAY:%Y-%m-%d}"
    return sorted(
        (r["outcome"], r["auth_method"], r["logins"], r["people"])
        for r in run.json_rows()
        if r["day"].startswith(day)
    )


def test_k_anonymity_boundary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "store"
    assert cli(capsys, "init", root).code == 0
    # k-1 people with many rows each (rows are not people), and exactly k people
    put_login_groups(root, {("success", "publickey"): (4, 6), ("failure", "password"): (5, 1)})
    before = len(entries(root))
    run = cli(capsys, "stats", root, "--named", "logins_per_day", "--format", "json")
    assert _stats_on_day(run) == [("failure", "password", 5, 5)]
    assert "k=5: 1 group(s) with fewer than 5 people suppressed" in run.err
    result = entries(root)[before + 1]
    assert result.body == {"outcome": "ok", "rows": 1, "suppressed_groups": 1}


def test_policy_k_anonymity_raises_k(
    tmp_path: Path, built: Built, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    assert cli(capsys, "init", root).code == 0
    put_login_groups(root, {("success", "publickey"): (6, 2), ("failure", "password"): (7, 1)})
    run = cli(capsys, "stats", root, "--named", "logins_per_day", "--format", "json")
    assert [g[3] for g in _stats_on_day(run)] == [7, 6]  # k=5: both groups
    policy = tmp_path / "sshd-k7.toml"
    text = default_policy_path("sshd").read_text()
    assert "k_anonymity" not in text
    policy.write_text(text.replace("version = 1\n", "version = 1\nk_anonymity = 7\n", 1))
    assert load_policy(policy).k_anonymity == 7
    ingested = cli(capsys, "ingest", root, "--source", "sshd", "--policy", policy,
                   built.inputs.auth, "--aliases", built.inputs.aliases,
                   "--timezone", TIMEZONE)  # fmt: skip
    assert ingested.code == 0, ingested.err
    registered = list((root / "policies" / "sshd-default").glob("*.toml"))
    assert len(registered) == 1 and "k_anonymity = 7" in registered[0].read_text()
    before = len(entries(root))
    run = cli(capsys, "stats", root, "--named", "logins_per_day", "--format", "json")
    assert _stats_on_day(run) == [("failure", "password", 7, 7)]
    assert "k=7:" in run.err
    assert all(r["people"] >= 7 for r in run.json_rows())
    intent, result = entries(root)[before : before + 2]
    assert intent.body["k"] == 7 and result.body["suppressed_groups"] >= 1


# -- the benchmark still runs -------------------------------------------------------------


def test_query_session_benchmark_smoke(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location(
        "query_session_bench", ROOT / "benchmarks" / "query_session_bench.py"
    )
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    timings = bench.main(["--rows", "3000", "--reps", "1", "--days", "2", "--files-per-day", "1"])
    assert set(timings.plain) == set(timings.session) == set(bench.QUERIES)
    assert all(v > 0 for v in [*timings.plain.values(), *timings.session.values()])
    assert timings.phases["ledger intent"] > 0 and timings.phases["guard"] > 0
    out = capsys.readouterr().out
    assert "3,000 rows" in out and "total" in out and "overhead per query" in out
