"""The pieces every part of report.html is made of: tables (cut after `LIST_SHOWN`
rows), bullet lists, status badges, numbers and times; all text is escaped here
unless it is marked `Raw` (already-escaped HTML).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any

from audit.html_style import STATUS_COLOURS
from audit.section import Status

LIST_SHOWN = 200  # rows of a long list shown in the page (report.json has them all)


class Raw(str):
    """Already-escaped HTML for a table cell."""


def cell(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if value is None or value == "":
        return '<span class="muted">—</span>'
    if isinstance(value, int) and not isinstance(value, bool):
        return num(value)
    return escape(str(value))


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: set[int],
    empty: str,
    bad: Callable[[Sequence[Any]], bool] | None = None,
) -> str:
    rows = list(rows)
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>' if empty else ""
    shown = rows[:LIST_SHOWN]
    head = "".join(
        f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in shown:
        cls = ' class="bad"' if bad is not None and bad(row) else ""
        cells = "".join(
            f'<td class="n">{cell(v)}</td>' if i in numeric else f"<td>{cell(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    more = (
        f'<p class="muted">{len(rows) - LIST_SHOWN} more in report.json.</p>'
        if len(rows) > LIST_SHOWN
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def bullets(items: Sequence[str], cls: str) -> str:
    if not items:
        return ""
    return f'<ul class="{cls}">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def badge(status: Status | str, big: bool = False) -> str:
    status = Status(status)
    label = {"ok": "OK", "warning": "NOTE", "failed": "FAILED"}[status.value]
    size = " big" if big else ""
    return (
        f'<span class="badge{size} status-{status.value}" '
        f'style="background:{STATUS_COLOURS[status]}">{label}</span>'
    )


def num(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}".replace(",", "\u202f")
    return escape(str(value))


def opt(value: Any) -> str:
    return "—" if value is None else num(value)


def time_cell(iso: str | None) -> str:
    """A table cell's time: date and time to the second on one line each, UTC."""
    text = when(iso).removesuffix(" UTC")
    day, _, clock = text.partition(" ")
    return f'<span class="t">{escape(day)}<br>{escape(clock)}</span>' if clock else escape(text)


def when(iso: str | None) -> str:
    """ISO time as `YYYY-MM-DD HH:MM:SS UTC` (dates stay dates)."""
    if not iso:
        return "—"
    text = iso.replace("T", " ")
    for suffix in ("+00:00", "Z"):
        if text.endswith(suffix):
            text = text[: -len(suffix)].split(".")[0] + " UTC"
            break
    return text
