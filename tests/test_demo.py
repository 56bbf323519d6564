"""`loggvern demo` runs the whole story on a small municipality."""

from __future__ import annotations

from pathlib import Path

import pytest

from loggvern.cli import main


def test_demo_runs_and_shows_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "demo-store"
    assert main(["demo", "--fresh", str(store), "--employees", "40"]) == 0
    out = capsys.readouterr().out
    assert out.count("✓") == 4 and "ACCOUNTING MISMATCH" not in out  # 3 logs + the MDM export
    assert "203.0.113.7" in out  # the brute-force source stays visible (rich may fold it)
    assert "gmail.com" in out  # the exfiltration's destination domain
    assert "usr-k1-" in out  # people appear only as pseudonyms
    assert "refused" in out and "not lawful" in out
    assert "COPY statement refused" in out and "need an open case" in out
    assert "ledger intact" in out and "audit report: ok" in out
    # the MDM export: recognised by its header, forbidden fields dropped and counted
    assert "intune-csv)" in out and "dropped at the edge (seed 003): browser_history=" in out
    assert "TikTok / Telegram installed" in out and "service" in out
    # the break-glass round: refused requester, two approvals, one name, ledgered
    assert "cannot approve" in out and out.count("approves (share checked") == 2
    revealed = [line for line in out.splitlines() if "revealed with dpo + union-rep" in line]
    assert len(revealed) == 1 and "→ employee:E" in revealed[0]
    ledger = (store / "ledger" / "ledger.jsonl").read_text()
    assert ledger.count('"kind":"breakglass_approved"') == 2
    assert ledger.count('"kind":"breakglass_reveal_result"') == 1
    assert '"route":"requester_as_approver"' in ledger
    assert "@fjordvik" not in ledger  # the revealed name went to the terminal only
    assert main(["demo", "--fresh", str(store), "--employees", "40"]) == 0  # --fresh re-creates


def test_demo_fresh_refuses_foreign_directory(tmp_path: Path) -> None:
    foreign = tmp_path / "important"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("do not delete")
    assert main(["demo", "--fresh", str(foreign)]) == 2
    assert (foreign / "thesis.txt").exists()
