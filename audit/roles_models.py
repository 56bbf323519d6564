"""The model of the separation-of-duties section: the group → role map the query
service enforces, who holds which role, and who holds both analyst and custodian.

Names here are staff user names and OS groups, never data from the lake.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from audit.section import Model, SectionBase


class RoleHolder(Model):
    user: str
    roles: list[str]
    groups: list[str]  # the mapped groups that give them their roles


class RolesSection(SectionBase):
    id: Literal["roles"] = "roles"
    title: str = "Separation of duties"
    source: str = ""  # which map: the one the service last started with, or the default
    groups: dict[str, list[str]] = Field(default_factory=dict)
    missing_groups: list[str] = Field(default_factory=list)
    holders: list[RoleHolder] = Field(default_factory=list)
    analyst_and_custodian: list[RoleHolder] = Field(default_factory=list)

    def figure(self) -> tuple[str, int] | None:
        return "both analyst and custodian", len(self.analyst_and_custodian)
