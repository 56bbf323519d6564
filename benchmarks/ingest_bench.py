"""Ingest benchmark: loggvern vs a one-statement DuckDB baseline on the same file.

Generates N iptables lines with user names, runs `loggvern ingest` (a subprocess, so
its peak RSS is measured alone) and, in the same run, the bare DuckDB hack below that
parses a few fields and hashes two of them. Prints rows/s of both, the ratio
loggvern/baseline (machines are noisy: compare the ratio, not absolute times) and
loggvern's peak RSS.

The mixed input (`--input mixed`, run by default after the iptables one) interleaves the
firewall lines with lines of every other per-line format and ingests with
`--source auto`; the baseline runs the same statement over the same file.

    python benchmarks/ingest_bench.py [--lines 1000000] [--workers 2] [--input both]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.synthetic.iptables_bulk import write_iptables_lines  # noqa: E402
from pipelines.synthetic.mixed_formats import write_mixed  # noqa: E402

BASELINE = r"""COPY (SELECT try_strptime('2024 ' || substr(line,1,15), '%Y %b %d %H:%M:%S') AS ts,
regexp_extract(line, '^\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+)', 1) AS host,
regexp_extract(line, 'kernel: \[\S+ (\S+)\]', 1) AS action,
sha256(regexp_extract(line, ' SRC=(\S+)', 1) || $salt) AS src,
TRY_CAST(regexp_extract(line, ' SPT=(\d+)', 1) AS INTEGER) AS spt,
regexp_extract(line, ' DST=(\S+)', 1) AS dst,
TRY_CAST(regexp_extract(line, ' DPT=(\d+)', 1) AS INTEGER) AS dpt,
lower(regexp_extract(line, ' PROTO=(\S+)', 1)) AS proto,
sha256(regexp_extract(line, ' USER=(\S+)', 1) || $salt) AS usr
FROM read_csv($log, columns={'line':'VARCHAR'}, header=false, auto_detect=false,
delim='\x1f', quote='', escape='')) TO $out (FORMAT parquet)"""


def run_baseline(log: Path, out: Path) -> float:
    con = duckdb.connect()
    start = time.perf_counter()
    con.execute(BASELINE, {"salt": os.urandom(16).hex(), "log": str(log), "out": str(out)})
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def run_loggvern(
    log: Path, store: Path, workers: int, source: str = "iptables"
) -> tuple[float, str, int]:
    cli = [sys.executable, "-m", "loggvern.cli"]
    subprocess.run([*cli, "init", str(store)], check=True, capture_output=True, cwd=ROOT)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [*cli, "ingest", str(store), "--source", source, "--workers", str(workers), str(log)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        sys.exit(f"loggvern ingest failed ({done.returncode}): {done.stderr.strip()}")
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, done.stdout.strip().splitlines()[-1], max(peak_kib, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--input", choices=("iptables", "mixed", "both"), default="both")
    parser.add_argument("--workdir", type=Path, help="keep files here instead of a temp dir")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="loggvern-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        inputs = ("iptables", "mixed") if args.input == "both" else (args.input,)
        for kind in inputs:
            bench(kind, work, args.lines, args.workers)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def bench(kind: str, work: Path, lines: int, workers: int) -> None:
    log = work / f"{kind}.log"
    t0 = time.perf_counter()
    if kind == "mixed":
        counts = write_mixed(log, lines)
        mix = ", ".join(f"{n:,} {name}" for name, n in counts.most_common())
    else:
        write_iptables_lines(log, lines)
        mix = "iptables"
    size_mb = log.stat().st_size / 1e6
    print(f"== {kind} input: {lines:,} lines, {size_mb:.0f} MB ({time.perf_counter() - t0:.1f}s)")
    print(f"   {mix}")
    base_s = run_baseline(log, work / f"baseline-{kind}.parquet")
    store = work / f"store-{kind}"
    shutil.rmtree(store, ignore_errors=True)
    source = "auto" if kind == "mixed" else "iptables"
    lv_s, final_line, peak_kib = run_loggvern(log, store, workers, source)
    print(f"loggvern: {final_line}")
    base_rate, lv_rate = lines / base_s, lines / lv_s
    print(f"baseline (DuckDB one statement): {base_s:6.2f}s  {base_rate:>10,.0f} rows/s")
    print(f"loggvern ingest --source {source} ({workers} workers): {lv_s:6.2f}s  "
          f"{lv_rate:>10,.0f} rows/s")  # fmt: skip
    print(f"ratio loggvern/baseline: {lv_rate / base_rate:.2f}  (target >= 1.0)")
    print(f"loggvern peak RSS: {peak_kib / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
