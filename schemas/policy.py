"""Source policies: which fields a log source keeps, how, and for which lawful purpose.

A policy is TOML validated by pydantic and refused at load time when it would break the
law's lines: default deny (a field not named is dropped), identity fields can never be
kept in clear, forbidden fields (content, keystrokes, browser history …) can never be
stored, `network_administration` never sees people and sees time to the hour at best.
"""

from __future__ import annotations

import ipaddress
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.datasets import DATASETS, ColumnSpec, DatasetSpec, IdentityKind
from schemas.purposes import Purpose


class Action(StrEnum):
    keep = "keep"
    pseudonymize = "pseudonymize"
    generalise = "generalise"
    drop = "drop"


class Generalisation(StrEnum):
    hour = "hour"  # timestamps truncated to the hour
    day = "day"  # timestamps truncated to the day
    subnet = "subnet"  # addresses reduced to their /24 (IPv4) or /48 (IPv6) network
    domain = "domain"  # e-mail addresses reduced to their domain
    extension = "extension"  # file names reduced to their extension
    program = "program"  # command lines reduced to the program's base name
    site = "site"  # URLs reduced to scheme, host and site root


# Field names that name bossware or content; a policy may only drop them.
FORBIDDEN_FIELDS = frozenset(
    {
        "browser_history", "browsing_history", "url_history", "web_history",
        "body", "message_body", "message_content", "content", "mail_content",
        "chat_messages", "chat_content", "attachments", "attachment_content",
        "keystrokes", "keystroke_count", "keylog", "screenshot", "screenshots",
        "screen_recording", "webcam", "camera", "microphone", "clipboard",
        "password", "passwords", "photos", "contacts", "calendar",
        "personal_email", "personal_documents", "apps_used", "active_window",
    }
)  # fmt: skip

# Generalisations that remove the identity from an identity field.
_IDENTITY_SAFE = {Generalisation.domain, Generalisation.site, Generalisation.extension}


class FieldRule(BaseModel):
    """`keep`, `drop`, `pseudonymize` or `generalise:<method>`."""

    model_config = ConfigDict(frozen=True)

    action: Action
    method: Generalisation | None = None

    @classmethod
    def parse(cls, text: str) -> FieldRule:
        action, _, method = text.partition(":")
        if action == "generalize":
            action = "generalise"
        rule = cls(action=Action(action), method=Generalisation(method) if method else None)
        if rule.action is Action.generalise and rule.method is None:
            raise ValueError("generalise needs a method, e.g. 'generalise:domain'")
        if rule.action is not Action.generalise and rule.method is not None:
            raise ValueError(f"only generalise takes a method, not {action}")
        return rule


