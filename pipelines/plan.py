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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas.policy import Policy, PolicyError, default_policy_path, load_policy
from store.keys import load_keys
from store.layout import StoreLayout
from transforms.auto_detect import AUTO, FileDetection, detect_file
from transforms.identity import AliasDirectory
from transforms.parse.base import SourceFormat
from transforms.parse.registry import FORMATS, source_format
from transforms.read_lines import SPLIT_BYTES, Split, plan_splits


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
    sha256: str
    bytes: int


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
        return sum(s.lines for s in self.splits)


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
    layout = StoreLayout(store).require()
    check_timezone(timezone)
    if not paths:
        raise InputError("no input files given")
    for path in paths:
        _check_readable(path)
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
    splits: list[Split] = []
    # SHA-256 for the ledger in a thread while the files are cut (hashlib releases the GIL)
    with ThreadPoolExecutor(max_workers=1) as pool:
        digests = pool.map(_sha256, paths)
        for path in paths:
            splits.extend(_splits(path, split_bytes, len(splits)))
        files = [
            InputFile(os.path.realpath(p), d, os.path.getsize(p))
            for p, d in zip(paths, digests, strict=True)
        ]
    detections = ()
    if format_name == AUTO:
        formats = list(FORMATS.values())
        detections = tuple(detect_file(p, formats) for p in paths)
    return IngestPlan(
        layout, format_name, policies, aliases_path, tuple(paths), tuple(splits),
        new_run_id(), timezone, tuple(files), detections,
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


def _splits(path: str, split_bytes: int, first_index: int) -> list[Split]:
    """The file's splits, numbered on from `first_index` across all inputs of the run."""
    return [
        Split(s.path, first_index + i, s.start, s.end, s.first_line, s.lines)
        for i, s in enumerate(plan_splits(path, split_bytes))
    ]


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_readable(path: str) -> None:
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a log file")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
