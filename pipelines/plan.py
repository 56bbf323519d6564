"""Planning an ingest run: everything that can be refused is checked here, before any
work starts (store, format, input files, policy, alias directory, keys), and the inputs
are cut into line-aligned splits with their starting line numbers.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipelines.slices import FileSlice, Skipped, batch_slices, position_after
from schemas.policy import Policy, PolicyError, default_policy_path, load_policy
from store.keys import load_keys
from store.layout import StoreLayout
from store.manifest import FilePosition, load_manifest
from transforms.auto_detect import AUTO, FileDetection, detect_file
from transforms.batch import Batch
from transforms.identity import AliasDirectory
from transforms.parse.base import SourceFormat
from transforms.parse.registry import FORMATS, source_format
from transforms.read_lines import SPLIT_BYTES, Split, plan_range


class InputError(ValueError):
    """An input file cannot be read; the message names the file and reason."""


class ConfigError(ValueError):
    """An option is invalid (e.g. an unknown timezone)."""


def check_timezone(tz: str) -> str:
    """Accept an IANA zone name or a fixed offset (+HHMM, -HH:MM); refuse anything else."""
    if re.fullmatch(r"[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?", tz):
        return tz
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown timezone {tz!r} (use an IANA name or +HHMM)") from None
    return tz


def runner_args(options: Sequence[str]) -> list[str]:
    """`--runner-option KEY=VALUE` (or a bare KEY for a flag) as Beam's `--KEY=VALUE`."""
    args = []
    for option in options:
        key, eq, value = option.partition("=")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key):
            raise ConfigError(f"--runner-option {option!r}: expected KEY=VALUE, e.g. "
                              "job_endpoint=localhost:8099")  # fmt: skip
        args.append(f"--{key}={value}" if eq else f"--{key}")
    return args


@dataclass(frozen=True)
class InputFile:
    """An input as the ledger records it: which bytes this run read."""

    path: str
    sha256: str  # of the bytes read
    bytes: int
    start: int = 0  # byte offset read from (0: the whole file)
    first_line: int = 1


@dataclass(frozen=True)
class PlannedPolicy:
    policy: Policy
    path: Path


@dataclass(frozen=True)
class IngestPlan:
    layout: StoreLayout
    format_name: str  # a format, or "auto"
    policies: dict[str, PlannedPolicy]  # per format the run may parse
    aliases_path: Path | None
    paths: tuple[str, ...]
    splits: tuple[Split, ...]
    run_id: str
    timezone: str
    files: tuple[InputFile, ...] = ()
    detections: tuple[FileDetection, ...] = ()  # `auto`: what each file's sample looks like
    skipped: tuple[Skipped, ...] = ()  # inputs with nothing new (already ingested)
    positions: tuple[FilePosition, ...] = ()  # where each file stands after the commit
    contents: tuple[str, ...] = ()  # SHA-256 of whole files this run completes
    forget: tuple[str, ...] = ()  # positions of files gone for good (follow mode)
    replay: tuple[Batch, ...] = ()  # dead-lettered lines to parse again (no splits then)
    reference_time: str | None = None  # replay: when those lines were first read

    @property
    def auto(self) -> bool:
        return self.format_name == AUTO

    @property
    def fmt(self) -> SourceFormat:
        return source_format(self._single())

    @property
    def policy(self) -> Policy:
        return self.policies[self._single()].policy

    def _single(self) -> str:
        if self.auto:
            raise ValueError("an auto-detected run has a policy per format")
        return self.format_name

    @property
    def format_order(self) -> tuple[str, ...]:
        """Formats by how many sampled lines they claimed, most first."""
        seen: dict[str, int] = {}
        for d in self.detections:
            for name, n in d.counts.items():
                seen[name] = seen.get(name, 0) + n
        return tuple(sorted(seen, key=lambda name: (-seen[name], name)))

    @property
    def file_formats(self) -> dict[str, str]:
        return {d.path: d.fallback for d in self.detections if d.fallback}

    @property
    def total_bytes(self) -> int:
        return sum(s.end - s.start for s in self.splits)

    @property
    def total_lines(self) -> int:
        return sum(s.lines for s in self.splits) + sum(len(b.raw) for b in self.replay)

    @property
    def has_work(self) -> bool:
        return bool(self.splits or self.replay)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def plan_ingest(
    store: Path,
    format_name: str,
    paths: list[str],
    policy_path: Path | None = None,
    aliases_path: Path | None = None,
    timezone: str = "UTC",
    split_bytes: int = SPLIT_BYTES,
) -> IngestPlan:
    """A batch run over whole files; files already ingested are skipped (same content),
    files that grew since are read from where they were left."""
    layout = StoreLayout(store).require()
    policies = check_options(layout, format_name, policy_path, aliases_path, timezone)
    if not paths:
        raise InputError("no input files given")
    for path in paths:
        _check_readable(path)
    with ThreadPoolExecutor(max_workers=2) as pool:  # hashlib releases the GIL
        pending = [pool.submit(_sha256, p) for p in paths]
        # Meanwhile, cut each whole file: what a file not ingested before will need.
        ahead = {(p, 0, size): plan_range(p, 0, size, 1, split_bytes)
                 for p in paths if (size := os.path.getsize(p))}  # fmt: skip
        digests = [f.result() for f in pending]
    slices, skipped = batch_slices(paths, digests, load_manifest(layout))
    return _plan(layout, format_name, policies, aliases_path, timezone, slices, split_bytes,
                 tuple(skipped), ahead)  # fmt: skip


