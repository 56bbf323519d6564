"""A mixed-format log file for the `--source auto` benchmark: the bulk firewall lines of
`iptables_bulk` with, every few lines, a line of another registered format.

The other lines are each format's example lines (`SourceFormat.examples`) with their
IPv4 addresses and ports varied, so the detectors and parsers see many distinct values.
Formats that need a per-file header (CSV exports) are left out: they cannot be mixed
into another file.

    python -m pipelines.synthetic.mixed_formats OUT N [--share 0.3]
"""

from __future__ import annotations

import argparse
import random
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.synthetic.iptables_bulk import write_iptables_lines
from transforms.parse.registry import FORMATS

_IPV4 = re.compile(r"\b(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b")
_PORT = re.compile(r"(?<=port )\d+|(?<=SPT=)\d+|(?<=srcport=)\d+")


def mixable_examples() -> dict[str, list[str]]:
    """Per format, the example lines its own detector claims (per-line formats only)."""
    found: dict[str, list[str]] = {}
    for name, fmt in sorted(FORMATS.items()):
        if fmt.detect is None or name == "iptables" or not fmt.examples:
            continue
        claimed = pc.fill_null(fmt.detect(pa.array(list(fmt.examples))), False).to_pylist()
        lines = [e for e, c in zip(fmt.examples, claimed, strict=True) if c]
        if lines:
            found[name] = lines
    return found


def _vary(line: str, rng: random.Random) -> str:
    """Addresses from a pool of 1,024 per network (logs repeat their hosts; a new address
    on every line would make every line a new identity to pseudonymise and seal)."""

    def address(m: re.Match[str]) -> str:
        host = rng.randrange(1024)
        return f"{m.group(1)}.{m.group(2)}.{host // 254}.{host % 254 + 1}"

    line = _IPV4.sub(address, line)
    return _PORT.sub(lambda _: str(rng.randrange(1024, 65535)), line)


def write_mixed(path: Path, lines: int, share: float = 0.3, seed: int = 5) -> Counter[str]:
    """`lines` lines, about `share` of them from the other formats; returns lines per
    format."""
    others = mixable_examples()
    names = sorted(others)
    bulk = path.with_suffix(".iptables.tmp")
    n_other = int(lines * share) if names else 0
    write_iptables_lines(bulk, lines - n_other)
    rng = random.Random(seed)
    every = max(1, round((lines - n_other) / max(1, n_other)))
    counts: Counter[str] = Counter()
    with open(bulk, encoding="utf-8") as src, open(path, "w", encoding="utf-8") as out:
        for i, line in enumerate(src):
            out.write(line)
            counts["iptables"] += 1
            if n_other and i % every == 0 and sum(counts.values()) < lines:
                name = names[rng.randrange(len(names))]
                out.write(_vary(rng.choice(others[name]), rng) + "\n")
                counts[name] += 1
                n_other -= 1
        for _ in range(n_other):
            name = names[rng.randrange(len(names))]
            out.write(_vary(rng.choice(others[name]), rng) + "\n")
            counts[name] += 1
    bulk.unlink()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("lines", type=int)
    parser.add_argument("--share", type=float, default=0.3)
    args = parser.parse_args()
    for name, n in write_mixed(args.out, args.lines, args.share).most_common():
        print(f"{name:24} {n:>10,}")


if __name__ == "__main__":
    main()
