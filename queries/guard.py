"""The statement guard: decides, before anything runs, whether SQL given to a query
session is one plain read of that session's views.

Why it exists: a purpose-bound session (queries/session.py) exposes a purpose's data only
through TEMP views and then locks DuckDB's configuration, but inside the allowed
directories DuckDB would still let a statement overwrite lake files (`COPY … TO`),
ATTACH database files there, or read the raw Parquet files with `read_parquet`, and a
qualified name could reach another purpose's views in the attached catalog.

The check uses DuckDB's own parser (`extract_statements` for the statement kind, the
`json_serialize_sql` function for the syntax tree), so what is checked is what would run.
It is an allow-list: exactly one SELECT; table references only by the plain name of a
session view or of a CTE in scope (with DuckDB's scoping rules); no table functions; no
query nodes other than SELECT and set operations (DuckDB 2.0 accepts INSERT, UPDATE,
DELETE and even COPY inside a WITH clause of a statement it still calls SELECT); a few
scalar functions refused. Anything the check does not recognise is refused.

Every refusal is an `EscapeRefused` with a short `route` naming the kind of escape:
"empty", "syntax", "too_complex", "multiple_statements", "copy", "attach", "settings",
"extension", "statement_type", "table_function", "raw_file", "other_view", "table_ref",
"function".
"""

from __future__ import annotations

import json
import re
import string
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import duckdb

from schemas.purposes import LAWFUL_PURPOSES


class EscapeRefused(Exception):
    """The statement could reach beyond the session's views, or could not be shown not to.

    `route` is a short category (see the module docstring); `message` says in plain English
    what was refused and why, and names the views the session can read.
    """

    def __init__(self, route: str, message: str) -> None:
        super().__init__(message)
        self.route = route
        self.message = message


@dataclass(frozen=True)
class CheckedStatement:
    sql: str  # the single statement, as given (stripped, without trailing ';')
    tables: frozenset[str]  # the session views it references


# Statement kinds other than SELECT, by route. USE is reported by DuckDB as SET, and
# IMPORT DATABASE and COPY FROM DATABASE as PRAGMA, so the leading keyword decides first.
_KEYWORD_ROUTES = {"USE": "attach", "COPY": "copy", "IMPORT": "statement_type"}
_TYPE_ROUTES = {
    "COPY": "copy",
    "COPY_DATABASE": "copy",
    "ATTACH": "attach",
    "DETACH": "attach",
    "SET": "settings",
    "VARIABLE_SET": "settings",
    "PRAGMA": "settings",
    "LOAD": "extension",
    "EXTENSION": "extension",
}
_ROUTE_REASONS = {
    "copy": "COPY reads and writes files directly, outside the session's views",
    "attach": "ATTACH, DETACH and USE change which databases and schemas the session sees",
    "settings": "SET, RESET and PRAGMA read or change the session's settings",
    "extension": "INSTALL and LOAD add code to the database engine",
    "statement_type": "only a single read-only query (SELECT, WITH …, FROM …, VALUES) is allowed",
}

# Scalar functions refused anywhere in a query (DuckDB 2.0, checked against
# duckdb_functions()). Everything that reads files is a table function there, and table
# functions are refused wholesale; names starting with "read_" are refused as well.
_REFUSED_FUNCTIONS = {
    # settings, variables and the environment
    "current_setting": "it reads the session's settings",
    "getvariable": "it reads session variables",
    "getenv": "it reads the process environment",  # CLI only in DuckDB 2.0
    # SQL given as text is bound and planned outside this check
    "json_serialize_plan": "it binds and plans SQL given as text, outside this check",
    "json_execute_serialized_sql": "it runs SQL given as text, outside this check",
    # built-in macros that query the system catalog through a hidden subquery
    "pg_get_viewdef": "it reads view definitions from the system catalog",
    "pg_get_constraintdef": "it reads the system catalog",
    "format_type": "it reads the system catalog",
    "get_block_size": "it reads database storage information",
    # sequences and indexes of the catalog
    "nextval": "it uses catalog sequences",
    "currval": "it uses catalog sequences",
    "setval": "it changes catalog sequences",
    "index_key": "it reads catalog indexes",
    # side effects
    "write_log": "it writes to the database log",
    "sleep_ms": "it stalls the session",
    "pg_sleep": "it stalls the session",
    # raw internal state
    "to_aggregate_state": "it builds internal aggregate states from raw bytes",
}
_REFUSED_FUNCTION_PREFIXES = ("read_",)