def plan_slices(
    store: Path,
    format_name: str,
    slices: list[FileSlice],
    policy_path: Path | None = None,
    aliases_path: Path | None = None,
    timezone: str = "UTC",
    split_bytes: int = SPLIT_BYTES,
    forget: tuple[str, ...] = (),
) -> IngestPlan:
    """A run over given byte ranges of files (follow mode's micro-batches)."""
    layout = StoreLayout(store).require()
    policies = check_options(layout, format_name, policy_path, aliases_path, timezone)
    plan = _plan(layout, format_name, policies, aliases_path, timezone, slices, split_bytes, ())
    return replace(plan, forget=forget)


def check_options(
    layout: StoreLayout,
    format_name: str,
    policy_path: Path | None,
    aliases_path: Path | None,
    timezone: str,
) -> dict[str, PlannedPolicy]:
    check_timezone(timezone)
    if format_name == AUTO:
        if policy_path is not None:
            raise ConfigError(
                "--policy cannot be combined with --source auto: each format detected uses "
                "its default policy (policies/<format>.toml)"
            )
        policies = {name: _policy(fmt, None) for name, fmt in FORMATS.items()}
    else:
        fmt = source_format(format_name)
        policies = {fmt.name: _policy(fmt, policy_path)}
    if aliases_path:
        AliasDirectory.load(aliases_path)  # refuse a bad directory now; workers read it again
    load_keys(layout.keys)  # refuse now if the keys are missing or exposed
    return policies


def _plan(
    layout: StoreLayout,
    format_name: str,
    policies: dict[str, PlannedPolicy],
    aliases_path: Path | None,
    timezone: str,
    slices: list[FileSlice],
    split_bytes: int,
    skipped: tuple[Skipped, ...],
    ahead: dict[tuple[str, int, int], list[Split]] | None = None,
) -> IngestPlan:
    run_id = new_run_id()
    splits: list[Split] = []
    files, positions = [], []
    for piece in slices:
        cut = (ahead or {}).get((piece.path, piece.start, piece.end))
        if cut is None:
            cut = plan_range(piece.path, piece.start, piece.end, piece.first_line, split_bytes)
        mine = [
            Split(s.path, len(splits) + i, s.start, s.end, s.first_line, s.lines)
            for i, s in enumerate(cut)
        ]
        splits.extend(mine)
        whole = piece.start == 0 and piece.sha256
        digest = piece.sha256 if whole else _sha256(piece.path, piece.start, piece.end)
        files.append(InputFile(os.path.realpath(piece.path), digest, piece.end - piece.start,
                               piece.start, piece.first_line))  # fmt: skip
        positions.append(position_after(piece, sum(s.lines for s in mine), run_id))
    detections: tuple[FileDetection, ...] = ()
    if format_name == AUTO:
        formats = list(FORMATS.values())
        detections = tuple(detect_file(p.path, formats) for p in slices)
    return IngestPlan(
        layout, format_name, policies, aliases_path, tuple(p.path for p in slices),
        tuple(splits), run_id, timezone, tuple(files), detections, skipped, tuple(positions),
        tuple(p.sha256 for p in slices if p.sha256),
    )  # fmt: skip


def _policy(fmt: SourceFormat, path: Path | None) -> PlannedPolicy:
    path = path or default_policy_path(fmt.name)
    policy = load_policy(path)
    if policy.source != fmt.name or policy.dataset != fmt.dataset.name:
        raise PolicyError(
            f"{path}: policy is for source {policy.source!r} ({policy.dataset}), "
            f"not {fmt.name!r} ({fmt.dataset.name})"
        )
    return PlannedPolicy(policy, path)


def _sha256(path: str, start: int = 0, end: int | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = (os.path.getsize(path) if end is None else end) - start
        while remaining > 0 and (block := fh.read(min(8 << 20, remaining))):
            digest.update(block)
            remaining -= len(block)
    return digest.hexdigest()


def _check_readable(path: str) -> None:
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a log file")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
