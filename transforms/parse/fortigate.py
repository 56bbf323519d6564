"""Parser for Fortinet FortiGate key=value logs (FortiOS 5.6-7.x), bare or behind a syslog header.

A FortiGate line is `date=2026-11-16 time=08:01:02 devname="FGT1" ... logid="0000000013"
type="traffic" subtype="forward" ... srcip=10.20.3.44 ...`: values are bare or in double quotes
(which may hold spaces, '=' and backslash-escaped quotes). keyvalue.quoted_pairs tokenises a
whole batch at once and keeps only the keys below; a syslog header (`<189>`, a BSD or RFC 5424
timestamp and host) is skipped as tokens without '='.

Types: traffic (forward, local, multicast, sniffer), utm (webfilter, virus, ips, app-ctrl, dns,
ssl, ...), event (system, vpn, user, ...). Mapping (outcome follows Elastic's Fortinet pipeline):
time from date+time in the line's `tz` (else the context's timezone; else eventtime), observer =
devname (devid), event_id = logid, event_type = type/subtype, action = vendor word mapped
(accept/close/timeout/pass → allow, deny/block/dropped → drop, reset → reject, detected/monitored
→ log), outcome = status/result, success for auth logons and for traffic/utm lines with an action.
For `event/vpn` lines the remote peer (remip, the VPN client) is the source and locip the
destination. A malformed address or port rejects the line; reasons are fixed texts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.datasets import NETWORK_ACTIVITY
from transforms.distinct import map_distinct
from transforms.parse import firewall_words as fw
from transforms.parse.base import ParseContext, ParseResult, SourceFormat, conform
from transforms.parse.keyvalue import KeyTable, quoted_pairs
from transforms.parse.line_bytes import first_flag, line_bytes, non_digits
from transforms.parse.syslog_header import EMPTY_LINE, RowErrors
from transforms.parse.timestamps import utc_timestamps, ymd_hms_naive, zones_to_utc

NOT_FORTIGATE = "not a FortiGate log line (no logid or type)"
_KEYS = KeyTable(
    (
        "date", "time", "tz", "eventtime", "devname", "devid", "logid", "type", "subtype",
        "level", "severity", "action", "status", "result", "policyname", "policyid", "srcintf",
        "dstintf", "srcip", "dstip", "srcport", "dstport", "remip", "locip", "remport",
        "locport", "proto", "user", "unauthuser", "xauthuser", "srcname", "sessionid",
        "duration", "sentbyte", "rcvdbyte", "app", "hostname", "url", "service", "catdesc",
        "attack", "virus", "transip", "tranip", "vpn", "vpntunnel", "tunneltype",
    )
)  # fmt: skip
_AUTH_LOGONS = {"fsso-logon", "auth-logon", "fsso-logoff", "auth-logout"}


def parse_fortigate(lines: pa.StringArray, ctx: ParseContext) -> ParseResult:
    raw = line_bytes(lines)
    errors = RowErrors(raw.n)
    errors.flag(~raw.valid | (raw.end <= raw.start), EMPTY_LINE)
    tokens = quoted_pairs(raw, _after_priority(raw), _KEYS)
    f = tokens.fields
    errors.flag(~(f.present("logid") & f.present("type")), NOT_FORTIGATE)
    errors.flag(tokens.unterminated, "unterminated quoted value")
    errors.flag(tokens.too_many, "too many fields")

    text = {name: f.text(name) for name in _KEYS.keys if name not in _NOT_TEXT}
    kind, subtype = text["type"], text["subtype"]
    vpn = pc.fill_null(pc.and_(pc.equal(kind, "event"), pc.equal(subtype, "vpn")), False)
    cols: dict[str, pa.Array] = {"time": _time(f, text, ctx, errors)}
    cols["observer"] = pc.coalesce(text["devname"], text["devid"])
    cols["event_id"] = text["logid"]
    cols["event_type"] = pc.coalesce(pc.binary_join_element_wise(kind, subtype, "/"), kind)
    cols["action"] = fw.actions(text["action"])
    cols["outcome"] = _outcome(text, kind)
    cols["severity"] = fw.lower(pc.coalesce(text["severity"], text["level"]))
    cols["rule_name"] = pc.coalesce(text["policyname"], text["policyid"])
    cols["in_iface"], cols["out_iface"] = text["srcintf"], text["dstintf"]

    address = {}
    for key, reason in (("srcip", "src"), ("dstip", "dst"), ("remip", "src"), ("locip", "dst")):
        address[key], bad = f.address(key)
        errors.flag(bad, f"invalid {reason} address")
    cols["src_ip"], cols["dst_ip"] = _endpoints(vpn, address, "ip")
    cols["ip_version"] = fw.ip_versions(cols["src_ip"], cols["dst_ip"])
    port = {}
    for key in ("srcport", "dstport", "remport", "locport"):
        value, ok, bad = f.number(key, 65535)
        errors.flag(bad, "invalid port")
        port[key] = pa.array(value, pa.int32(), mask=~ok)
    cols["src_port"], cols["dst_port"] = _endpoints(vpn, port, "port")
    cols["protocol"] = fw.protocols(text["proto"])
    for key, column in (
        ("duration", "duration"),
        ("sentbyte", "bytes_out"),
        ("rcvdbyte", "bytes_in"),
    ):
        value, ok, _ = f.number(key, 10**18)
        cols[column] = pa.array(value, pa.int64(), mask=~ok)
    cols["actor_user"] = pc.coalesce(text["user"], text["unauthuser"], text["xauthuser"])
    cols["device"] = text["srcname"]
    cols["session_id"] = text["sessionid"]
    cols["app"] = text["app"]
    cols["url"] = _url(text, kind, cols["dst_port"])
    cols["url_category"] = text["catdesc"]
    cols["threat_name"] = pc.coalesce(text["attack"], text["virus"])
    cols["nat_src_ip"], _ = f.address("transip")
    cols["nat_dst_ip"], _ = f.address("tranip")
    cols["vpn_tunnel"] = pc.coalesce(text["vpntunnel"], text["vpn"], text["tunneltype"])
    table = conform(errors.accepted(cols), NETWORK_ACTIVITY)
    return ParseResult(table, errors.rejects())


# Keys read as addresses, numbers or timestamps, never as text.
_NOT_TEXT = {
    "srcip", "dstip", "remip", "locip", "transip", "tranip", "srcport", "dstport", "remport",
    "locport", "duration", "sentbyte", "rcvdbyte", "date", "time",
}  # fmt: skip


def _after_priority(raw) -> np.ndarray:
    """Where each line's text starts after a syslog priority `<189>`."""
    start = raw.start
    x = raw.load(start + 1)
    digits = first_flag(non_digits(x))
    close = start + 1 + digits
    pri = (raw.byte(start) == ord("<")) & (digits >= 1) & (digits <= 3)
    pri &= (raw.byte(close) == ord(">")) & (close < raw.end)
    return np.where(pri, close + 1, start)


