"""The statement guard lets through plain reads of the session views and nothing else."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from queries.guard import CheckedStatement, EscapeRefused, check_statement

VIEWS = ("network_activity", "authentication", "data_security_finding")


def refused(sql: str) -> EscapeRefused:
    with pytest.raises(EscapeRefused) as info:
        check_statement(sql, VIEWS)
    err = info.value
    # every refusal names the views the session can read
    for view in VIEWS:
        assert view in err.message
    assert str(err) == err.message
    return err


# --- allowed --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT * FROM network_activity", {"network_activity"}),
        (
            "SELECT n.src_ip, a.user_pseudonym FROM network_activity n "
            "JOIN authentication a ON n.src_ip = a.src_ip",
            {"network_activity", "authentication"},
        ),
        (
            "WITH fails AS (SELECT * FROM authentication WHERE status = 'failure') "
            "SELECT count(*) FROM fails",
            {"authentication"},
        ),
        (
            "SELECT * FROM network_activity WHERE src_ip IN "
            "(SELECT src_ip FROM authentication WHERE status = 'failure')",
            {"network_activity", "authentication"},
        ),
        (
            "SELECT src_ip FROM network_activity UNION SELECT src_ip FROM authentication",
            {"network_activity", "authentication"},
        ),
        (
            "SELECT src_ip, row_number() OVER (PARTITION BY src_ip ORDER BY time DESC) "
            "FROM network_activity QUALIFY row_number() OVER (PARTITION BY src_ip) = 1",
            {"network_activity"},
        ),
        ("FROM data_security_finding", {"data_security_finding"}),
        ("FROM network_activity SELECT src_ip LIMIT 5", {"network_activity"}),
        ("VALUES (1, 'a'), (2, 'b')", set()),
        ("SELECT * FROM (VALUES (1), (2)) v(x)", set()),
        (
            "SELECT * FROM authentication WHERE time >= $from AND time < $to LIMIT $limit",
            {"authentication"},
        ),
        ("SELECT * FROM authentication WHERE user_pseudonym = ?", {"authentication"}),
        ('SELECT * FROM Network_Activity JOIN "AUTHENTICATION" USING (src_ip)', None),
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) FROM r",
            set(),
        ),
        # a CTE may narrow a view under the view's own name
        (
            "WITH authentication AS (SELECT * FROM authentication WHERE status = 'x') "
            "SELECT * FROM authentication",
            {"authentication"},
        ),
        ("SELECT * FROM network_activity PIVOT (count(*) FOR proto IN ('tcp', 'udp'))", None),
        ("SELECT * FROM network_activity, LATERAL (SELECT network_activity.dst_port) s", None),
        ("SELECT list_transform([1, 2], x -> x + 1), unnest([1, 2]), range(3), now()", set()),
        (
            "SELECT (SELECT max(time) FROM authentication), EXISTS (FROM data_security_finding)",
            None,
        ),
        ("SELECT 'a;b' AS s; ", set()),
    ],
)
def test_allowed(sql: str, tables: set[str] | None) -> None:
    checked = check_statement(sql, VIEWS)
    assert isinstance(checked, CheckedStatement)
    assert checked.sql == sql.strip().rstrip(";").rstrip()
    if tables is None:  # case-insensitive names, joins of two views
        assert checked.tables and checked.tables <= set(VIEWS)
    else:
        assert checked.tables == tables


def test_tables_are_the_views_canonical_names() -> None:
    checked = check_statement('SELECT * FROM NETWORK_ACTIVITY, "Authentication"', VIEWS)
    assert checked.tables == {"network_activity", "authentication"}


def test_trailing_semicolons_are_dropped() -> None:
    assert check_statement("  SELECT 1 ;; \n", VIEWS).sql == "SELECT 1"


# --- refused: statement kinds ---------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "route", "word"),
    [
        (
            "COPY (SELECT * FROM network_activity) TO 'lake/network_activity/x.parquet'",
            "copy",
            "COPY",
        ),
        ("COPY network_activity TO 'lake/x.parquet' (FORMAT parquet)", "copy", "COPY"),
        ("COPY FROM DATABASE a TO b", "copy", "COPY"),
        ("ATTACH 'catalog.duckdb' AS c (READ_ONLY)", "attach", "ATTACH"),
        ("DETACH catalog", "attach", "DETACH"),
        ("USE security_incident", "attach", "USE"),
        ("SET enable_external_access = true", "settings", "SET"),
        ("RESET allowed_directories", "settings", "RESET"),
        ("SET VARIABLE v = 1", "settings", "SET"),
        ("PRAGMA database_list", "settings", "PRAGMA"),
        ("INSTALL httpfs", "extension", "INSTALL"),
        ("LOAD httpfs", "extension", "LOAD"),
        ("CREATE TABLE x AS SELECT * FROM authentication", "statement_type", "CREATE"),
        ("CREATE MACRO m() AS 1", "statement_type", "CREATE"),
        ("INSERT INTO authentication VALUES (1)", "statement_type", "INSERT"),
        ("UPDATE authentication SET status = 'x'", "statement_type", "UPDATE"),
        ("DELETE FROM authentication", "statement_type", "DELETE"),
        ("DROP VIEW authentication", "statement_type", "DROP"),
        ("ALTER VIEW authentication RENAME TO x", "statement_type", "ALTER"),
        ("EXPLAIN SELECT * FROM authentication", "statement_type", "EXPLAIN"),
        ("EXPLAIN ANALYZE SELECT * FROM authentication", "statement_type", "EXPLAIN"),
        ("CALL duckdb_settings()", "statement_type", "CALL"),
        ("CHECKPOINT", "statement_type", "CHECKPOINT"),
        ("EXPORT DATABASE 'out'", "statement_type", "EXPORT"),
        ("IMPORT DATABASE 'in'", "statement_type", "IMPORT"),
        ("PREPARE p AS SELECT 1", "statement_type", "PREPARE"),
        ("EXECUTE p", "statement_type", "EXECUTE"),
        ("BEGIN TRANSACTION", "statement_type", "BEGIN"),
        ("VACUUM", "statement_type", "VACUUM"),
        ("PIVOT network_activity ON proto USING count(*)", "statement_type", "PIVOT"),
        # the Python client cannot even name this statement's type
        ("UPDATE EXTENSIONS", "statement_type", "UPDATE"),
    ],
)
def test_refused_statement_kinds(sql: str, route: str, word: str) -> None:
    err = refused(sql)
    assert err.route == route
    assert word in err.message
    assert "refused" in err.message


@pytest.mark.parametrize(
    "sql",
    [
        "DESCRIBE authentication",
        "SUMMARIZE authentication",
        "SHOW TABLES",
        "SHOW authentication",
        "SELECT * FROM (DESCRIBE network_activity)",
    ],
)
def test_describe_show_summarize_refused(sql: str) -> None:
    # DuckDB reports these as SELECT statements; only the syntax tree tells them apart
    assert duckdb.extract_statements(sql)[0].type == duckdb.StatementType.SELECT
    err = refused(sql)
    assert err.route == "statement_type"
    assert "DESCRIBE" in err.message


@pytest.mark.parametrize(
    ("sql", "route"),
    [
        # DuckDB 2.0 accepts these as SELECT statements: the write hides in the WITH clause
        ("WITH x AS (COPY network_activity TO 'lake/x.parquet') SELECT * FROM x", "copy"),
        ("WITH x AS (DELETE FROM authentication RETURNING *) SELECT * FROM x", "statement_type"),
        ("WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM x", "statement_type"),
        ("WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM x", "statement_type"),
    ],
)
def test_writes_hidden_in_with_refused(sql: str, route: str) -> None:
    assert duckdb.extract_statements(sql)[0].type == duckdb.StatementType.SELECT
    err = refused(sql)
    assert err.route == route
    assert "WITH" in err.message


# --- refused: files, table functions, other views -------------------------------------


@pytest.mark.parametrize(
    ("sql", "route", "word"),
    [
        (
            "SELECT * FROM read_parquet('lake/authentication/*/*.parquet')",
            "raw_file",
            "read_parquet",
        ),
        ("SELECT * FROM read_csv('x.csv')", "raw_file", "read_csv"),
        ("SELECT * FROM read_text('/etc/passwd')", "raw_file", "read_text"),
        ("SELECT * FROM read_json_auto('x.json')", "raw_file", "read_json_auto"),
        ("SELECT * FROM parquet_metadata('x.parquet')", "raw_file", "parquet_metadata"),
        ("SELECT * FROM glob('lake/**')", "raw_file", "glob"),
        ("FROM 'lake/security_incident/x.parquet'", "raw_file", "lake/security_incident/x.parquet"),
        ("SELECT * FROM 'file.parquet'", "raw_file", "file.parquet"),
        ('SELECT * FROM "s3://bucket/x"', "raw_file", "s3://bucket/x"),
        ("SELECT * FROM query('SELECT 1')", "table_function", "query"),
        ("SELECT * FROM query_table('authentication')", "table_function", "query_table"),
        ("SELECT * FROM range(10)", "table_function", "range"),
        ("SELECT * FROM duckdb_settings()", "table_function", "duckdb_settings"),
        ("SELECT * FROM duckdb_tables()", "table_function", "duckdb_tables"),
        ("SELECT * FROM security_incident.authentication", "other_view", "security_incident"),
        (
            "SELECT * FROM catalog.network_administration.network_activity",
            "other_view",
            "network_administration",
        ),
        ("SELECT * FROM main.authentication", "other_view", "qualified"),
        ("SELECT * FROM information_schema.tables", "other_view", "information_schema.tables"),
        ("SELECT * FROM pg_catalog.pg_class", "other_view", "pg_catalog.pg_class"),
        ("SELECT * FROM store_log", "other_view", "store_log"),
    ],
)
def test_refused_sources(sql: str, route: str, word: str) -> None:
    err = refused(sql)
    assert err.route == route
    assert word in err.message


def test_other_purpose_message_says_session_is_bound() -> None:
    err = refused("SELECT * FROM security_incident.authentication")
    assert "bound" in err.message and "purpose" in err.message


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM authentication WHERE user_pseudonym IN (SELECT * FROM read_parquet('x'))",
        "SELECT (SELECT count(*) FROM read_parquet('x')) AS n FROM authentication",
        "WITH raw AS (SELECT * FROM read_parquet('lake/x.parquet')) SELECT * FROM raw",
        "SELECT * FROM authentication UNION ALL SELECT * FROM read_parquet('x')",
        "SELECT * FROM authentication a JOIN read_parquet('x') r ON true",
        "SELECT * FROM (SELECT * FROM (SELECT * FROM read_parquet('x')))",
        "SELECT * FROM authentication WHERE EXISTS (SELECT 1 FROM read_parquet('x'))",
        "FROM (FROM read_parquet('x')) PIVOT (count(*) FOR status IN ('a', 'b'))",
        "UNPIVOT (FROM read_parquet('x')) ON a, b INTO NAME k VALUE v",
    ],
)
def test_read_parquet_hidden_anywhere_refused(sql: str) -> None:
    err = refused(sql)
    assert err.route == "raw_file"
    assert "read_parquet" in err.message


@pytest.mark.parametrize(
    "sql",
    [
        # DuckDB resolves each of these `b`/`o` to a catalog table, not to the CTE:
        # a CTE is visible only after its own definition (and to the recursive branch
        # of WITH RECURSIVE), and only within its own query.
        "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",
        "WITH b AS (SELECT * FROM b) SELECT * FROM b",
        "WITH RECURSIVE b(x) AS (SELECT x FROM b UNION SELECT 1) SELECT * FROM b",
        "WITH RECURSIVE a AS (SELECT * FROM b), b(x) AS (SELECT 1 UNION SELECT x FROM b) FROM a",
        "SELECT * FROM (WITH o AS (SELECT 1) SELECT * FROM o) s, o",
        "SELECT (WITH o AS (SELECT 1) SELECT 1), * FROM o",
    ],
)
def test_cte_names_are_scoped_like_duckdb(sql: str) -> None:
    err = refused(sql)
    assert err.route == "other_view"
    assert "Unknown table" in err.message


def test_cte_scoping_matches_duckdb() -> None:
    """The refusals above are real: DuckDB reads the catalog table there."""
    con = duckdb.connect()
    con.execute("CREATE TABLE b AS SELECT 42 AS x")
    assert con.sql("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a").fetchall() == [
        (42,)
    ]
    assert con.sql("WITH b AS (SELECT * FROM b) SELECT * FROM b").fetchall() == [(42,)]


# --- refused: functions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT getenv('HOME')", "getenv"),
        ("SELECT current_setting('allowed_directories')", "current_setting"),
        ("SELECT * FROM authentication WHERE status = getvariable('v')", "getvariable"),
        ("SELECT json_serialize_plan('SELECT * FROM read_parquet(''x'')')", "json_serialize_plan"),
        ("SELECT pg_get_viewdef(1)", "pg_get_viewdef"),
        ("SELECT nextval('seq')", "nextval"),
        ("SELECT write_log('x')", "write_log"),
        ("SELECT sleep_ms(100000)", "sleep_ms"),
        ("SELECT CURRENT_SETTING('threads')", "current_setting"),
        ("SELECT read_whatever('x')", "read_whatever"),
        ("SELECT system.main.abs(1)", "abs"),
        (
            "SELECT * FROM authentication WHERE status IN (SELECT current_setting('x'))",
            "current_setting",
        ),
        ("SELECT sum(1) OVER (ORDER BY current_setting('x'))", "current_setting"),
        ("SELECT 'allowed_directories'.current_setting()", "current_setting"),
    ],
)
def test_refused_functions(sql: str, name: str) -> None:
    err = refused(sql)
    assert err.route == "function"
    assert f"{name}()" in err.message


def test_builtin_macros_that_hide_a_subquery_are_refused() -> None:
    """A macro body is invisible in the syntax tree; any built-in one that queries tables
    (e.g. the system catalog) must be refused by name. Fails if DuckDB adds a new one."""
    con = duckdb.connect()
    names = {
        row[0]
        for row in con.execute(
            "SELECT function_name FROM duckdb_functions() "
            "WHERE function_type = 'macro' AND macro_definition ILIKE '%select%'"
        ).fetchall()
    }
    assert names  # format_type, pg_get_viewdef, …
    for name in names:
        err = refused(f"SELECT {name}(1, 2)")
        assert err.route == "function", name


# --- refused: shape of the input ------------------------------------------------------


def test_two_statements_refused() -> None:
    err = refused("SELECT 1; COPY network_activity TO 'lake/x.parquet'")
    assert err.route == "multiple_statements"
    assert "2 statements" in err.message


@pytest.mark.parametrize("sql", ["", "   ", " ;; ", "-- only a comment", "/* nothing */"])
def test_empty_refused(sql: str) -> None:
    assert refused(sql).route == "empty"


def test_syntax_error_refused_with_duckdb_message() -> None:
    err = refused("SELEC * FROM authentication")
    assert err.route == "syntax"
    assert 'syntax error at or near "SELEC"' in err.message
    assert "\n" not in err.message  # only DuckDB's first line


def test_invalid_text_refused() -> None:
    assert refused("SELECT '\ud800'").route == "syntax"


# --- the parser connection ------------------------------------------------------------


def _locked_session(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    lake = tmp_path / "lake"
    lake.mkdir()
    writer = duckdb.connect()
    writer.execute(f"COPY (SELECT 1 AS a) TO '{lake}/a.parquet'")
    writer.close()
    con = duckdb.connect()
    con.execute(f"CREATE TEMP VIEW authentication AS FROM read_parquet('{lake}/a.parquet')")
    con.execute("SET allowed_directories = $d", {"d": [f"{lake}/"]})
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def test_locked_session_connection_as_parser(tmp_path: Path) -> None:
    con = _locked_session(tmp_path)
    checked = check_statement("SELECT a FROM authentication", ["authentication"], parser=con)
    assert checked.tables == {"authentication"}
    # the check leaves the connection usable for running the statement
    assert con.sql(checked.sql).fetchall() == [(1,)]
    with pytest.raises(EscapeRefused) as info:
        check_statement(
            f"COPY authentication TO '{tmp_path}/lake/a.parquet'", ["authentication"], parser=con
        )
    assert info.value.route == "copy"


def test_refused_escapes_would_work_in_a_locked_session(tmp_path: Path) -> None:
    """Why the guard is needed: the locked session alone lets these through."""
    con = _locked_session(tmp_path)
    target = f"{tmp_path}/lake/a.parquet"
    for sql in (
        f"COPY (SELECT 2 AS a) TO '{target}'",
        f"WITH x AS (COPY (SELECT 2 AS a) TO '{target}') SELECT 1",
        f"FROM '{target}'",
        "SELECT current_setting('allowed_directories')",
    ):
        con.sql(sql)  # DuckDB accepts it
        with pytest.raises(EscapeRefused):
            check_statement(sql, ["authentication"])


# --- robustness -----------------------------------------------------------------------

_SQL_WORDS = st.sampled_from(
    [
        "SELECT", "FROM", "WITH", "AS", "(", ")", ",", ";", "*", "'x.parquet'", "read_parquet",
        "authentication", "network_activity", "security_incident.", "COPY", "TO", "UNION",
        "WHERE", "IN", "$p", "?", "1", "'a'", "DESCRIBE", "PIVOT", "ON", "JOIN", "RECURSIVE",
        "VALUES", "current_setting", "x", "--", "/*", "*/", "\"", ".", "INSERT", "ATTACH",
    ]
)  # fmt: skip


@given(st.text(max_size=200))
def test_random_text_only_ever_refused(sql: str) -> None:
    try:
        checked = check_statement(sql, VIEWS)
    except EscapeRefused as err:
        assert err.route and err.message
    else:
        assert checked.tables <= set(VIEWS)


@given(st.lists(_SQL_WORDS, max_size=25).map(" ".join))
def test_random_sql_words_only_ever_refused(sql: str) -> None:
    try:
        checked = check_statement(sql, VIEWS)
    except EscapeRefused as err:
        assert err.route and err.message
    else:
        assert checked.tables <= set(VIEWS)
