"""report.html in a real browser: headless Chromium renders it (no network, no
scripts); the DOM holds every section, and a screenshot shows every section's heading
colour, in order, with the status badge at the top."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from audit import write_report
from audit.report_html import SECTION_COLOURS, STATUS_COLOURS
from schemas.policy import default_policies
from store.init import init_store
from store.ledger import Ledger
from store.ledger_entry import EntryKind

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install -y chromium), so the "
    "report's rendering in a browser is not checked",
)
# Without the background-networking flags Chromium reaches for the network, which a
# test (and a security tool's build) must not need.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--force-color-profile=srgb", "--disable-extensions",
)  # fmt: skip
WIDTH, HEIGHT = 1280, 9000  # tall enough for the whole page of a small store
SECTIONS = list(SECTION_COLOURS)
MIN_HEADING_PIXELS = 10_000  # a heading bar is ~1100 × 50 px at this width


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    layout = init_store(root / "store", default_policies())
    ledger = Ledger(layout, "alice")
    intent = ledger.append(
        EntryKind.QUERY_INTENT,
        {"purpose": "network_administration", "case": None, "named": None,
         "sql": "SELECT count(*) FROM network_activity", "params": {}},
    )  # fmt: skip
    ledger.append(EntryKind.QUERY_RESULT, {"outcome": "ok", "rows": 1}, ref=intent.seq)
    ledger.append(
        EntryKind.REFUSAL,
        {"command": "query", "route": "unlawful_purpose", "reason": "not lawful",
         "purpose": "productivity", "case": None},
    )  # fmt: skip
    ledger.checkpoint()
    report = write_report(layout, root / "out")
    assert report.ok, report.problems
    return root / "out" / "report.html"


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    profile.mkdir()
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        timeout=120,
        check=True,
    )


class _Sections(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.headings = 0
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self.ids.append(dict(attrs).get("id") or "")
        elif tag == "h2":
            self.headings += 1
        elif tag == "script":
            self.scripts += 1


def test_dom_holds_every_section(report_html: Path, tmp_path: Path) -> None:
    done = _chromium(tmp_path / "profile", "--dump-dom", report_html.as_uri())
    parser = _Sections()
    parser.feed(done.stdout.decode("utf-8"))
    assert parser.ids == SECTIONS
    assert parser.headings == len(SECTIONS) and parser.scripts == 0


def test_screenshot_shows_every_section_heading(report_html: Path, tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image", reason="Pillow decodes the screenshot")
    shot = tmp_path / "report.png"
    _chromium(
        tmp_path / "profile",
        f"--screenshot={shot}",
        f"--window-size={WIDTH},{HEIGHT}",
        report_html.as_uri(),
    )
    pixels = np.asarray(image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (HEIGHT, WIDTH)

    def rows_with(colour: str) -> tuple[np.ndarray, int]:
        hits = np.all(pixels == _rgb(colour), axis=2)
        assert hits.sum() >= 1, f"{colour} not in the screenshot"
        return np.flatnonzero(hits.any(axis=1)), int(hits.sum())

    tops = []
    for section in SECTIONS:
        rows, count = rows_with(SECTION_COLOURS[section])
        assert count >= MIN_HEADING_PIXELS, (section, count)
        tops.append(int(rows[0]))
    assert tops == sorted(tops), dict(zip(SECTIONS, tops, strict=True))
    badge_rows, _ = rows_with(STATUS_COLOURS["ok"])
    assert badge_rows[0] < tops[0]  # the overall status sits above the first section
    assert not np.all(pixels == _rgb(STATUS_COLOURS["failed"]), axis=2).any()


def _rgb(colour: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(colour.lstrip("#")), dtype=np.uint8)
