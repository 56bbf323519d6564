"""Volume benchmark: does ingest memory stay constant as the input grows?

Generates a ~1 GB and a >= 5 GB iptables file (streamed: the generator holds one block
of lines at a time), ingests each with `loggvern ingest` as a subprocess into its own
store, and prints for both the time, rows/s and the peak memory of the whole process
tree (see benchmarks/process_tree.py: sampled sum of RSS over the parent and any worker
processes, and the kernel's exact per-process peak), then the ratio large/small of the
peak and PASS/FAIL against the limit. Generated files and stores are removed at the end.

    python benchmarks/volume_bench.py [--small-gb 1] [--large-gb 5] [--workers 1] [--users 500]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.process_tree import Measured, run_measured  # noqa: E402
from pipelines.synthetic.iptables_bulk import write_iptables_lines  # noqa: E402

LIMIT_BYTES = 1_500_000_000  # 1.5 GB for the whole process tree
MAX_GROWTH = 1.15  # peak at the large input / peak at the small one
SAMPLE_LINES = 100_000


def bytes_per_line(work: Path, users: int) -> float:
    sample = work / "sample.log"
    write_iptables_lines(sample, SAMPLE_LINES, users=users)
    size = sample.stat().st_size
    sample.unlink()
    return size / SAMPLE_LINES


def generate(path: Path, gigabytes: float, per_line: float, users: int) -> int:
    lines = int(gigabytes * 1e9 / per_line)
    t0 = time.perf_counter()
    write_iptables_lines(path, lines, users=users)
    took = time.perf_counter() - t0
    size = path.stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this process so far
    print(f"generated {path.name}: {lines:,} lines, {size / 1e9:.2f} GB in {took:.0f}s "
          f"({size / 1e6 / took:.0f} MB/s); generator's peak RSS {peak:,.0f} MiB")  # fmt: skip
    return lines


def ingest(log: Path, store: Path, workers: int) -> Measured:
    cli = [sys.executable, "-m", "loggvern.cli"]
    shutil.rmtree(store, ignore_errors=True)
    made = run_measured([*cli, "init", str(store)], ROOT)
    if made.returncode != 0:
        sys.exit(f"loggvern init failed: {made.stderr.strip()}")
    cmd = [*cli, "ingest", str(store), "--source", "iptables", "--workers", str(workers), str(log)]
    done = run_measured(cmd, ROOT)
    if done.returncode != 0:
        sys.exit(f"loggvern ingest failed ({done.returncode}): {done.stderr.strip()}")
    return done


def report(name: str, lines: int, m: Measured) -> None:
    print(f"{name}: {m.stdout.strip().splitlines()[-1]}")
    print(f"   {m.seconds:7.1f}s  {lines / m.seconds:>10,.0f} rows/s  "
          f"peak tree RSS (sum, sampled) {m.peak_sum_kib / 1024:,.0f} MiB over up to "
          f"{m.processes} processes; largest process {m.peak_rusage_kib / 1024:,.0f} MiB "
          "(kernel ru_maxrss)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-gb", type=float, default=1.0)
    parser.add_argument("--large-gb", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--users", type=int, default=500, help="distinct user names in the input (default 500)"
    )
    parser.add_argument("--workdir", type=Path, help="where the big files go (default: temp)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loggvern-volume-", dir=args.workdir))
    try:
        per_line = bytes_per_line(work, args.users)
        results = {}
        for name, gb in (("small", args.small_gb), ("large", args.large_gb)):
            log = work / f"{name}.log"
            lines = generate(log, gb, per_line, args.users)
            measured = ingest(log, work / f"store-{name}", args.workers)
            report(f"{name} ({gb:g} GB, --workers {args.workers})", lines, measured)
            results[name] = measured
            log.unlink()  # before the next file is made: at most one big input on disk
            shutil.rmtree(work / f"store-{name}", ignore_errors=True)
        small, large = results["small"].peak_sum_kib, results["large"].peak_sum_kib
        growth = large / small
        peak = max(small, large) * 1024
        print(
            f"ratio peak large/small: {growth:.2f}  "
            f"({'PASS' if growth <= MAX_GROWTH else 'FAIL'}: at most {MAX_GROWTH})"
        )
        print(f"largest peak {peak / 1e9:.2f} GB vs limit {LIMIT_BYTES / 1e9:.1f} GB: "
              f"{'PASS' if peak <= LIMIT_BYTES else 'FAIL'}")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
