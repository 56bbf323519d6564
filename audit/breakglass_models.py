"""The models of the break-glass section: each request with its approvals, reveals,
bundles and employee notice, the overdue notices, and the break-glass refusals.

They hold what the ledger recorded (pseudonyms, actors, custodians, case ids, times),
never an identity: ledger bodies hold none, and a bundle's output path is left out.
`audit.breakglass_section` builds them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audit.section import Model, SectionBase


class Step(Model):
    """An approval or a bundle: who, when, and (for a bundle) what it holds."""

    seq: int
    time: str
    actor: str  # the approving custodian, or who made the bundle
    sha256: str | None = None
    entries: int | None = None


class Reveal(Model):
    seq: int
    time: str  # when the reveal was ledgered
    actor: str
    where: str | None  # store / bundle
    custodians: list[str]  # present, their shares entered together
    approvals: int  # distinct approvals by others than the requester, before the reveal
    outcome: str  # ok / failed / unanswered
    revealed: list[str] = Field(default_factory=list)  # pseudonyms opened and verified
    not_in_vault: list[str] = Field(default_factory=list)
    failed_check: list[str] = Field(default_factory=list)
    error: str | None = None
    opened_at: str | None = None  # a bundle: when it was opened on the custodian's machine


class Notice(Model):
    """How the employee is told, and whether they have been."""

    mode: str | None = None  # now / deferred
    reason: str | None = None
    due: str | None = None
    notified_at: str | None = None
    notified_by: str | None = None
    note: str | None = None
    overdue: bool = False


class BreakGlassItem(Model):
    id: str
    seq: int | None = None  # the request's entry (None: the ledger holds no request)
    requester: str | None = None
    case: str | None = None
    purpose: str | None = None
    justification: str | None = None
    pseudonyms: list[str] = Field(default_factory=list)
    window_from: str | None = None
    window_to: str | None = None
    requested_at: str | None = None
    expires_at: str | None = None
    threshold: int | None = None
    state: str = "pending"  # pending / approved / revealed / expired / voided
    expired_at: str | None = None
    voided_at: str | None = None  # the custodians changed (reshare) before a reveal
    voided_reason: str | None = None
    approvals: list[Step] = Field(default_factory=list)
    reveals: list[Reveal] = Field(default_factory=list)
    bundles: list[Step] = Field(default_factory=list)
    notice: Notice = Field(default_factory=Notice)
    problems: list[str] = Field(default_factory=list)


class OverdueNotice(Model):
    request: str
    case: str | None
    requester: str | None
    reason: str | None
    due: str


class BreakGlassSection(SectionBase):
    id: Literal["breakglass"] = "breakglass"
    title: str = "Break-glass requests and reveals"
    total: int = 0
    revealed: int = 0
    expired: int = 0
    requests: list[BreakGlassItem] = Field(default_factory=list)  # newest first
    overdue_notices: list[OverdueNotice] = Field(default_factory=list)
    refusals: int = 0
    refusals_by_route: dict[str, int] = Field(default_factory=dict)

    def figure(self) -> tuple[str, int] | None:
        return "break-glass reveals", self.revealed
