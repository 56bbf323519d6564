"""Named queries: vetted SQL files in queries/*.sql, each with a header saying what it
is for and which parameters it takes, so analysts run reviewed questions under the
right purpose instead of writing ad-hoc SQL.

Header lines (before the SQL):

    -- name: failed_login_bursts_by_source
    -- purpose: security_incident          (or network_administration, or statistics)
    -- description: one line; repeat the key to continue it
    -- param: min_failures integer = 10 : failures in one window to count as a burst
    -- dataset: authentication             (statistics: whose policy gives k)
    -- reads: security_incident            (statistics: whose partitions are counted)

Parameters are bound by DuckDB as `$name`, never pasted into the SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.purposes import Purpose

NAMED_DIR = Path(__file__).resolve().parent
STATISTICS = "statistics"
ParamType = Literal["integer", "number", "text", "timestamp", "date"]
_PARAM = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>\w+)(?:\s*=\s*(?P<default>[^:]*?))?\s*:\s*(?P<help>.+)$"
)


class NamedQueryError(ValueError):
    """A named query is unknown, run under the wrong purpose, or given bad parameters."""


class Param(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: ParamType
    default: str | None = None
    help: str = ""

    def describe(self) -> str:
        return f"{self.name}:{self.type}" + (
            f"={self.default}" if self.default is not None else " (required)"
        )

    def convert(self, text: str) -> Any:
        try:
            if self.type == "integer":
                return int(text)
            if self.type == "number":
                return float(text)
            if self.type == "timestamp":
                value = datetime.fromisoformat(text)
                return value if value.tzinfo else value.replace(tzinfo=UTC)
            if self.type == "date":
                return date.fromisoformat(text)
        except ValueError:
            raise NamedQueryError(
                f"parameter {self.name}: {text!r} is not of type {self.type}"
            ) from None
        return text


class NamedQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    purpose: Literal["network_administration", "security_incident", "statistics"]
    description: str
    params: tuple[Param, ...] = ()
    dataset: str | None = None
    reads: Purpose | None = None
    sql: str
    path: str

    def check_purpose(self, purpose: Purpose) -> None:
        if self.purpose == STATISTICS:
            raise NamedQueryError(f"{self.name} is a statistics query: run `loggvern stats`")
        if self.purpose != purpose.value:
            raise NamedQueryError(f"{self.name} is for {self.purpose}, not {purpose.value}")

    def bind(self, pairs: Sequence[str] | None) -> dict[str, Any]:
        """`k=v` strings → typed values for every declared parameter (defaults filled)."""
        given: dict[str, str] = {}
        for pair in pairs or ():
            key, sep, value = pair.partition("=")
            if not sep:
                raise NamedQueryError(f"--param {pair!r}: expected NAME=VALUE")
            given[key.strip()] = value.strip()
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            known = ", ".join(declared) or "none"
            raise NamedQueryError(f"{self.name}: unknown parameter(s) {unknown}; known: {known}")
        bound = {}
        for name, param in declared.items():
            text = given.get(name, param.default)
            if text is None:
                raise NamedQueryError(f"{self.name}: parameter {name} is required ({param.help})")
            bound[name] = param.convert(text)
        return bound


def parse_named(path: Path) -> NamedQuery:
    header: dict[str, Any] = {"params": [], "description": ""}
    body: list[str] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = re.match(r"^--\s*(\w+):\s*(.*)$", line) if not body else None
        if match:
            key, value = match.group(1), match.group(2).strip()
            if key == "param":
                param = _PARAM.match(value)
                if not param:
                    raise NamedQueryError(
                        f"{path}:{lineno}: bad param line (NAME TYPE [= DEFAULT] : HELP)"
                    )
                header["params"].append(param.groupdict())
            elif key == "description":
                header["description"] = (header["description"] + " " + value).strip()
            else:
                header[key] = value
        elif line.strip() or body:
            body.append(line)
    try:
        return NamedQuery(**header, sql="\n".join(body).strip().rstrip(";"), path=str(path))
    except (ValidationError, TypeError) as exc:
        raise NamedQueryError(f"{path}: invalid named query header ({exc})") from None


@cache
def named_queries(directory: Path = NAMED_DIR) -> dict[str, NamedQuery]:
    queries = {}
    for path in sorted(directory.glob("*.sql")):
        query = parse_named(path)
        queries[query.name] = query
    return queries


def load_named(name: str) -> NamedQuery:
    queries = named_queries()
    if name not in queries:
        raise NamedQueryError(f"no named query {name!r}; known: {', '.join(queries)}")
    return queries[name]