_FILE_FUNCTIONS = re.compile(r"^(read_|parquet_|glob$|sniff_csv$|iceberg_|delta_scan$)")
_FILE_NAME = re.compile(r"[/\\.:]")  # a path, a URL or a file name with an extension

_QUERY_NODES = {"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE"}
_PLAIN_TABLE_REFS = {"JOIN", "SUBQUERY", "EXPRESSION_LIST", "EMPTY", "PIVOT"}
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

_lock = threading.Lock()
_shared_parser: duckdb.DuckDBPyConnection | None = None


def _fold(name: str) -> str:
    """DuckDB compares identifiers case-insensitively; ASCII folding never over-matches."""
    return name.translate(_ASCII_LOWER)


def _default_parser() -> duckdb.DuckDBPyConnection:
    global _shared_parser
    if _shared_parser is None:
        _shared_parser = duckdb.connect(":memory:")
    return _shared_parser


def _trim(sql: str) -> str:
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def check_statement(
    sql: str,
    allowed_views: Collection[str],
    parser: duckdb.DuckDBPyConnection | None = None,
) -> CheckedStatement:
    """Return the statement and the session views it reads, or raise EscapeRefused.

    `parser` is any DuckDB connection used only to parse (never to run the query); by
    default one shared in-memory connection.
    """
    allowed = {_fold(v): v for v in allowed_views}
    hint = (
        "This session can read only the views "
        + ", ".join(sorted(allowed.values()))
        + ", by their plain names."
    )
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError:
        raise EscapeRefused("syntax", f"The query is not valid text. {hint}") from None
    text = _trim(sql)
    if not text:
        raise EscapeRefused("empty", f"The query is empty. {hint}")
    with _lock:
        con = parser if parser is not None else _default_parser()
        statements = _extract(con, sql, hint)
        if len(statements) == 0:
            raise EscapeRefused("empty", f"The query has no statement, only comments. {hint}")
        if len(statements) > 1:
            raise EscapeRefused(
                "multiple_statements",
                f"The query holds {len(statements)} statements; send exactly one. {hint}",
            )
        _check_statement_type(statements[0], hint)
        tree = _syntax_tree(con, sql, hint)
    walker = _Walker(allowed, hint)
    try:
        walker.visit(tree, frozenset())
    except RecursionError:
        raise EscapeRefused(
            "too_complex", f"The query is nested too deeply to be checked. {hint}"
        ) from None
    return CheckedStatement(text, frozenset(walker.tables))


def _extract(con: duckdb.DuckDBPyConnection, sql: str, hint: str) -> list[Any]:
    try:
        return list(con.extract_statements(sql))
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EscapeRefused("syntax", f"The query is not valid SQL: {first}. {hint}") from None
    except ValueError:  # a statement kind the Python client cannot even name
        raise EscapeRefused(
            "statement_type", f"Statement refused: {_ROUTE_REASONS['statement_type']}. {hint}"
        ) from None


def _check_statement_type(statement: Any, hint: str) -> None:
    try:
        kind = statement.type.name
    except ValueError:  # a statement kind the Python client cannot even name
        kind = "UNKNOWN"
    if kind == "SELECT":
        return
    words = re.findall(r"[A-Za-z_]+", statement.query)
    keyword = words[0].upper() if words else kind
    route = _KEYWORD_ROUTES.get(keyword) or _TYPE_ROUTES.get(kind, "statement_type")
    raise EscapeRefused(route, f"{keyword} statement refused: {_ROUTE_REASONS[route]}. {hint}")


