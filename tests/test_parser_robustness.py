"""Every format survives any input: arbitrary bytes, truncated and mutated valid lines,
wrong encodings (latin-1, UTF-16 with BOM, NUL) and a 10 MB line never crash the write
path, and every line ends in the lake or the dead letter with a reason
(read = written + rejected). Runs over every registered format; hypothesis examples are
bounded so the suite stays fast."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loggvern.commands import ingest
from schemas.policy import default_policies, default_policy_path, load_policy
from store.init import init_store
from store.keys import KeyRing
from store.vault import Sealer, mac_key
from transforms.batch import Batch
from transforms.identity import AliasDirectory
from transforms.parse.base import ROW, ParseContext, SourceFormat
from transforms.parse.registry import FORMATS
from transforms.pseudonymize import Pseudonymizer
from transforms.purpose import RunStamp
from transforms.seal import seal_batch
from transforms.sink import write_batch
from transforms.stages import (
    attach_evidence,
    minimize_batch,
    parse_batch,
    pseudonymize_batch,
    tag_batch,
    validate_batch,
)

NAMES = sorted(FORMATS)
KEYS = KeyRing(b"p" * 32, b"e" * 32, bytes(range(32)), b"d" * 32)
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _vault_public():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return X25519PrivateKey.generate().public_key()


SEALER = Sealer(_vault_public(), mac_key(KEYS.pseudonym))


def run_chain(fmt: SourceFormat, lines: list[bytes], out: Path) -> tuple[int, int, int]:
    """The write path of one chunk, as the Beam stages run it; (read, written, rejected)."""
    policy = load_policy(default_policy_path(fmt.name))
    empty = pa.table({ROW: pa.array([], pa.int64())})
    raw = pa.array(lines, pa.binary())
    batch = Batch("fuzz.log", 0, 0, 1, raw, empty, source_format=fmt.name)
    header = fmt.examples[0] if fmt.examples else None
    ctx = ParseContext(first_line=header)
    batch = validate_batch(parse_batch(batch, fmt, ctx), fmt)
    batch = attach_evidence(batch, KEYS.evidence)
    batch = minimize_batch(batch, policy)
    pz = Pseudonymizer(KEYS, AliasDirectory())
    batch = pseudonymize_batch(batch, policy, pz)
    batch = seal_batch(batch, policy, pz, SEALER)
    batch = tag_batch(batch, policy)
    assert all(batch.rejects.column("reason").to_pylist()), "every reject has a reason"
    report = write_batch(batch, policy, RunStamp(fmt.name, "fuzz"), out, KEYS.deadletter)
    assert report.read == len(lines) == report.written + report.rejected
    return report.read, report.written, report.rejected


def test_every_format_has_examples_that_parse(tmp_path: Path) -> None:
    for name in NAMES:
        fmt = FORMATS[name]
        assert fmt.examples, f"{name}: no example lines"
        lines = [line.encode() for line in fmt.examples]
        read, written, _ = run_chain(fmt, lines, tmp_path / name)
        headers = 1 if fmt.detect is None or not any(fmt.detect(pa.array(fmt.examples[:1]))) else 0
        assert written >= read - headers, f"{name}: an example line does not parse"


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(lines=st.lists(st.binary(max_size=400), min_size=1, max_size=12))
def test_arbitrary_bytes(name: str, lines: list[bytes], tmp_path: Path) -> None:
    lines = [line.replace(b"\n", b" ") for line in lines]
    run_chain(FORMATS[name], lines, tmp_path)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_mutated_and_truncated_examples(name: str, data: st.DataObject, tmp_path: Path) -> None:
    fmt = FORMATS[name]
    lines = []
    for example in fmt.examples:
        raw = bytearray(example.encode())
        cut = data.draw(st.integers(0, len(raw)))
        if data.draw(st.booleans()):
            raw = raw[:cut]
        for _ in range(data.draw(st.integers(0, 4))):
            if raw:
                at = data.draw(st.integers(0, len(raw) - 1))
                raw[at] = data.draw(st.integers(0, 255))
        lines.append(bytes(raw).replace(b"\n", b" "))
    lines += [example.encode() for example in fmt.examples]
    run_chain(fmt, lines, tmp_path)


def nasty_lines(fmt: SourceFormat) -> list[bytes]:
    """Wrong encodings, NUL, a 10 MB line and an empty line, around valid examples."""
    sample = fmt.examples[-1]
    return [
        *(e.encode() for e in fmt.examples),
        (sample + " Bjørnstjerne").encode("latin-1", errors="replace"),
        "\ufeff".encode("utf-16-le") + sample.encode("utf-16-le"),
        sample.encode()[:10] + b"\x00" + sample.encode()[10:],
        sample.encode() + b" " + b"A" * (10 << 20),
        b"",
    ]


@pytest.mark.parametrize("name", NAMES)
def test_wrong_encodings_and_a_10_mb_line(name: str, tmp_path: Path) -> None:
    fmt = FORMATS[name]
    lines = nasty_lines(fmt)
    read, written, rejected = run_chain(fmt, lines, tmp_path)
    assert rejected >= 3  # latin-1, UTF-16 and NUL lines at least are refused


def test_nasty_files_through_a_real_ingest(tmp_path: Path) -> None:
    """A real Beam run per format over the nasty lines: nothing lost, nothing crashed."""
    store = tmp_path / "store"
    init_store(store, default_policies(), "op")
    for name in NAMES:
        log = tmp_path / f"{name}.log"
        lines = nasty_lines(FORMATS[name])
        log.write_bytes(b"\n".join(lines) + b"\n")
        summary = ingest(store, name, [log], actor="op")
        assert summary.read == len(lines) == summary.written + summary.rejected, name
