"""Where the ingest time goes: each write-path stage timed on its own, in-process and
single-threaded, on N generated iptables lines (no Beam). Prints seconds per stage and
its share, plus the rate of the sum, so changes to one stage can be judged alone.

    python benchmarks/stage_profile.py [--lines 1000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402

from pipelines.synthetic.iptables_bulk import write_iptables_lines  # noqa: E402
from schemas.policy import default_policy_path, load_policy  # noqa: E402
from store.keys import KeyRing  # noqa: E402
from store.vault import Sealer, mac_key  # noqa: E402
from transforms.batch import Batch  # noqa: E402
from transforms.identity import AliasDirectory  # noqa: E402
from transforms.parse.base import REJECT_SCHEMA, ParseContext  # noqa: E402
from transforms.parse.registry import source_format  # noqa: E402
from transforms.pseudonymize import Pseudonymizer  # noqa: E402
from transforms.purpose import RunStamp  # noqa: E402
from transforms.read_lines import plan_splits, read_split  # noqa: E402
from transforms.seal import seal_batch  # noqa: E402
from transforms.sink import write_batch  # noqa: E402
from transforms.stages import (  # noqa: E402
    attach_evidence,
    minimize_batch,
    parse_batch,
    pseudonymize_batch,
    tag_batch,
    validate_batch,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="loggvern-profile-") as tmp:
        log = Path(tmp) / "iptables.log"
        write_iptables_lines(log, args.lines)
        fmt = source_format("iptables")
        policy = load_policy(default_policy_path("iptables"))
        keys = KeyRing(b"p" * 32, b"e" * 32, bytes(range(32)), b"d" * 32)
        pz = Pseudonymizer(keys, AliasDirectory())
        sealer = Sealer(X25519PrivateKey.generate().public_key(), mac_key(keys.pseudonym))
        ctx = ParseContext()
        stamp = RunStamp("iptables", "profile")
        spent: dict[str, float] = defaultdict(float)

        def timed(name: str, fn, *a):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            result = fn(*a)
            spent[name] += time.perf_counter() - start
            return result

        empty = REJECT_SCHEMA.empty_table()
        for split in timed("plan splits", plan_splits, str(log)):
            chunks = timed("read + split lines", lambda s: list(read_split(s)), split)
            for i, (first, raw) in enumerate(chunks):
                batch = Batch(str(log), split.index, i, first, raw, empty, empty)
                batch = timed("decode + parse", parse_batch, batch, fmt, ctx)
                batch = timed("validate", validate_batch, batch, fmt)
                batch = timed("evidence HMAC", attach_evidence, batch, keys.evidence)
                batch = timed("minimise", minimize_batch, batch, policy)
                batch = timed("pseudonymise", pseudonymize_batch, batch, policy, pz)
                batch = timed("seal (vault)", seal_batch, batch, policy, pz, sealer)
                batch = timed("purposes", tag_batch, batch, policy)
                timed("project + Parquet", write_batch, batch, policy, stamp, Path(tmp), b"d" * 32)
        total = sum(spent.values())
        for name, seconds in spent.items():
            print(f"{name:20} {seconds:7.2f}s  {100 * seconds / total:5.1f}%")
        print(f"{'total':20} {total:7.2f}s  {args.lines / total:,.0f} rows/s single-threaded")


if __name__ == "__main__":
    main()
