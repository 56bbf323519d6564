"""Policies are refused at load time when they would break the law's lines."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from schemas.policy import PolicyError, default_policies, default_policy_path, load_policy

BASE = default_policy_path("iptables")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = BASE.read_text(encoding="utf-8")
    assert old in text
    return _write(tmp_path, text.replace(old, new, 1))


def test_default_policies_load() -> None:
    """Every format has its default policy, for its own source and dataset."""
    from transforms.parse.registry import FORMATS

    policies = {p.source: p for p in default_policies()}
    assert set(policies) == set(FORMATS)
    for name, fmt in FORMATS.items():
        assert policies[name].id == f"{name}-default"
        assert policies[name].dataset == fmt.dataset.name


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ('actor_user = "pseudonymize"', 'actor_user = "keep"', "can never be 'keep'"),
        ('src_mac = "drop"', 'src_mac = "keep"', "can never be 'keep'"),
        ('src_ip = "pseudonymize"', 'src_ip = "keep"', "holds addresses"),
        ('uid = "drop"', 'keystrokes = "keep"', "forbidden"),
        ('uid = "drop"', 'browser_history = "pseudonymize"', "forbidden"),
        ('uid = "drop"', 'nonsense = "keep"', "not a column"),
        ('action = "keep"', 'action = "obfuscate"', "fields"),
        ('action = "keep"', 'action = "generalise:hour"', "does not apply"),
        ('generalise = { time = "hour",', "generalise = {", "hour or day"),
        ('"length", "device"]', '"length", "device", "actor_user"]', "never people"),
        ("retention_days = 90", "retention_days = 0", "retention_days"),
        ('dataset = "network_activity"', 'dataset = "mailboxes"', "unknown dataset"),
        ("[purposes.network_administration]", "[purposes.productivity]", "purposes"),
    ],
)
def test_refused(tmp_path: Path, old: str, new: str, reason: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(_variant(tmp_path, old, new))
    message = str(info.value)
    assert str(tmp_path / "p.toml") in message
    assert reason in message


def test_personal_address_condition_must_be_kept(tmp_path: Path) -> None:
    text = default_policy_path("sshd").read_text().replace('outcome = "keep"', 'outcome = "drop"')
    text = text.replace('"action", "outcome",', '"action",').replace('"outcome", ', "")
    with pytest.raises(PolicyError, match="condition field 'outcome' is dropped"):
        load_policy(_write(tmp_path, text))


def test_forbidden_field_may_be_dropped(tmp_path: Path) -> None:
    policy = load_policy(_variant(tmp_path, 'uid = "drop"', 'uid = "drop"\nkeystrokes = "drop"'))
    assert "keystrokes" not in policy.stored_columns()


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.toml")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(_write(tmp_path, "id = [unclosed"))


def test_error_does_not_quote_values(tmp_path: Path) -> None:
    secret = "kari.nordmann@fjordvik.kommune.no"
    with pytest.raises(PolicyError) as info:
        load_policy(_variant(tmp_path, 'id = "iptables-default"', f'id = "{secret}"'))
    assert secret not in str(info.value)


def test_unnamed_fields_are_not_stored() -> None:
    policy = load_policy(BASE)
    raw = tomllib.loads(BASE.read_text())
    assert set(policy.stored_columns()) <= set(raw["fields"])
    assert "gid" not in policy.stored_columns()