def _time(f, text: dict[str, pa.Array], ctx: ParseContext, errors: RowErrors) -> pa.Array:
    """date + time in the line's tz (else the context's); eventtime (epoch) when they are
    missing."""
    has_date, date, date_len = f.span("date")
    has_time, clock, clock_len = f.span("time")
    given = has_date & has_time
    naive, ok = ymd_hms_naive(f.raw, date, clock, given & (date_len == 10) & (clock_len == 8), "-")
    micros, ok = zones_to_utc(naive, ok, text["tz"], ctx.timezone)
    epoch = text["eventtime"]
    fallback = ~given & pc.is_valid(epoch).to_numpy(False)
    if fallback.any():
        digits = pc.fill_null(
            pc.match_substring_regex(epoch, r"^(?:\d{10}|\d{13}|\d{16,19})$"), False
        )
        head = pc.utf8_slice_codeunits(pc.if_else(digits, epoch, "0"), 0, 16)
        length = pc.utf8_length(pc.if_else(digits, epoch, "0")).to_numpy(False)
        value = head.cast(pa.int64()).to_numpy(False)
        scale = 10 ** np.maximum(16 - np.minimum(length, 16), 0)
        use = fallback & digits.to_numpy(False)
        micros = np.where(use, value * scale, micros)
        ok = ok | use
    errors.flag(~given & ~ok, "no event time")
    errors.flag(~ok, "invalid timestamp")
    return utc_timestamps(micros, ok)


def _outcome(text: dict[str, pa.Array], kind: pa.Array) -> pa.Array:
    logon = map_distinct(
        text["action"], lambda ws: ["success" if w.lower() in _AUTH_LOGONS else None for w in ws]
    )
    acted = pc.and_(
        pc.is_in(kind, pa.array(["traffic", "utm", "dns"])), pc.is_valid(text["action"])
    )
    return pc.coalesce(
        fw.outcomes(text["status"]),
        fw.outcomes(text["result"]),
        logon,
        pc.if_else(pc.fill_null(acted, False), "success", None),
    )


