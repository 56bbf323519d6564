"""Splitting files into line-aligned splits and chunks keeps every byte and line."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.read_lines import plan_splits, read_split, split_lines


def test_split_lines_terminators() -> None:
    assert split_lines(b"a\nb\r\nc").to_pylist() == [b"a", b"b", b"c"]
    assert split_lines(b"a\n").to_pylist() == [b"a"]
    assert split_lines(b"\n\n").to_pylist() == [b"", b""]
    assert split_lines(b"x\r\n\r\ny\r").to_pylist() == [b"x", b"", b"y\r"]
    assert split_lines(b"").to_pylist() == []


@given(st.binary(max_size=300))
def test_split_lines_matches_python(data: bytes) -> None:
    expected = data.replace(b"\r\n", b"\n").split(b"\n")
    if data.replace(b"\r\n", b"\n").endswith(b"\n") or not data:
        expected = expected[:-1]
    assert split_lines(data).to_pylist() == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=60))
def test_splits_cover_every_line_once(tmp_path_factory, lines: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    path = Path(tmp_path_factory.mktemp("split")) / "in.log"
    path.write_bytes(b"\n".join(lines) + (b"\n" if lines else b""))
    splits = plan_splits(str(path), split_bytes=17)
    got: list[bytes] = []
    numbers: list[int] = []
    for split in splits:
        for first, raw in read_split(split, chunk_lines=3):
            got += raw.to_pylist()
            numbers += range(first, first + len(raw))
    expected = path.read_bytes().replace(b"\r\n", b"\n").split(b"\n")[: len(lines)]
    assert got == expected
    assert numbers == list(range(1, len(lines) + 1))
    assert sum(s.lines for s in splits) == len(lines)


def test_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"one\ntwo\nthree")
    (split,) = plan_splits(str(path))
    assert split.lines == 3
    assert [r.to_pylist() for _, r in read_split(split)] == [[b"one", b"two", b"three"]]
