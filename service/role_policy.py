"""The group → role map the service enforces (`policies/roles.toml`, or `serve --roles
FILE`), and a user's roles from the system's group database at the time of the call.

Groups are looked up for the user name the kernel gave (`os.getgrouplist` of the
passwd entry's primary group), not taken from the calling process: someone removed
from a group loses its role on their next call, without logging out.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.roles import Role

DEFAULT_ROLES_FILE = Path(__file__).resolve().parents[1] / "policies" / "roles.toml"
_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$")


class RolesFileError(ValueError):
    """The roles file is unreadable or invalid; the service does not start."""


class RolesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    groups: dict[str, list[Role]] = Field(min_length=1)

    @field_validator("groups")
    @classmethod
    def _groups(cls, groups: dict[str, list[Role]]) -> dict[str, list[Role]]:
        for name, roles in groups.items():
            if not _GROUP_NAME.match(name):
                raise ValueError(f"{name!r} is not a group name")
            if not roles:
                raise ValueError(f"group {name!r} maps to no role")
            if len(set(roles)) != len(roles):
                raise ValueError(f"group {name!r} names a role twice")
        return groups


@dataclass(frozen=True)
class Member:
    """One OS user as the service sees them."""

    name: str
    groups: tuple[str, ...]  # every group of theirs that the map names
    roles: frozenset[Role]


@dataclass(frozen=True)
class RolePolicy:
    path: str
    sha256: str
    groups: dict[str, tuple[Role, ...]]

    def member(self, user: str) -> Member:
        """The user's mapped groups and roles now; unknown user: no roles."""
        try:
            entry = pwd.getpwnam(user)
            gids = os.getgrouplist(user, entry.pw_gid)
        except (KeyError, OSError):
            return Member(user, (), frozenset())
        names = sorted({n for n in (_group_name(g) for g in gids) if n in self.groups})
        roles = frozenset(r for n in names for r in self.groups[n])
        return Member(user, tuple(names), roles)

    def missing_groups(self) -> list[str]:
        return sorted(name for name in self.groups if _gid(name) is None)

    def members(self) -> list[Member]:
        """Everyone in a mapped group (listed members, and users whose primary group
        it is), with all their roles."""
        gids = {g for g in (_gid(name) for name in self.groups) if g is not None}
        names = {m for name in self.groups for m in _listed_members(name)}
        names |= {p.pw_name for p in pwd.getpwall() if p.pw_gid in gids}
        return [self.member(name) for name in sorted(names)]

    def describe(self) -> dict[str, list[str]]:
        return {name: [r.value for r in roles] for name, roles in sorted(self.groups.items())}


def load_roles(path: Path | None = None) -> RolePolicy:
    path = path or DEFAULT_ROLES_FILE
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RolesFileError(f"{path}: cannot read the roles file ({exc.strerror})") from None
    try:
        parsed = RolesFile.model_validate(tomllib.loads(raw.decode("utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RolesFileError(f"{path}: not valid TOML ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RolesFileError(f"{path}: {where}: {first['msg']}") from None
    groups = {name: tuple(roles) for name, roles in parsed.groups.items()}
    return RolePolicy(str(path.absolute()), hashlib.sha256(raw).hexdigest(), groups)


def _group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def _gid(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def _listed_members(name: str) -> list[str]:
    try:
        return list(grp.getgrnam(name).gr_mem)
    except KeyError:
        return []