class PurposeGrant(BaseModel):
    """What one lawful purpose may see of this source."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: tuple[str, ...]
    retention_days: int = Field(gt=0, le=3650)
    generalise: dict[str, Generalisation] = Field(default_factory=dict)
    # Optional row condition: column → allowed values; rows matching no purpose are refused.
    where: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class PersonalAddressRule(BaseModel):
    """External addresses that identify a person (e.g. an employee's home connection)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    when: dict[str, tuple[str, ...]]


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    version: int = Field(ge=1)
    source: str
    dataset: str
    description: str = ""
    internal_ranges: tuple[str, ...] = ()
    fields: dict[str, FieldRule]
    purposes: dict[Purpose, PurposeGrant]
    personal_addresses: tuple[PersonalAddressRule, ...] = ()
    # Statistics without a purpose suppress groups of fewer distinct people than this.
    k_anonymity: int = Field(default=5, ge=2, le=1000)

    @field_validator("fields", mode="before")
    @classmethod
    def _parse_rules(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("fields must be a table of field = rule")
        out = {}
        for name, rule in value.items():
            if name in FORBIDDEN_FIELDS and rule != "drop":
                raise ValueError(f"field {name!r} is forbidden (bossware/content); only 'drop'")
            out[name] = FieldRule.parse(rule) if isinstance(rule, str) else rule
        return out

    @field_validator("internal_ranges")
    @classmethod
    def _check_ranges(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for i, cidr in enumerate(value):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"internal_ranges[{i}] is not a network") from None
        return value

    @model_validator(mode="after")
    def _check_against_dataset(self) -> Policy:
        spec = DATASETS.get(self.dataset)
        if spec is None:
            raise ValueError(f"unknown dataset {self.dataset!r}; known: {', '.join(DATASETS)}")
        for name, rule in self.fields.items():
            if name in FORBIDDEN_FIELDS:
                continue
            col = _column(spec, name)
            _check_rule(col, rule)
        if not self.purposes:
            raise ValueError("a policy must grant at least one lawful purpose")
        stored = {n for n, r in self.fields.items() if r.action is not Action.drop}
        for purpose, grant in self.purposes.items():
            _check_grant(spec, purpose, grant, stored, self.fields)
        for rule in self.personal_addresses:
            if not _column(spec, rule.column).ip:
                raise ValueError(f"personal_addresses: {rule.column!r} is not an address field")
            for cond in rule.when:
                _column(spec, cond)
                if cond not in stored:
                    raise ValueError(f"personal_addresses: condition field {cond!r} is dropped")
        return self

    @property
    def spec(self) -> DatasetSpec:
        return DATASETS[self.dataset]

    def stored_columns(self) -> list[str]:
        """Dataset columns that survive minimisation, in dataset order."""
        return [
            c.name
            for c in self.spec.columns
            if c.name in self.fields and self.fields[c.name].action is not Action.drop
        ]


def _column(spec: DatasetSpec, name: str) -> ColumnSpec:
    try:
        return spec.column(name)
    except KeyError:
        raise ValueError(f"field {name!r} is not a column of dataset {spec.name}") from None


def _check_rule(col: ColumnSpec, rule: FieldRule) -> None:
    if col.identity is not None and rule.action is Action.keep:
        raise ValueError(f"field {col.name!r} identifies a person and can never be 'keep'")
    if col.ip and rule.action in (Action.keep, Action.generalise):
        raise ValueError(
            f"field {col.name!r} holds addresses: 'pseudonymize' (internal ones are encrypted) "
            "or 'drop'; purposes may then generalise to subnets"
        )
    if rule.action is Action.pseudonymize and col.identity is None and not col.ip:
        raise ValueError(f"field {col.name!r} holds no identifier to pseudonymize")
    if rule.action is Action.generalise:
        assert rule.method is not None
        _check_method(col, rule.method)
        if col.identity is not None and rule.method not in _IDENTITY_SAFE:
            raise ValueError(f"generalise:{rule.method} keeps the identity in {col.name!r}")


def _check_method(col: ColumnSpec, method: Generalisation) -> None:
    fits = {
        Generalisation.hour: col.type == "timestamp",
        Generalisation.day: col.type == "timestamp",
        Generalisation.subnet: col.ip,
        Generalisation.domain: col.type in ("string", "list<string>"),
        Generalisation.extension: col.type == "string",
        Generalisation.program: col.type == "string",
        Generalisation.site: col.type == "string",
    }
    if not fits[method]:
        raise ValueError(f"generalise:{method} does not apply to field {col.name!r}")


def _check_grant(
    spec: DatasetSpec,
    purpose: Purpose,
    grant: PurposeGrant,
    stored: set[str],
    rules: dict[str, FieldRule],
) -> None:
    for name in grant.columns:
        if name in FORBIDDEN_FIELDS:
            raise ValueError(f"purpose {purpose}: field {name!r} is forbidden")
        col = _column(spec, name)
        if name not in stored:
            raise ValueError(f"purpose {purpose}: field {name!r} is dropped by the field rules")
        if purpose is Purpose.network_administration and col.identity is IdentityKind.user:
            raise ValueError(
                f"purpose {purpose}: field {name!r} identifies a person; network "
                "administration sees devices and subnets, never people"
            )
    if "time" not in grant.columns:
        raise ValueError(f"purpose {purpose}: every purpose needs the 'time' column")
    for name, method in grant.generalise.items():
        if name not in grant.columns:
            raise ValueError(f"purpose {purpose}: generalise names {name!r}, not in columns")
        _check_method(_column(spec, name), method)
    if purpose is Purpose.network_administration:
        time_rule = grant.generalise.get("time") or rules["time"].method
        if time_rule not in (Generalisation.hour, Generalisation.day):
            raise ValueError(
                f"purpose {purpose}: time must be generalised to the hour or day, so network "
                "administration cannot become attendance or productivity tracking"
            )
    for name in grant.where:
        _column(spec, name)
        if name not in stored:
            raise ValueError(f"purpose {purpose}: where names {name!r}, which is dropped")


DEFAULT_POLICIES = Path(__file__).resolve().parents[1] / "policies"
NOT_FORMAT_POLICIES = frozenset({"roles.toml"})  # the query service's group → role map


def default_policy_path(source: str) -> Path:
    """The policy shipped in policies/ for a source format."""
    return DEFAULT_POLICIES / f"{source}.toml"


def default_policies() -> list[Policy]:
    paths = sorted(DEFAULT_POLICIES.glob("*.toml"))
    return [load_policy(path) for path in paths if path.name not in NOT_FORMAT_POLICIES]


class PolicyError(ValueError):
    """A policy file is unreadable or invalid; the message names the file and reason."""


def load_policy(path: Path) -> Policy:
    """Load and validate a policy; errors name the file and reason, never field values."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: not valid TOML ({exc})") from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{path}: invalid policy: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    """pydantic's messages quote the offending input; keep only location and reason."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(x) for x in err["loc"]) or "policy"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
