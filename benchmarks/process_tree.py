"""Peak memory of a command and every process it starts, for the benchmarks.

With `--workers N` an ingest is a parent and N Beam worker processes, so the parent's
own peak RSS says little. This runs the command and samples /proc every `interval`
seconds: the peak of the *sum* of the tree's RSS (an upper bound: pages shared between
the processes, e.g. libraries, count once per process) and the peak of the largest
single process. It also reads the kernel's exact per-process peak (getrusage of the
waited-for children, `ru_maxrss`), which sampling cannot miss but which is per process,
not a sum.
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_sum_kib: int  # sampled: largest sum of RSS over the tree
    peak_single_kib: int  # sampled: largest RSS of one process
    peak_rusage_kib: int  # kernel: largest peak RSS of one process (exact)
    processes: int  # how many processes the tree had at most


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(root: int) -> list[int]:
    """RSS of `root` and all its descendants, one figure per process."""
    tree, todo, sizes = _children(), [root], []
    while todo:
        pid = todo.pop()
        sizes.append(_rss_kib(pid))
        todo.extend(tree.get(pid, ()))
    return sizes


def run_measured(cmd: list[str], cwd: Path, interval: float = 0.1) -> Measured:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, text=True)
        peak_sum = peak_single = processes = 0
        while proc.poll() is None:
            sizes = tree_rss_kib(proc.pid)
            peak_sum = max(peak_sum, sum(sizes))
            peak_single = max(peak_single, max(sizes, default=0))
            processes = max(processes, len(sizes))
            time.sleep(interval)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest of any waited-for descendant so far: it only
    # tells this command's peak when it is larger than what came before.
    rusage = after if after > before else peak_single
    return Measured(
        proc.returncode, stdout, stderr, seconds, peak_sum, peak_single, rusage, processes
    )