def _url(text: dict[str, pa.Array], kind: pa.Array, dst_port: pa.Array) -> pa.Array:
    """Web URLs of traffic and utm lines: `url` (a path or whole URL) on `hostname`."""
    web = pc.fill_null(pc.is_in(kind, pa.array(["traffic", "utm"])), False)
    service = pc.utf8_lower(text["service"])
    https = pc.coalesce(pc.equal(service, "https"), pc.equal(dst_port, 443))
    url = fw.web_urls(text["url"], text["hostname"], https)
    return pc.if_else(web, url, None)


_DETECT = (r"(?:^|[\s>])logid=", r"(?:^|[\s>])type=", r"(?:^|[\s>])dev(?:name|id)=")
_CEF = r"^[^=|\"]*?\bCEF:\d+\|"


def _endpoints(vpn: pa.Array, values: dict[str, pa.Array], kind: str) -> tuple[pa.Array, pa.Array]:
    """(source, destination): VPN events name the remote peer `rem*` and this side `loc*`,
    traffic names `src*`/`dst*`; each falls back on the other's naming."""
    src, dst, rem, loc = (values[f"{side}{kind}"] for side in ("src", "dst", "rem", "loc"))
    return (
        pc.if_else(vpn, pc.coalesce(rem, src), pc.coalesce(src, loc)),
        pc.if_else(vpn, pc.coalesce(loc, dst), pc.coalesce(dst, rem)),
    )


def detect_fortigate(lines: pa.StringArray) -> pa.BooleanArray:
    """`--source auto`: key=value lines with logid=, type= and devname=/devid= (not CEF)."""
    found = pc.invert(pc.fill_null(pc.match_substring_regex(lines, _CEF), False))
    for pattern in _DETECT:
        found = pc.and_(found, pc.fill_null(pc.match_substring_regex(lines, pattern), False))
    return found


FORTIGATE = SourceFormat(
    "fortigate",
    NETWORK_ACTIVITY,
    parse_fortigate,
    detect_fortigate,
    examples=(
        '<189>date=2026-11-16 time=08:01:02 devname="FGT-OSLO-01" devid="FG100FTK19000001" eventtime=1794812462123456789 tz="+0100" logid="0000000013" type="traffic" subtype="forward" level="notice" vd="root" srcip=10.20.3.44 srcport=51514 srcintf="port1" srcintfrole="lan" dstip=198.51.100.20 dstport=443 dstintf="wan1" dstintfrole="wan" sessionid=40211 proto=6 action="accept" policyid=12 policytype="policy" policyname="LAN-to-Internet" service="HTTPS" trandisp="snat" transip=203.0.113.2 transport=61514 app="HTTPS.BROWSER" duration=31 sentbyte=2310 rcvdbyte=15422 sentpkt=18 rcvdpkt=21 srcname="PC-0412" unauthuser="kari.nordmann"',  # noqa: E501
        'date=2026-11-16 time=08:05:10 devname="FGT-OSLO-01" devid="FG100FTK19000001" tz="+0100" logid="0316013056" type="utm" subtype="webfilter" eventtype="ftgd_blk" level="warning" vd="root" policyid=12 sessionid=40299 srcip=10.20.3.44 srcport=51530 srcintf="port1" dstip=198.51.100.80 dstport=443 dstintf="wan1" proto=6 service="HTTPS" hostname="games.example.com" profile="default" action="blocked" reqtype="direct" url="/play?level=2" sentbyte=517 rcvdbyte=0 direction="outgoing" msg="URL belongs to a denied category in policy" cat=20 catdesc="Games"',  # noqa: E501
        'Nov 16 08:07:00 FGT-OSLO-01 date=2026-11-16 time=08:07:00 devname="FGT-OSLO-01" devid="FG100FTK19000001" tz="+0100" logid="0101039947" type="event" subtype="vpn" level="information" vd="root" logdesc="SSL VPN tunnel up" action="tunnel-up" tunneltype="ssl-tunnel" tunnelid=1207 remip=198.51.100.99 tunnelip=10.212.134.200 user="kari.nordmann" group="SSLVPN-Staff" dst_host="N/A" reason="tunnel established" msg="SSL tunnel established"',  # noqa: E501
    ),
)
SOURCE_FORMATS = (FORTIGATE,)
