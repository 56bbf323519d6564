"""Build the separation-of-duties section: whose OS groups give them which roles now.

The map is the one the query service last started with (its `service_started` entry
holds it, so it is the map that was enforced, under the ledger's signatures); a store
never served is checked against the default `policies/roles.toml`. Membership is read
from the system's group database at report time: a person holding both analyst and
custodian may request a re-identification and approve other people's (never their own,
which break-glass refuses), and the auditor should know who they are.
"""

from __future__ import annotations

from audit.ledger_view import LedgerView
from audit.roles_models import RoleHolder, RolesSection
from service.role_policy import RolePolicy, RolesFileError, load_roles
from service.roles import Role
from store.ledger_entry import EntryKind


def build_roles_section(view: LedgerView) -> RolesSection:
    section = RolesSection()
    policy = _policy(view, section)
    if policy is None:
        return section
    section.groups = policy.describe()
    section.missing_groups = policy.missing_groups()
    for member in policy.members():
        if not member.roles:
            continue
        holder = RoleHolder(
            user=member.name, roles=sorted(member.roles), groups=list(member.groups)
        )
        section.holders.append(holder)
        if {Role.analyst, Role.custodian} <= member.roles:
            section.analyst_and_custodian.append(holder)
    both = section.analyst_and_custodian
    section.summary = (
        f"Holding a role: {len(section.holders)}; both analyst and custodian: {len(both)}."
    )
    if both:
        names = ", ".join(h.user for h in both)
        section.warn(
            f"both analyst and custodian: {names}. They can ask for a re-identification and "
            "approve other people's requests (never their own)."
        )
    for name in section.missing_groups:
        section.notes.append(f"group {name} is in the map but not on this system")
    return section


def _policy(view: LedgerView, section: RolesSection) -> RolePolicy | None:
    started = [
        e for e in view.of(EntryKind.SERVICE_STARTED) if isinstance(e.body.get("roles"), dict)
    ]
    if started:
        last = started[-1]
        roles = last.body["roles"]
        try:
            groups = {str(g): tuple(Role(r) for r in rs) for g, rs in roles["groups"].items()}
        except (KeyError, ValueError, TypeError, AttributeError):
            section.fail(f"entry {last.seq}: the service's role map is unreadable")
            return None
        section.source = (
            f"the map the query service started with at entry {last.seq} "
            f"({roles.get('path')}, sha256 {str(roles.get('sha256'))[:16]}…)"
        )
        return RolePolicy(str(roles.get("path")), str(roles.get("sha256")), groups)
    try:
        policy = load_roles()
    except RolesFileError as exc:
        section.fail(str(exc))
        return None
    section.source = f"no service start is recorded; the default map ({policy.path})"
    return policy
