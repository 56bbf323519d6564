"""Generalisations: coarser values that still serve the purpose (hour instead of
second, subnet instead of address, domain instead of address, program instead of
command line, file extension instead of file name). Vectorised with pyarrow compute.
"""

from __future__ import annotations

import ipaddress

import pyarrow as pa
import pyarrow.compute as pc

from schemas.policy import Generalisation
from transforms.distinct import map_distinct


def generalise(values: pa.Array, method: Generalisation) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    match method:
        case Generalisation.hour:
            return pc.floor_temporal(values, unit="hour")
        case Generalisation.day:
            return pc.floor_temporal(values, unit="day")
        case Generalisation.subnet:
            return _subnets(values)
        case Generalisation.domain:
            if pa.types.is_list(values.type):
                flat = _domain(pc.list_flatten(values))
                offsets = values.offsets
                if values.offset:
                    offsets = pc.subtract(offsets, offsets[0])
                return pa.ListArray.from_arrays(offsets, flat, mask=values.is_null())
            return _domain(values)
        case Generalisation.extension:
            ext = pc.extract_regex(values, r"(?P<e>\.[A-Za-z0-9]{1,10})$")
            return pc.utf8_lower(pc.struct_field(ext, "e"))
        case Generalisation.program:
            first = pc.extract_regex(values, r"^\s*(?:\S*/)?(?P<p>[^\s/]+)")
            return pc.struct_field(first, "p")
        case Generalisation.site:
            root = pc.extract_regex(
                values, r"^(?P<r>https?://[^/?#]+(?:/(?:sites|teams)/[^/?#]+)?)"
            )
            return pc.struct_field(root, "r")
    raise ValueError(f"unknown generalisation {method}")


def _domain(values: pa.Array) -> pa.Array:
    found = pc.extract_regex(values, r"@(?P<d>[^@\s>]+)\s*>?\s*$")
    return pc.utf8_lower(pc.struct_field(found, "d"))


_IPV4 = r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$"


def _subnets(values: pa.Array) -> pa.Array:
    """Subnets of the distinct addresses (a batch has few), spread back over the rows."""
    encoded = pc.dictionary_encode(values.cast(pa.string()))
    return _subnets_distinct(encoded.dictionary).take(encoded.indices)


def _subnets_distinct(values: pa.Array) -> pa.Array:
    """IPv4 /24 by a vectorised rewrite; anything else (IPv6, tokens) one by one."""
    v4 = pc.fill_null(pc.match_substring_regex(values, _IPV4), False)
    v4_nets = pc.replace_substring_regex(values, r"\.\d+$", ".0/24")
    if pc.all(pc.or_(v4, pc.is_null(values))).as_py():
        return v4_nets
    others = map_distinct(values, lambda vs: [_subnet(v) for v in vs])  # type: ignore[misc]
    return pc.if_else(v4, v4_nets, others)


def _subnet(value: str) -> str | None:
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None  # not an address (e.g. a home-address pseudonym): nothing to show
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
