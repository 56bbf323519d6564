"""The report as a whole: the list of sections, each with an id, a title, a status and
its own data, and the overall status with every section's problems.

Adding a section (purges …) means adding its model to `Section`, a builder
to `audit.report` and a renderer to `audit.html_sections`. No section ever holds a
value read from the lake: only counts, names of files and columns, dates and digests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from audit.breakglass_models import BreakGlassSection
from audit.lake_models import LeakScanSection, PurposeSection, RowsSection
from audit.ledger_models import IngestSection, LedgerSection, QueriesSection, RefusalsSection
from audit.retention_models import RetentionSection
from audit.roles_models import RolesSection
from audit.section import Model

FORMAT = 4  # 4: a `roles` section (separation of duties); 3: a `breakglass` section
# (2: a leak example holds a keyed `digest`, no longer a `sha256_prefix`)

Section = Annotated[
    LedgerSection
    | QueriesSection
    | RefusalsSection
    | IngestSection
    | RowsSection
    | PurposeSection
    | LeakScanSection
    | RetentionSection
    | BreakGlassSection
    | RolesSection,
    Field(discriminator="id"),
]


class AuditReport(Model):
    """What report.json holds."""

    format: int = FORMAT
    generated_at: str
    store: str
    status: Literal["ok", "failed"]
    problems: list[str] = Field(default_factory=list)  # "<section>: <problem>"
    warnings: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    sections: list[Section] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def section(self, section_id: str) -> Any:
        for s in self.sections:
            if s.id == section_id:
                return s
        raise KeyError(section_id)
