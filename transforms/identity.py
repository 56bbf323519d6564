"""Identity canonicalisation: one employee is one pseudonym across all sources.

Logs name the same person as `KARI.NORDMANN@fjordvik.kommune.no`, `FJORDVIK\\karnor01`,
`karnor01`, `Kari Nordmann` or the OneDrive segment `kari_nordmann_fjordvik_kommune_no`.
Values are normalised (trimmed, case-folded, `DOMAIN\\` removed) and looked up in the
alias directory exported from HR/AD (CSV `employee_id,identifier`, one row per
identifier); a match becomes `employee:<id>`, anything else stays its normalised self.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

_SITE_SEGMENT = re.compile(r"[@.]")


class AliasError(ValueError):
    """The alias directory is unreadable or malformed; names file, line and reason."""


def normalize_identifier(value: str) -> str:
    """Trim, case-fold and drop a Windows `DOMAIN\\` prefix."""
    text = value.strip().casefold()
    if "\\" in text:
        text = text.rsplit("\\", 1)[1]
    return text


@dataclass(frozen=True)
class AliasDirectory:
    """Normalised identifier → employee id."""

    index: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> AliasDirectory:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise AliasError(f"{path}: cannot read alias directory ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise AliasError(f"{path}: alias directory is not UTF-8") from None
        rows = csv.reader(text.splitlines())
        header = next(rows, None)
        if header is None or [h.strip().lower() for h in header] != ["employee_id", "identifier"]:
            raise AliasError(f"{path}: line 1: header must be 'employee_id,identifier'")
        index: dict[str, str] = {}
        for line_no, row in enumerate(rows, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise AliasError(f"{path}: line {line_no}: expected two non-empty columns")
            if not _add(index, row[0].strip(), row[1]):
                raise AliasError(
                    f"{path}: line {line_no}: identifier already belongs to another employee"
                )
        return cls(index)

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, str]]) -> AliasDirectory:
        """From (employee id, identifier) pairs; a conflicting identifier is an error."""
        index: dict[str, str] = {}
        for employee, identifier in pairs:
            if not _add(index, employee, identifier):
                raise AliasError("identifier belongs to two employees")
        return cls(index)

    def canonical(self, value: str) -> tuple[str, bool]:
        """Canonical form of an identifier and whether it is a known employee."""
        norm = normalize_identifier(value)
        employee = self.index.get(norm)
        if employee is not None:
            return f"employee:{employee}", True
        return norm, False


def _add(index: dict[str, str], employee: str, identifier: str) -> bool:
    for key in _variants(normalize_identifier(identifier)):
        if index.setdefault(key, employee) != employee:
            return False
    return True


def _variants(identifier: str) -> list[str]:
    """An identifier plus the OneDrive personal-site segment an e-mail becomes."""
    if "@" in identifier:
        return [identifier, _SITE_SEGMENT.sub("_", identifier)]
    return [identifier]
