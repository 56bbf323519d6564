"""Helpers for conformance tests against Elastic's pipeline-test fixtures.

The fixtures (real log lines beside the documents Elastic's ingest pipelines make of them) live
outside the repository under shared/fixtures/elastic and are used by path, never copied (Elastic
License 2.0). This module loads a fixture's lines, expected documents and configured timezone,
and counts how many compared fields agree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "shared/fixtures/elastic"


@dataclass(frozen=True)
class Fixture:
    lines: list[str]
    expected: list[dict[str, Any]]
    timezone: str


def load(folder: str, name: str) -> Fixture:
    """Lines and expected documents of `<folder>/<name>`, with the timezone of its config."""
    base = FIXTURES / folder
    lines = (base / name).read_text(encoding="utf-8").splitlines()
    expected = json.loads((base / f"{name}-expected.json").read_text(encoding="utf-8"))["expected"]
    assert len(lines) == len(expected), "fixture lines and expected documents must pair up"
    return Fixture(lines, expected, _timezone(base, name))


def _timezone(base: Path, name: str) -> str:
    """`event.timezone` or a `tz_offset` from the fixture's config (the YAML is not always
    valid YAML)."""
    for config in (base / f"{name}-config.yml", base / "test-common-config.yml"):
        if config.exists():
            text = config.read_text()
            found = re.search(r"(?:event\.timezone|tz_offset)['\"]?:\s*['\"]?([^'\"\s]+)", text)
            if found:
                return found.group(1)
    return "UTC"


def get(doc: dict[str, Any], dotted: str) -> Any:
    """The value at a dotted ECS path (`source.ip`), or None."""
    value: Any = doc
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def is_year_less(line: str) -> bool:
    """Whether the syslog timestamp of a line is BSD style (no year)."""
    return re.match(r"^(?:<\d+>)?[A-Z][a-z]{2} ", line) is not None


@dataclass
class Agreement:
    """Counts compared fields and keeps the disagreements for the failure message."""

    compared: int = 0
    agreed: int = 0
    disagreements: list[str] = field(default_factory=list)

    def check(self, line_no: int, name: str, ours: Any, theirs: Any) -> None:
        """Compare one field; fields Elastic does not give (None) are not compared."""
        if theirs is None:
            return
        self.compared += 1
        if ours == theirs:
            self.agreed += 1
        else:
            self.disagreements.append(
                f"line {line_no + 1} {name}: ours={ours!r} elastic={theirs!r}"
            )

    def check_fields(
        self, line_no: int, ours: dict[str, Any], doc: dict[str, Any], pairs: dict[str, str]
    ) -> None:
        """Compare our column → Elastic's dotted path for each pair."""
        for name, path in pairs.items():
            self.check(line_no, name, ours[name], get(doc, path))

    @property
    def ratio(self) -> float:
        return self.agreed / self.compared if self.compared else 0.0

    def summary(self) -> str:
        return f"{self.agreed}/{self.compared} fields agree ({self.ratio:.1%})"
