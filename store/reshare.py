"""Resharing the vault key: new custodians (or a new quorum) get shares of a NEW key, and
every vault entry is re-sealed to it, so the old shares open nothing in the store.

Splitting the same private key again would not retire anything: the old shares would
still combine to it. So a reshare needs the current quorum's shares (checked against
the stored commitments, as break-glass approvals are), rebuilds the old key in memory,
makes a new key pair, re-seals every entry (`store.vault_reseal`), splits the new key
among the new custodians and switches the store over in one atomic step
(`store.reshare_stage` documents the order and how an interrupted reshare is finished
or thrown away). It holds the store writer lock throughout, so no ingest seals to the
old key meanwhile, and voids open break-glass requests (their approvals were made by
the old custodians) under the requests lock, which it keeps until the switch.

Ledger: `custodians_reshare_intent` before anything is written, `custodians_reshared`
(ref = the intent) once done: old and new custodians, quorums and key fingerprints,
entries re-sealed, requests voided. Never a share or a key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from store.custodians import (
    SHARE_SUFFIX,
    VAULT_CONFIG_FILE,
    CustodianError,
    Share,
    VaultConfig,
    load_vault_config,
    new_vault_key,
    rebuild_private_key,
    write_share_files,
    write_vault_config,
)
from store.exchange import exchange_supported
from store.keys import load_keys
from store.layout import StoreLayout
from store.ledger import Ledger, LedgerError
from store.ledger_entry import EntryKind
from store.reshare_stage import ResharePlan, Staging, interrupted
from store.vault import entries_dir, vault_mac_keys
from store.vault_reseal import reseal_file
from store.write_lock import StoreBusyError, store_writer

VoidRequests = Callable[[], AbstractContextManager[list[str]]]


class ReshareRefused(CustodianError):
    """Refused before anything changed; `route` names the rule for the ledger."""

    def __init__(self, route: str, message: str) -> None:
        super().__init__(message)
        self.route = route


class ReshareUnfinished(OSError):
    """The new key is live but the last steps failed; running reshare again finishes."""


@dataclass(frozen=True)
class ReshareResult:
    body: dict[str, Any]  # as ledgered in `custodians_reshared`
    share_files: tuple[Path, ...]  # the new shares, to hand out and delete
    recovered: bool  # an interrupted reshare was finished instead


def reshare(
    layout: StoreLayout,
    ledger: Ledger,
    names: list[str],
    threshold: int,
    shares: list[Share],
    void_requests: VoidRequests,
    on_wait: Callable[[], None] | None = None,
) -> ReshareResult:
    staging = Staging(layout)
    with _store_writer(layout, on_wait):
        finished = _finish_interrupted(staging, ledger)
        if finished is not None:
            return finished
        old = load_vault_config(layout)
        _check_vault_dir(layout)
        old_key = _old_key(old, shares)
        if not exchange_supported(staging.root):
            raise ReshareRefused(
                "invalid_request",
                f"{layout.root}: the filesystem cannot exchange directories atomically "
                "(renameat2), which a crash-safe reshare needs; nothing changed",
            )
        fresh = new_vault_key(names, threshold)
        mac_keys = vault_mac_keys(load_keys(layout.keys))
        body = {"old": _summary(old), "new": _summary(fresh.config),
                "quorum": sorted(s.custodian for s in shares)}  # fmt: skip
        intent = ledger.append(EntryKind.CUSTODIANS_RESHARE_INTENT, body)
        try:
            staging.create()
            write_vault_config(staging.config_path(), fresh.config)
            write_share_files(staging.shares, fresh)
            entries = files = 0
            for source in sorted(entries_dir(layout).glob("*.parquet")):
                entries += reseal_file(source, staging.entries / source.name, old_key,
                                       fresh.config.public(), mac_keys)  # fmt: skip
                files += 1
            del old_key, fresh
            with void_requests() as voided:
                result = {**body, "entries": entries, "entry_files": files,
                          "voided_requests": voided}  # fmt: skip
                plan = ResharePlan(
                    old_vault_key=old.fingerprint, new_vault_key=body["new"]["vault_key"],
                    new_custodians=tuple(names), intent_seq=intent.seq, result=result,
                )  # fmt: skip
                staging.write_plan(plan)
                staging.commit()
        except BaseException as exc:
            if _live_key(layout) == body["new"]["vault_key"]:
                raise ReshareUnfinished(_unfinished(staging, exc)) from None
            staging.discard()
            with suppress(LedgerError):  # the original error is what the caller must see
                ledger.append(EntryKind.CUSTODIANS_RESHARED,
                              {**body, "outcome": "failed", "error": type(exc).__name__},
                              ref=intent.seq)  # fmt: skip
            raise
        return _finish(staging, ledger, plan, recovered=False)


def _finish(staging: Staging, ledger: Ledger, plan: ResharePlan, recovered: bool) -> ReshareResult:
    try:
        retired = staging.finish(plan)
    except OSError as exc:
        raise ReshareUnfinished(_unfinished(staging, exc)) from None
    body = {**plan.result, "retired_share_files": retired, "outcome": "ok"}
    if recovered:
        body["recovered"] = True
    ledger.append(EntryKind.CUSTODIANS_RESHARED, body, ref=plan.intent_seq)
    staging.discard()
    paths = tuple(staging.live_shares / f"{n}{SHARE_SUFFIX}" for n in plan.new_custodians)
    return ReshareResult(body, paths, recovered)


def _finish_interrupted(staging: Staging, ledger: Ledger) -> ReshareResult | None:
    """An interrupted reshare: finished if its key went live, else thrown away."""
    plan = interrupted(staging.layout)
    if plan is None:
        return None
    for entry in ledger.entries():
        if entry.kind is EntryKind.CUSTODIANS_RESHARED and entry.ref == plan.intent_seq:
            staging.discard()  # ledgered before the crash; only the staging was left
            return ReshareResult(entry.body, (), recovered=True)
    return _finish(staging, ledger, plan, recovered=True)


def _old_key(old: VaultConfig, shares: list[Share]) -> X25519PrivateKey:
    """The current vault key from a verified quorum of the current custodians."""
    given = {s.custodian for s in shares}
    if len(given) < old.threshold:
        raise ReshareRefused(
            "no_quorum",
            f"{len(given)} custodian share(s) given; a reshare needs the current quorum, "
            f"{old.threshold} of {', '.join(old.names)}",
        )
    try:
        return rebuild_private_key(old, shares)
    except CustodianError as exc:
        raise ReshareRefused("bad_share", str(exc)) from None


def _check_vault_dir(layout: StoreLayout) -> None:
    """Only what the reshare knows how to carry over may be in the vault directory."""
    vault = entries_dir(layout).parent
    known = {VAULT_CONFIG_FILE, entries_dir(layout).name}
    unknown = sorted(p.name for p in vault.iterdir() if p.name not in known)
    if unknown:
        raise ReshareRefused(
            "invalid_request",
            f"{vault}: holds {', '.join(unknown)}, which a reshare would not carry over; "
            "nothing changed",
        )


def _summary(config: VaultConfig) -> dict[str, Any]:
    return {"custodians": config.names, "threshold": config.threshold,
            "vault_key": config.fingerprint}  # fmt: skip


def _live_key(layout: StoreLayout) -> str | None:
    try:
        return load_vault_config(layout).fingerprint
    except CustodianError:
        return None


def _unfinished(staging: Staging, exc: BaseException) -> str:
    return (
        f"the new vault key is live, but finishing the reshare failed ({type(exc).__name__}); "
        f"run the same `loggvern custodians reshare` again to finish it (the new shares are "
        f"in {staging.shares} until then)"
    )


@contextmanager
def _store_writer(layout: StoreLayout, on_wait: Callable[[], None] | None) -> Iterator[None]:
    """The store writer lock; if an ingest, replay or retention run holds it, say so
    and wait for it."""
    with ExitStack() as stack:
        try:
            stack.enter_context(store_writer(layout, wait=False))
        except StoreBusyError:
            if on_wait is not None:
                on_wait()
            stack.enter_context(store_writer(layout))
        yield
