"""Fast writer of realistic netfilter/UFW firewall lines for benchmarks.

The municipality generator builds every event in Python and tops out around 100k
lines a second; ingest benchmarks need millions of lines. This writer draws whole
columns at once with numpy and formats them with one f-string per line, writing in
large blocks. Lines look like the municipality's firewall log: BSD syslog header from
fv-fw01 (perimeter) or fv-fw02 (client/server segment), local times spread over one
day with an office-hours peak and non-decreasing through the file, TCP and UDP, and a
trailing `USER=<upn>` from a pool of `users` people.

    python -m pipelines.synthetic.iptables_bulk OUT N [--seed S] [--users U]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np

from pipelines.synthetic.org import DOMAIN, FIRST_NAMES, LAST_NAMES, ascii_name

CHUNK = 200_000
DAY = "Nov 16"
_TCP_PORTS = np.array([443, 80, 8443, 445, 3389, 22, 993])
_TCP_WEIGHTS = np.array([0.78, 0.1, 0.03, 0.04, 0.02, 0.02, 0.01])
_UDP_PORTS = np.array([53, 443, 123])
_UDP_WEIGHTS = np.array([0.6, 0.35, 0.05])
_TCP_TAIL = "WINDOW=64240 RES=0x00 SYN URGP=0 "


def user_pool(users: int, seed: int = 1) -> list[str]:
    """`users` distinct UPNs built from Norwegian names."""
    rng = random.Random(f"bulk-users/{seed}")
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < users:
        local = f"{ascii_name(rng.choice(FIRST_NAMES))}.{ascii_name(rng.choice(LAST_NAMES))}"
        n, candidate = 2, local
        while candidate in seen:
            candidate, n = f"{local}{n}", n + 1
        seen.add(candidate)
        out.append(f"{candidate}@{DOMAIN}")
    return out


def _second_cdf() -> np.ndarray:
    """Cumulative share of a day's traffic by second: a night floor plus an office peak."""
    secs = np.arange(86400)
    density = 0.12 + np.exp(-0.5 * ((secs - 11.5 * 3600) / (2.6 * 3600)) ** 2)
    cdf = np.cumsum(density)
    return cdf / cdf[-1]


def _headers(hosts: tuple[str, ...]) -> list[list[str]]:
    stamps = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
    return [[f"{DAY} {st} {host} kernel: [UFW " for st in stamps] for host in hosts]


def write_iptables_lines(path: Path, n: int, *, seed: int = 1, users: int = 500) -> None:
    """Write exactly `n` lines to `path` (deterministic for `seed`)."""
    if n < 0 or users < 1:
        raise ValueError("n must be >= 0 and users >= 1")
    rng = np.random.default_rng(seed)
    upns = user_pool(users, seed)
    dept = rng.integers(1, 12, users)
    host_no = rng.integers(11, 251, users)
    user_ip = [f"10.20.{d}.{h}" for d, h in zip(dept.tolist(), host_no.tolist(), strict=True)]
    macs = rng.integers(0, 256, (users, 6)).tolist()
    user_mac = [":".join(f"{b:02x}" for b in m) for m in macs]
    user_ttl = np.where(rng.random(users) < 0.7, 127, 63).tolist()
    fw_mac = ("00:16:3e:5a:1e:3a", "00:16:3e:9e:ec:2c")
    outs = ("eth0", "eth2")
    # per (firewall, user): everything from IN= to "DST="
    pre = [
        [
            f"IN=eth1 OUT={outs[f]} MAC={fw_mac[f]}:{user_mac[u]}:08:00 SRC={user_ip[u]} DST="
            for u in range(users)
        ]
        for f in range(2)
    ]
    tail = [f"USER={upn}" for upn in upns]
    ext = rng.integers(1, 224, (4096, 4))
    ext[:, 0] = np.where(np.isin(ext[:, 0], (10, 127, 172, 192)), 185, ext[:, 0])
    dsts = (
        [".".join(map(str, row)) for row in ext.tolist()],
        [f"10.10.0.{i}" for i in (5, 10, 21, 22, 30, 40, 50, 60, 70)],
    )
    headers = _headers(("fv-fw01", "fv-fw02"))
    cdf = _second_cdf()
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for start in range(0, n, CHUNK):
            m = min(CHUNK, n - start)
            q = (np.arange(start, start + m) + 0.5) / n
            sec = np.minimum(np.searchsorted(cdf, q), 86399).tolist()
            fw = (rng.random(m) < 0.25).astype(np.int64)
            user = rng.integers(0, users, m).tolist()
            dst_ix = np.where(
                fw == 1, rng.integers(0, len(dsts[1]), m), rng.integers(0, len(dsts[0]), m)
            ).tolist()
            tcp = rng.random(m) < 0.82
            dpt = np.where(
                tcp,
                rng.choice(_TCP_PORTS, m, p=_TCP_WEIGHTS),
                rng.choice(_UDP_PORTS, m, p=_UDP_WEIGHTS),
            ).tolist()
            length = np.where(tcp, rng.choice((52, 60), m), rng.integers(40, 1400, m)).tolist()
            action = np.where(rng.random(m) < 0.03, "BLOCK] ", "ALLOW] ").tolist()
            spt = rng.integers(49152, 65536, m).tolist()
            ipid = rng.integers(0, 65536, m).tolist()
            fwl = fw.tolist()
            tcpl = tcp.tolist()
            lines = [
                f"{headers[w][s]}{a}{pre[w][u]}{dsts[w][d]} LEN={ln} TOS=0x00 PREC=0x00 "
                f"TTL={user_ttl[u]} ID={i} DF PROTO={'TCP' if t else 'UDP'} SPT={sp} DPT={dp} "
                f"{_TCP_TAIL if t else f'LEN={ln - 20} '}{tail[u]}"
                for w, s, a, u, d, ln, i, t, sp, dp in zip(
                    fwl, sec, action, user, dst_ix, length, ipid, tcpl, spt, dpt, strict=True
                )
            ]
            f.write("\n".join(lines))
            f.write("\n")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Write N synthetic iptables/UFW log lines.")
    p.add_argument("out", type=Path)
    p.add_argument("n", type=int)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--users", type=int, default=500)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    write_iptables_lines(args.out, args.n, seed=args.seed, users=args.users)
    print(f"wrote {args.n} lines to {args.out} in {time.perf_counter() - t0:.2f}s")


if __name__ == "__main__":
    main()
