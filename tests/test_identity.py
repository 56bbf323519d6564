"""Canonicalisation makes one employee one identity across identifier forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from transforms.identity import AliasDirectory, AliasError, normalize_identifier


def _aliases(tmp_path: Path, text: str) -> AliasDirectory:
    path = tmp_path / "aliases.csv"
    path.write_text(text, encoding="utf-8")
    return AliasDirectory.load(path)


def test_normalize() -> None:
    assert normalize_identifier("  FJORDVIK\\KarNor01 ") == "karnor01"
    assert normalize_identifier("Kari.Nordmann@Fjordvik.Kommune.NO") == (
        "kari.nordmann@fjordvik.kommune.no"
    )


def test_all_forms_map_to_one_employee(tmp_path: Path) -> None:
    aliases = _aliases(
        tmp_path,
        "employee_id,identifier\n"
        "E100,kari.nordmann@fjordvik.kommune.no\n"
        "E100,FJORDVIK\\karnor01\n"
        "E100,Kari Nordmann\n",
    )
    forms = [
        "KARI.NORDMANN@fjordvik.kommune.no",
        "karnor01",
        "fjordvik\\KARNOR01",
        "kari nordmann",
        "kari_nordmann_fjordvik_kommune_no",  # OneDrive personal-site segment
    ]
    assert {aliases.canonical(f) for f in forms} == {("employee:E100", True)}
    assert aliases.canonical("someone.else") == ("someone.else", False)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("who,what\n", "line 1: header"),
        ("employee_id,identifier\nE1\n", "line 2: expected two"),
        ("employee_id,identifier\nE1,alice\nE2,ALICE\n", "line 3: identifier already"),
    ],
)
def test_bad_alias_files(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(AliasError) as info:
        _aliases(tmp_path, text)
    assert reason in str(info.value)
    assert "alice" not in str(info.value).lower().split(":")[-1]
