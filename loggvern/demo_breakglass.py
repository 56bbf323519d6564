"""The demo's break-glass round: the DLP incident's top pseudonym is requested, two of
three custodians approve with their shares, and the quorum reveals it, exactly as
`loggvern breakglass request|approve|reveal` would."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from queries.breakglass.approve import approve_request
from queries.breakglass.create import file_request
from queries.breakglass.opening import describe
from queries.breakglass.request import BreakGlassError
from queries.breakglass.reveal import reveal
from store.custodians import read_share
from store.layout import StoreLayout
from store.ledger import Ledger
from transforms.identity import AliasDirectory

CUSTODIANS = ["dpo", "union-rep", "security-manager"]
THRESHOLD = 2
JUSTIFICATION = (
    "DLP: repeated matches of national identity numbers sent to a private mail address; "
    "the person must be interviewed before leaving"
)


def breakglass_round(
    layout: StoreLayout,
    case_id: str,
    pseudonym: str,
    analyst: str,
    aliases: AliasDirectory,
    console: Console,
) -> bool:
    requester = Ledger(layout, analyst)
    request = file_request(
        layout, requester, case_id=case_id, purpose="security_incident",
        justification=JUSTIFICATION, pseudonyms=[pseudonym],
        notify="deferred:the employee is told after the interview, so evidence is kept",
    )  # fmt: skip
    requester.checkpoint()
    console.print(f"   {analyst} requests {request.id} for {pseudonym} (case {case_id})")
    try:
        approve_request(layout, requester, request.id, analyst, _share(layout, "dpo"))
    except BreakGlassError as exc:
        console.print(f"   [yellow]refused[/yellow] the requester approving: {escape(str(exc))}")
    requester.checkpoint()
    quorum = CUSTODIANS[:THRESHOLD]
    for name in quorum:
        custodian = Ledger(layout, name)
        approve_request(layout, custodian, request.id, name, _share(layout, name))
        custodian.checkpoint()
        console.print(f"   {name} approves (share checked against its commitment)")
    shares = [_share(layout, name) for name in quorum]
    _, opened = reveal(layout, requester, request.id, shares)
    requester.checkpoint()
    for revealed, (_, identity) in opened.identities.items():
        name = escape(describe(identity, aliases))
        console.print(f"   revealed with {' + '.join(quorum)} present: {revealed} → {name}")
    console.print(
        f"   the employee is to be told by {request.notify.due:%Y-%m-%d} (deferred notice)",
        style="dim",
    )
    return list(opened.identities) == [pseudonym]


def _share(layout: StoreLayout, name: str):  # type: ignore[no-untyped-def]
    # A demo keeps the shares in the store; a real store hands them out (see `init`).
    return read_share(layout.root / "custodians" / f"{name}.share")
