"""Column helpers shared by the Windows event parsers: whole-column pyarrow compute, or
Python once per distinct value (a batch has few distinct privilege lists, access lists
or addresses), never once per row."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache

import pyarrow as pa
import pyarrow.compute as pc

STR_NULL = pa.scalar(None, pa.string())
_MAPPED_V4 = r"(?i)^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"^{_OCTET}(?:\.{_OCTET}){{3}}$"
_STATUS = r"^0[xX][0-9a-fA-F]{1,8}$"
_MESSAGE_ID = r"^%%\d{4}$"
_PRIVILEGE = re.compile(r"\bSe[A-Za-z]+Privilege\b")
_ACCESS_CODE = re.compile(r"%%(\d{4})")
_ACCESS_WORD = re.compile(r"^[A-Za-z_]{2,40}$")

# Access-right message ids of the Security log (AccessList of 4663) and their names as
# Windows renders them (the first of alternative names, "ReadData (or ListDirectory)").
ACCESS_NAMES = {
    "1537": "DELETE", "1538": "READ_CONTROL", "1539": "WRITE_DAC", "1540": "WRITE_OWNER",
    "1541": "SYNCHRONIZE", "1542": "ACCESS_SYS_SEC", "4416": "ReadData", "4417": "WriteData",
    "4418": "AppendData", "4419": "ReadEA", "4420": "WriteEA", "4421": "Execute",
    "4422": "DeleteChild", "4423": "ReadAttributes", "4424": "WriteAttributes",
    "4432": "QueryKeyValue", "4433": "SetKeyValue", "4434": "CreateSubKey",
    "4435": "EnumerateSubKeys", "4436": "Notify", "4437": "CreateLink",
}  # fmt: skip


def is_in(values: pa.Array, options: tuple[str, ...] | list[str]) -> pa.Array:
    return pc.fill_null(pc.is_in(values, value_set=pa.array(list(options), pa.string())), False)


def pick(mask: pa.Array, values: pa.Array, otherwise: pa.Array | pa.Scalar = STR_NULL):
    """`values` where mask, else `otherwise` (a null mask counts as False)."""
    return pc.if_else(pc.fill_null(mask, False), values, otherwise)


def lookup(keys: pa.Array, table: dict[str, str | None]) -> pa.Array:
    """table[key] per row (null for keys not in the table)."""
    index = pc.index_in(keys, value_set=pa.array(list(table), pa.string()))
    return pa.array(list(table.values()), pa.string()).take(index)


def qualified(user: pa.Array, domain: pa.Array) -> pa.Array:
    """`DOMAIN\\user`; the user as given when it has a domain already (`\\` or `@`) or
    no domain is known."""
    joined = pc.binary_join_element_wise(domain, user, "\\")
    as_given = pc.or_(
        pc.is_null(domain), pc.fill_null(pc.match_substring_regex(user, r"[\\@]"), False)
    )
    return pc.if_else(as_given, user, joined)


def base_name(path: pa.Array) -> pa.Array:
    """The program's file name of a path (`C:\\Windows\\System32\\lsass.exe` -> lsass.exe):
    folders of a path may name a person (C:\\Users\\<name>\\...)."""
    name = pc.replace_substring_regex(path, r"^.*[\\/]", "")
    return pc.if_else(pc.equal(name, ""), STR_NULL, name)


def addresses(values: pa.Array) -> pa.Array:
    """IP addresses in canonical form (IPv4-mapped IPv6 as IPv4); null for anything else.
    Dotted IPv4 is checked by one regex over the column; only the rest (IPv6, junk) goes
    through `ipaddress`, once per distinct value."""
    values = pc.replace_substring_regex(values, _MAPPED_V4, r"\1")
    v4 = pc.fill_null(pc.match_substring_regex(values, _IPV4), False)
    if pc.all(pc.or_(v4, pc.is_null(values))).as_py():
        return values
    return pc.if_else(v4, values, _map_distinct(pick(v4, STR_NULL, values), _address, pa.string()))


@lru_cache(maxsize=1 << 16)
def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def ports(values: pa.Array) -> pa.Array:
    digits = pc.fill_null(pc.match_substring_regex(values, r"^\d{1,5}$"), False)
    number = pc.cast(pick(digits, values), pa.int64())
    fits = pc.fill_null(pc.less_equal(number, 65535), False)
    return pick(fits, number, pa.scalar(None, pa.int64())).cast(pa.int32())


def matching(values: pa.Array, pattern: str) -> pa.Array:
    """The value where it matches `pattern` whole, else null (never free text)."""
    return pick(pc.match_substring_regex(values, pattern), values)


def failure_code(status: pa.Array, sub_status: pa.Array, reason: pa.Array) -> pa.Array:
    """The most specific failure code of a 4625: SubStatus unless 0x0, else Status, else
    the FailureReason message id (%%2313); lower case, fixed text."""
    sub = pc.utf8_lower(matching(sub_status, _STATUS))
    sub = pick(pc.match_substring_regex(sub, r"^0x0+$"), STR_NULL, sub)
    status = pc.utf8_lower(matching(status, _STATUS))
    return pc.coalesce(sub, status, matching(reason, _MESSAGE_ID))


def privilege_lists(values: pa.Array) -> pa.Array:
    """4672 PrivilegeList (names separated by whitespace, or a JSON list) as a list."""
    return _map_distinct(values, lambda v: _PRIVILEGE.findall(v) or None, pa.list_(pa.string()))


def access_lists(values: pa.Array) -> pa.Array:
    """4663 AccessList as access names: %%-codes by the table above, rendered text
    ("ReadData (or ListDirectory)" one per line) by its first name."""
    return _map_distinct(values, _accesses, pa.list_(pa.string()))


def _accesses(text: str) -> list[str] | None:
    codes = _ACCESS_CODE.findall(text)
    if codes:
        names = [ACCESS_NAMES.get(code, "%%" + code) for code in codes]
    else:
        items = (part.split("(", 1)[0].strip() for part in re.split(r"[\r\n\t,;]+", text))
        names = [item for item in items if _ACCESS_WORD.fullmatch(item)]
    return list(dict.fromkeys(names)) or None


# Privileged stores an object path lies in (seed 001: admins' own access to quarantined
# mail and similar stores is logged to catch snooping); the first class that matches wins.
_SEP = r"(?:^|[\\/])"
STORE_CLASSES: dict[str, str] = {
    "quarantine": r"(?i)quarantine|karantene",
    "mailbox": _SEP + r"(?i:mailbox(?:es)?|mailbox database|postboks(?:er)?)(?:[\\/]|$)"
    r"|(?i)\.(?:pst|ost|edb)$",
    "hr": _SEP + r"(?i:hr|human ?resources|personal(?:mapper?)?|personell|payroll|l[øo]nn)"
    r"(?:[\\/]|$)",
    "journal": r"(?i)journal|pasient|patient|" + _SEP + r"(?i:epj)(?:[\\/]|$)",
    "backup": _SEP + r"(?i:backups?|sikkerhetskopi(?:er)?|windowsimagebackup)(?:[\\/]|$)"
    r"|(?i)\.(?:bak|bkf)$",
}


def store_classes(paths: pa.Array) -> pa.Array:
    """The privileged store class of each object path (see STORE_CLASSES), else null."""
    out = pa.nulls(len(paths), pa.string())
    for name, pattern in reversed(STORE_CLASSES.items()):
        out = pick(pc.match_substring_regex(paths, pattern), pa.scalar(name), out)
    return out


def _map_distinct(values: pa.Array, fn: Callable, typ: pa.DataType) -> pa.Array:
    """fn over the distinct non-null strings of `values`, spread back to the rows."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], typ)
    return mapped.take(encoded.indices)
