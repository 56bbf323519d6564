"""Ingest benchmark: loggvern vs a one-statement DuckDB baseline on the same file, and
loggvern's `--workers 1` (one process, two threads) vs `--workers N` (N worker
processes) on that same file.

Generates N iptables lines with user names, runs the bare DuckDB hack below that parses
a few fields and hashes two of them, then `loggvern ingest` as a subprocess once with
`--workers 1` and once with `--workers N` (default 2), each into a fresh store. Prints
rows/s of each, the ratios loggvern/baseline and workers N/workers 1 (machines are noisy:
compare the ratios, not absolute times) and the peak memory of each ingest's whole
process tree (benchmarks/process_tree.py: sampled sum of RSS over the parent and its
worker processes).

The mixed input (`--input mixed`, run by default after the iptables one) interleaves the
firewall lines with lines of every other per-line format and ingests with
`--source auto`; the baseline runs the same statement over the same file.

    python benchmarks/ingest_bench.py [--lines 1000000] [--workers 2] [--input both]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.process_tree import Measured, run_measured  # noqa: E402
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


def run_loggvern(log: Path, store: Path, workers: int, source: str = "iptables") -> Measured:
    cli = [sys.executable, "-m", "loggvern.cli"]
    shutil.rmtree(store, ignore_errors=True)
    subprocess.run([*cli, "init", str(store)], check=True, capture_output=True, cwd=ROOT)
    cmd = [*cli, "ingest", str(store), "--source", source, "--workers", str(workers), str(log)]
    done = run_measured(cmd, ROOT)
    if done.returncode != 0:
        sys.exit(f"loggvern ingest failed ({done.returncode}): {done.stderr.strip()}")
    shutil.rmtree(store, ignore_errors=True)
    return done


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
    source = "auto" if kind == "mixed" else "iptables"
    base_rate = lines / base_s
    print(f"baseline (DuckDB one statement): {base_s:6.2f}s  {base_rate:>10,.0f} rows/s")
    rates = {}
    for n in dict.fromkeys((1, workers)):
        m = run_loggvern(log, work / f"store-{kind}-{n}", n, source)
        rates[n] = lines / m.seconds
        what = "1 process, 2 threads" if n == 1 else f"{n} worker processes"
        print(f"loggvern ingest --source {source} --workers {n} ({what}): {m.seconds:6.2f}s  "
              f"{rates[n]:>10,.0f} rows/s  ratio loggvern/baseline {rates[n] / base_rate:.2f} "
              "(target >= 1.0)")  # fmt: skip
        print(f"   {m.stdout.strip().splitlines()[-1]}; peak RSS {m.peak_sum_kib / 1024:,.0f} MiB "
              f"(sum over {m.processes} processes, sampled; largest one "
              f"{m.peak_rusage_kib / 1024:,.0f} MiB)")  # fmt: skip
    if workers != 1:
        print(f"ratio --workers {workers} / --workers 1 (rows/s): {rates[workers] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
