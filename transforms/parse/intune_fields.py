"""From an Intune export's fields (CSV columns or JSON keys) to device_inventory columns.

Two steps shared by both formats. `select_arrow` (a whole table, vectorised) and
`select_record` (one decoded JSON object, for lines pyarrow cannot read) pick each
column's source field by name (case, spaces and punctuation ignored), flag the fields
the MDM must never see (mdm_forbidden) and flag Graph collection pages; they keep raw
strings. `finish` then checks, normalises and counts, vectorised, on the union of both.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.parse.base import ROW

from .mdm_forbidden import arrow_forbidden, is_forbidden, py_forbidden

# Output column → accepted field names, normalised by `field_key`, best first.
ALIASES: dict[str, tuple[str, ...]] = {
    "device": ("devicename", "manageddevicename", "device", "computername"),
    "owner": ("primaryuserupn", "userprincipalname", "upn", "owner", "primaryuser",
              "primaryuseremailaddress", "emailaddress", "useremailaddress"),
    "ownership": ("ownership", "manageddeviceownertype", "ownertype", "deviceownership"),
    "model": ("model", "devicemodel"),
    "manufacturer": ("manufacturer",),
    "serial": ("serialnumber", "serial", "serialno"),
    "os": ("os", "operatingsystem", "platform"),
    "os_version": ("osversion", "operatingsystemversion"),
    "compliance": ("compliance", "compliancestate", "compliancestatus"),
    "phone_number": ("phonenumber", "phone", "workphonenumber"),
    "last_sync": ("lastcheckin", "lastsyncdatetime", "lastsync", "lastcheckindatetime",
                  "lastcontact"),
    "installed_apps": ("installedapps", "detectedapps", "apps", "applications",
                       "installedapplications"),
}  # fmt: skip
SCALARS = tuple(t for t in ALIASES if t != "installed_apps")
APP_NAME_KEYS = ("displayname", "name", "appname")
PAGE_KEY = "value"  # a Graph collection page: {"value": [device, device, ...]}
PAGE = "page"
FLAG = "forbidden:"
_RESOLVE = {alias: (target, rank) for target, names in ALIASES.items()
            for rank, alias in enumerate(names)}  # fmt: skip
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def field_key(name: str) -> str:
    """`Primary user UPN` / `primaryUserUpn` / `primary_user_upn` → primaryuserupn."""
    return _NON_ALNUM.sub("", name.lower())


def target_of(name: str) -> str | None:
    """The output column a source field fills, if any (forbidden fields fill none)."""
    if is_forbidden(name):
        return None
    found = _RESOLVE.get(field_key(name))
    return found[0] if found else None


class NeedsPython(Exception):
    """The table holds a shape only the per-record path reads the same way."""


# --- the vectorised path ---------------------------------------------------------------


def select_arrow(table: pa.Table, rows: pa.Array) -> pa.Table:
    n = table.num_rows
    picks: dict[str, list[tuple[int, int, pa.Array]]] = {}
    flags: dict[str, pa.Array] = {}
    page = pa.array(np.zeros(n, bool))
    for i, name in enumerate(table.column_names):
        col = table.column(i).combine_chunks()
        for path, mask in arrow_forbidden(name, col).items():
            flags[path] = pc.or_(flags[path], mask) if path in flags else mask
        key = field_key(name)
        if key == PAGE_KEY and _is_list(col.type):
            page = pc.fill_null(pc.is_valid(col), False)
        target = target_of(name)
        if target is None:
            continue
        arr = _apps_arrow(col) if target == "installed_apps" else _string_arrow(col)
        picks.setdefault(target, []).append((_RESOLVE[key][1], i, arr))
    out: dict[str, pa.Array] = {ROW: rows}
    for target in ALIASES:
        kind = pa.list_(pa.string()) if target == "installed_apps" else pa.string()
        arrays = [a for _, _, a in sorted(picks.get(target, []), key=lambda p: p[:2])]
        out[target] = pc.coalesce(*arrays) if arrays else pa.nulls(n, kind)
    out[PAGE] = page
    for path, mask in flags.items():
        out[FLAG + path] = mask
    return pa.table(out)


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)


def _string_arrow(col: pa.Array) -> pa.Array:
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.string())
    if pa.types.is_integer(t):
        return col.cast(pa.string())
    if pa.types.is_timestamp(t):  # pyarrow.json inferred it: the original text is gone
        raise NeedsPython("timestamp inferred for a field under an unusual name")
    return pa.nulls(len(col), pa.string())


def _apps_arrow(col: pa.Array) -> pa.Array:
    t = col.type
    n = len(col)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.split_pattern(col.cast(pa.string()), ";")
    if not _is_list(t):
        return pa.nulls(n, pa.list_(pa.string()))
    col = col.cast(pa.list_(col.type.value_type))
    item = col.type.value_type
    values = col.values
    if pa.types.is_string(item) or pa.types.is_large_string(item):
        names = values.cast(pa.string())
    elif pa.types.is_struct(item):
        children = values.flatten()
        candidates = [
            children[j].cast(pa.string())
            for key in APP_NAME_KEYS
            for j, f in enumerate(item)
            if field_key(f.name) == key and pa.types.is_string(f.type)
        ]
        names = pc.coalesce(*candidates) if candidates else pa.nulls(len(values), pa.string())
    else:
        names = pa.nulls(len(values), pa.string())
    return pa.ListArray.from_arrays(col.offsets, names, mask=pc.is_null(col))


# --- the per-record path (same results as the vectorised one) ---------------------------


def select_record(rec: dict[str, Any]) -> dict[str, Any]:
    """One decoded JSON object → the fields `select_arrow` would give its row."""
    picks: dict[str, list[tuple[int, int, Any]]] = {}
    out: dict[str, Any] = {PAGE: False}
    for i, (name, value) in enumerate(rec.items()):
        for path, present in py_forbidden(name, value).items():
            out[FLAG + path] = out.get(FLAG + path, False) or present
        key = field_key(name)
        if key == PAGE_KEY and isinstance(value, list):
            out[PAGE] = True
        target = target_of(name)
        if target is None:
            continue
        got = _apps_py(value) if target == "installed_apps" else _string_py(value)
        picks.setdefault(target, []).append((_RESOLVE[key][1], i, got))
    for target in ALIASES:
        ranked = sorted(picks.get(target, []), key=lambda p: p[:2])
        out[target] = next((v for _, _, v in ranked if v is not None), None)
    return out


def _string_py(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _apps_py(value: Any) -> list[str | None] | None:
    if isinstance(value, str):
        return value.split(";")
    if not isinstance(value, list):
        return None
    return [_app_name(item) for item in value]


def _app_name(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in APP_NAME_KEYS:
            for name, value in item.items():
                if field_key(str(name)) == key and isinstance(value, str):
                    return value
    return None


def records_table(rows: list[int], records: list[dict[str, Any]]) -> pa.Table:
    """Per-record selections as the table `select_arrow` would have produced."""
    out: dict[str, pa.Array] = {ROW: pa.array(rows, pa.int64())}
    for target in ALIASES:
        kind = pa.list_(pa.string()) if target == "installed_apps" else pa.string()
        out[target] = pa.array([r[target] for r in records], kind)
    out[PAGE] = pa.array([r[PAGE] for r in records], pa.bool_())
    flags = sorted({k for r in records for k in r if k.startswith(FLAG)})
    for name in flags:
        out[name] = pa.array([r.get(name, False) for r in records], pa.bool_())
    return pa.table(out)