def _syntax_tree(con: duckdb.DuckDBPyConnection, sql: str, hint: str) -> Any:
    try:
        # fetchall, not fetchone: DuckDB 2.0 refuses further work on a connection whose
        # last result was not read to the end (this may be the session's own connection)
        rows = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
        tree = json.loads(rows[0][0]) if rows else None
    except (duckdb.Error, ValueError):
        tree = None
    except RecursionError:
        raise EscapeRefused(
            "too_complex", f"The query is nested too deeply to be checked. {hint}"
        ) from None
    if not isinstance(tree, dict) or tree.get("error") is not False:
        detail = tree.get("error_message", "") if isinstance(tree, dict) else ""
        raise EscapeRefused(
            "statement_type",
            f"The query's structure could not be inspected ({detail or 'unknown reason'}), "
            f"so it is refused. {hint}",
        )
    statements = tree.get("statements")
    if not isinstance(statements, list) or len(statements) != 1:
        raise EscapeRefused("multiple_statements", f"Send exactly one statement. {hint}")
    return statements[0]


class _Walker:
    """Visits every dict and list of the syntax tree, tracking which CTE names are visible.

    DuckDB's serialized tree marks its three kinds of node by their base-class fields:
    query nodes carry "cte_map", expressions carry "class", table references carry
    "sample". Everything else is walked without further checks.
    """

    def __init__(self, allowed: dict[str, str], hint: str) -> None:
        self.allowed = allowed
        self.hint = hint
        self.tables: set[str] = set()

    def refuse(self, route: str, message: str) -> EscapeRefused:
        return EscapeRefused(route, f"{message} {self.hint}")

    def visit(self, obj: Any, scope: frozenset[str]) -> None:
        if isinstance(obj, list):
            for item in obj:
                self.visit(item, scope)
        elif isinstance(obj, dict):
            if "cte_map" in obj:
                self.query_node(obj, scope)
            elif "class" in obj:
                self.expression(obj, scope)
            elif "sample" in obj or "table_name" in obj:
                self.table_ref(obj, scope)
            else:
                for value in obj.values():
                    self.visit(value, scope)

    def query_node(self, node: dict[str, Any], scope: frozenset[str]) -> None:
        kind = node.get("type")
        if kind not in _QUERY_NODES:
            route = "copy" if kind == "COPY_QUERY_NODE" else "statement_type"
            what = str(kind).removesuffix("_QUERY_NODE").removesuffix("_NODE")
            raise self.refuse(
                route,
                f"A {what} inside the query is refused: only SELECT queries may appear, "
                "also inside WITH.",
            )
        inner = self.ctes(node["cte_map"], scope)
        recursive_name = node.get("cte_name") if kind == "RECURSIVE_CTE_NODE" else None
        for key, value in node.items():
            if key == "cte_map":
                continue
            if key == "right" and isinstance(recursive_name, str):
                # only the recursive part of WITH RECURSIVE sees the CTE itself
                self.visit(value, inner | {_fold(recursive_name)})
            else:
                self.visit(value, inner)

    def ctes(self, cte_map: Any, scope: frozenset[str]) -> frozenset[str]:
        """Visit CTE bodies in order; each sees only the CTEs before it (as in DuckDB)."""
        entries = cte_map.get("map") if isinstance(cte_map, dict) else None
        if not isinstance(entries, list):
            raise self.refuse("statement_type", "The query's WITH clause could not be read.")
        for entry in entries:
            name = entry.get("key") if isinstance(entry, dict) else None
            if not isinstance(name, str):
                raise self.refuse("statement_type", "The query's WITH clause could not be read.")
            body = entry.get("value", {})
            query = body.get("query_node") if isinstance(body, dict) else None
            if (
                isinstance(query, dict)
                and query.get("type") == "RECURSIVE_CTE_NODE"
                and _fold(str(query.get("cte_name"))) != _fold(name)
            ):
                raise self.refuse("statement_type", "The query's WITH clause could not be read.")
            self.visit(body, scope)
            scope = scope | {_fold(name)}
        return scope

    def table_ref(self, ref: dict[str, Any], scope: frozenset[str]) -> None:
        kind = ref.get("type")
        if kind == "BASE_TABLE":
            self.base_table(ref, scope)
        elif kind == "TABLE_FUNCTION":
            self.table_function(ref)
        elif kind == "SHOW_REF":
            raise self.refuse(
                "statement_type",
                "DESCRIBE, SHOW and SUMMARIZE are refused: they read the catalog rather "
                "than the session's views.",
            )
        elif kind not in _PLAIN_TABLE_REFS:
            raise self.refuse("table_ref", f"A table reference of kind {kind} is refused.")
        for value in ref.values():
            self.visit(value, scope)

    def base_table(self, ref: dict[str, Any], scope: frozenset[str]) -> None:
        name = ref.get("table_name")
        qualifiers = [q for q in (ref.get("catalog_name"), ref.get("schema_name")) if q]
        qualified = ref.get("qualified_name")
        path = qualified.get("path") if isinstance(qualified, dict) else None
        if not isinstance(name, str) or not all(isinstance(q, str) for q in qualifiers):
            raise self.refuse("table_ref", "A table reference could not be read.")
        if qualifiers or (isinstance(path, list) and len(path) > 1):
            dotted = ".".join([*qualifiers, name])
            purposes = [q for q in qualifiers if _fold(q) in LAWFUL_PURPOSES]
            if purposes:
                raise self.refuse(
                    "other_view",
                    f"{dotted} belongs to the {purposes[0]} purpose: this session is bound "
                    "to its own purpose's views and cannot read another purpose's data.",
                )
            raise self.refuse(
                "other_view", f"{dotted} is a qualified name; only plain view names are allowed."
            )
        key = _fold(name)
        if key in scope:  # a CTE of this statement shadows any table of that name
            return
        if key in self.allowed:
            self.tables.add(self.allowed[key])
            return
        if _FILE_NAME.search(name):
            raise self.refuse(
                "raw_file",
                f"Reading the file {name!r} directly is refused: it would bypass the "
                "session's purpose-bound views.",
            )
        raise self.refuse("other_view", f"Unknown table {name!r}.")

    def table_function(self, ref: dict[str, Any]) -> None:
        function = ref.get("function")
        found = function.get("function_name") if isinstance(function, dict) else None
        name = _fold(found) if isinstance(found, str) else "?"
        if _FILE_FUNCTIONS.search(name):
            raise self.refuse(
                "raw_file",
                f"{name}() reads files directly, which is refused: it would bypass the "
                "session's purpose-bound views.",
            )
        raise self.refuse(
            "table_function",
            f"The table function {name}() is refused: no table functions are allowed in "
            "FROM (use unnest(), range() and the like in the SELECT list instead).",
        )

    def expression(self, expr: dict[str, Any], scope: frozenset[str]) -> None:
        name = expr.get("function_name")
        if isinstance(name, str):
            self.function(name, expr)
        for value in expr.values():
            self.visit(value, scope)

    def function(self, name: str, expr: dict[str, Any]) -> None:
        if expr.get("schema") or expr.get("catalog"):
            raise self.refuse(
                "function", f"The qualified function call {name}() is refused; use plain names."
            )
        key = _fold(name)
        reason = _REFUSED_FUNCTIONS.get(key)
        if reason is None and key.startswith(_REFUSED_FUNCTION_PREFIXES):
            reason = "it reads files"
        if reason is not None:
            raise self.refuse("function", f"The function {name}() is refused: {reason}.")
