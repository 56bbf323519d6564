"""Fields a device-management (MDM) export may carry but the MDM must never see (seed
003, Jammerbugt's MDM terms): browser data, personal mail, documents, contacts, calendar,
passwords, photos, and location (allowed only to find a lost device, never in an
inventory). Parsers drop them at the edge and count their non-empty values per field,
never storing or quoting a value.

A field name is matched by its snake_case words (`browserHistory`, `Browser history`
and `browser-history` are all `browser_history`), so new spellings of the same thing are
caught without listing each one.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from schemas.policy import FORBIDDEN_FIELDS

MAX_NAME = 64

# A field is forbidden when one of its words is one of these ...
FORBIDDEN_WORDS = frozenset(
    {
        "browser", "browsing", "bookmark", "bookmarks", "cookie", "cookies", "history",
        "mailbox", "mails", "emails", "messages", "sms", "chat", "chats",
        "document", "documents", "files",
        "contact", "contacts", "calendar", "calendars", "appointments",
        "password", "passwords", "passcode", "passcodes", "credential", "credentials",
        "photo", "photos", "picture", "pictures", "camera",
        "location", "locations", "geolocation", "latitude", "longitude", "lat", "lon",
        "lng", "gps", "coordinates", "geo",
    }
)  # fmt: skip
# ... or when it names something personal: (personal | private | home) + one of these.
_PERSONAL = frozenset({"personal", "private", "home"})
_PERSONAL_THINGS = frozenset({"mail", "email", "address", "data", "folder", "drive"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def snake_case(name: str) -> str:
    """`browserHistory` / `Browser history` / `GPS-Location` → browser_history /
    browser_history / gps_location (at most MAX_NAME characters, [a-z0-9_] only)."""
    words = _NON_WORD.sub("_", _CAMEL.sub("_", name).lower()).strip("_")
    return words[:MAX_NAME].rstrip("_") or "unnamed"


def is_forbidden(name: str) -> bool:
    snake = snake_case(name)
    words = set(snake.split("_"))
    if snake in FORBIDDEN_FIELDS or words & FORBIDDEN_WORDS:
        return True
    return bool(words & _PERSONAL and words & _PERSONAL_THINGS)


# --- what counts as a value: non-null, and not an empty string, list or object ---------


def py_nonempty(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str | list):
        return len(value) > 0
    if isinstance(value, dict):
        return any(py_nonempty(v) for v in value.values())
    return True


def arrow_nonempty(values: pa.Array) -> pa.Array:
    """The same test as `py_nonempty`, vectorised (a boolean array without nulls)."""
    t = values.type
    if pa.types.is_null(t):
        return pa.array([False] * len(values), pa.bool_())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t):
        mask = pc.greater(pc.binary_length(values), 0)
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        mask = pc.greater(pc.list_value_length(values), 0)
    elif pa.types.is_struct(t):
        mask = pa.array([False] * len(values), pa.bool_())
        for child in values.flatten():  # children with the parent's nulls applied
            mask = pc.or_(mask, arrow_nonempty(child))
    else:
        mask = pc.is_valid(values)
    return pc.fill_null(mask, False)


def arrow_forbidden(name: str, values: pa.Array, prefix: str = "") -> dict[str, pa.Array]:
    """Per forbidden field inside this column (the column itself, or keys of nested
    objects, not inside arrays): a boolean array saying which rows carry a value."""
    path = f"{prefix}{snake_case(name)}"
    if is_forbidden(name):
        return {path: arrow_nonempty(values)}
    found: dict[str, pa.Array] = {}
    if pa.types.is_struct(values.type):
        for field, child in zip(values.type, values.flatten(), strict=True):
            for key, mask in arrow_forbidden(field.name, child, f"{path}.").items():
                found[key] = pc.or_(found[key], mask) if key in found else mask
    return found


def py_forbidden(name: str, value: Any, prefix: str = "") -> dict[str, bool]:
    """`arrow_forbidden` for one decoded JSON value."""
    path = f"{prefix}{snake_case(name)}"
    if is_forbidden(name):
        return {path: py_nonempty(value)}
    found: dict[str, bool] = {}
    if isinstance(value, dict):
        for key, child in value.items():
            for sub, present in py_forbidden(str(key), child, f"{path}.").items():
                found[sub] = found.get(sub, False) or present
    return found
