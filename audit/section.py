"""What every report section shares: its status, its base model (id, title, status,
summary, problems, notes, time taken), and the helpers that time a section's build and
gather the problems of all sections.

A section model lives with the sections of its kind (`audit.ledger_models`,
`audit.lake_models`, `audit.breakglass_models`); this module is their common root, so
it imports none of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    ok = "ok"
    warning = "warning"  # worth a look, but no rule is broken
    failed = "failed"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SectionBase(Model):
    id: str
    title: str
    status: Status = Status.ok
    summary: str = ""
    problems: list[str] = Field(default_factory=list)  # why the section failed
    notes: list[str] = Field(default_factory=list)  # warnings and what was assumed
    seconds: float = 0.0  # time taken to build the section

    def figure(self) -> tuple[str, int] | None:
        """The one number this section adds to the report's key figures, if any."""
        return None

    def fail(self, problem: str) -> None:
        self.problems.append(problem)
        self.status = Status.failed

    def warn(self, note: str) -> None:
        self.notes.append(note)
        if self.status is Status.ok:
            self.status = Status.warning


def timed(build: Callable[[], SectionBase]) -> SectionBase:
    start = time.perf_counter()
    section = build()
    section.seconds = round(time.perf_counter() - start, 4)
    return section


def section_problems(sections: Iterable[SectionBase]) -> tuple[list[str], list[str]]:
    problems = [f"{s.title}: {p}" for s in sections for p in s.problems]
    warnings = [f"{s.title}: {n}" for s in sections if s.status is Status.warning for n in s.notes]
    return problems, warnings


def policy_label(policy_id: Any, version: Any) -> str | None:
    """A policy as the report names it: `<id> v<version>`."""
    if policy_id is None:
        return None
    return f"{policy_id} v{version}" if version is not None else str(policy_id)
