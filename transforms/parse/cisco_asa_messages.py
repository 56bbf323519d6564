"""The Cisco ASA / FTD messages the cisco-asa parser reads: one anchored regex per message id
over the text after `%ASA-<sev>-<id>: `, and how its named groups become dataset columns.

Group names are dataset columns, or one of these:
- `a_*` / `b_*`: the two endpoints of a connection message in the order the ASA prints them;
  with `direction` outbound the second one started the connection and becomes the source;
- `f_*`, `g_ip`, `l_*`: an ICMP connection's foreign, global (mapped) and local address;
- `*_user`: an identity-firewall user `DOMAIN\\user` next to an endpoint; `aaa_user`: the user
  the ASA authenticated (`for user X`, a trailing `(X)`);
- `verdict`: an access list's permitted / denied; `server`: an AAA server (an address or a
  name); `service`: a management service (`ssh`, `https` or a port); `assigned`/`assigned6`:
  the address a VPN session was given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.parse.firewall_fields import lookup, nonempty
from transforms.parse.line_bytes import is_ip


@dataclass(frozen=True)
class Message:
    kind: str  # event_type
    pattern: str
    action: str | None = None
    outcome: str | None = None
    protocol: str | None = None


_IP = r"[0-9A-Fa-f:.]+"
_IFACE = r"[^\s:/]+"


def _user(p: str) -> str:
    """An identity-firewall user `(DOMAIN\\user[, sgt])` right after an endpoint."""
    return rf"(?: ?\((?P<{p}_user>[^()\\,]*\\[^(),]*)(?:, ?\d+)?\))?"


def _endpoint(p: str) -> str:
    """`iface:address/port` (as a and b of connection messages)."""
    return rf"(?P<{p}_iface>{_IFACE}):(?P<{p}_ip>{_IP})/(?P<{p}_port>\d+)"


_OTHER = r"(?: ?\([^()\\\s,]+(?:, ?\d+)?\))?"  # an FQDN or security group in place of a user
_AAA = r"(?: \((?P<aaa_user>[^()]*)\))?"  # the trailing AAA user of connection messages
_END = r"\.?\s*$"
_FROM_TO = rf"from (?P<src_ip>{_IP})/(?P<src_port>\d+) to (?P<dst_ip>{_IP})/(?P<dst_port>\d+)"
_FLAGS = r"flags (?P<tcp_flags>[A-Z]+(?: [A-Z]+)*) +"
_ON = rf"on interface (?P<in_iface>\S+?){_END}"
_ACL = (
    rf"^access-list (?P<rule_name>\S+) (?P<verdict>permitted|denied|est-allowed) "
    rf"(?P<protocol>\S+)(?: for user '?(?P<aaa_user>[^' ]*)'?)? "
    rf"(?P<in_iface>{_IFACE})/(?P<src_ip>{_IP})\((?P<src_port>\d+)\){_user('a')}{_OTHER} -> "
    rf"(?P<out_iface>{_IFACE})/(?P<dst_ip>{_IP})\((?P<dst_port>\d+)\){_user('b')}{_OTHER} "
    r"hit-cnt \d+.*$"
)
_CONNECTION = r"(?P<protocol>TCP|UDP|SCTP) connection (?P<session_id>\d+) for "
_MAPPED = r"(?: \((?P<{p}_nat>" + _IP + r")/\d+\))?"
_BUILT = (
    rf"^Built (?P<direction>inbound|outbound) {_CONNECTION}{_endpoint('a')}"
    rf"{_MAPPED.format(p='a')}{_user('a')} to {_endpoint('b')}{_MAPPED.format(p='b')}"
    rf"{_user('b')}{_AAA}\s*$"
)
_TEARDOWN = (
    rf"^Teardown {_CONNECTION}{_endpoint('a')}{_user('a')} to {_endpoint('b')}{_user('b')} "
    rf"duration (?P<duration>\S+) bytes (?P<bytes>\d+)(?: [^()]*?)?{_AAA}\s*$"
)
_ICMP_CONNECTION = (
    r"^(?:Built (?P<direction>inbound|outbound)|Teardown) (?P<protocol>ICMP|ICMPv6) connection "
    rf"(?:(?P<session_id>\d+) )?for faddr (?P<f_ip>{_IP})/\d+{_user('f')} gaddr (?P<g_ip>{_IP})"
    rf"/\d+ laddr (?P<l_ip>{_IP})/\d+{_user('l')}(?: \(\d+\))?"
    rf"(?: type (?P<icmp_type>\d+) code (?P<icmp_code>\d+))?{_AAA}\s*$"
)
_DENY_ACL = (
    rf"^Deny (?:protocol )?(?P<protocol>\S+) src (?P<in_iface>{_IFACE}):(?P<src_ip>{_IP})"
    rf"(?:/(?P<src_port>\d+))?{_user('a')}{_OTHER} dst (?P<out_iface>{_IFACE}):"
    rf"(?P<dst_ip>{_IP})(?:/(?P<dst_port>\d+))?{_user('b')}{_OTHER}"
    r"(?: \(?type (?P<icmp_type>\d+), code (?P<icmp_code>\d+)\)?,?)? by access-group "
    r"\"(?P<rule_name>[^\"]*)\"(?: \[[^\]]*\])?\s*$"
)
_AAA_HEAD = r"^AAA user (?:authentication|authorization|accounting) "
_AAA_TAIL = r"server\s*=\s*(?P<server>\S+)\s*:\s*user\s*=\s*(?P<actor_user>.*?)"
_VPN_HEAD = (
    r"^Group <?(?P<vpn_tunnel>[^<>]*?)>? User <?(?P<actor_user>[^<>]*?)>? "
    rf"IP <?(?P<src_ip>{_IP})>? "
)
_LOGIN = (
    rf"from (?:(?P<src_ip>{_IP})/(?P<src_port>\d+)|\S+) to (?:(?P<in_iface>{_IFACE}):"
    rf"(?P<dst_ip>{_IP})/(?P<service>\S+)|\S+) for user \"(?P<actor_user>[^\"]*)\"\s*$"
)
_ADMIN_AUTH = rf"authentication (?:succeeded|failed): (?:IP address: (?P<src_ip>{_IP}), )?"

MESSAGES: dict[str, Message] = {
    "106001": Message(
        "deny", rf"^Inbound (?P<protocol>TCP) connection denied {_FROM_TO} {_FLAGS}{_ON}", "drop"
    ),
    "106006": Message(
        "deny", rf"^Deny inbound (?P<protocol>UDP) {_FROM_TO} (?:due to [^()]*? )?{_ON}", "drop"
    ),
    "106015": Message(
        "deny", rf"^Deny (?P<protocol>TCP) \(no connection\) {_FROM_TO} {_FLAGS}{_ON}", "drop"
    ),
    "106017": Message(
        "deny",
        rf"^Deny IP due to Land Attack from (?P<src_ip>{_IP}) to (?P<dst_ip>{_IP})\s*$",
        "drop",
    ),
    "106023": Message("deny", _DENY_ACL, "drop"),
    "106100": Message("connection", _ACL),
    "106102": Message("connection", _ACL),
    "106103": Message("connection", _ACL),
    "302013": Message("connection", _BUILT, "allow"),
    "302014": Message("connection", _TEARDOWN, "allow"),
    "302015": Message("connection", _BUILT, "allow"),
    "302016": Message("connection", _TEARDOWN, "allow"),
    "302020": Message("connection", _ICMP_CONNECTION, "allow"),
    "302021": Message("connection", _ICMP_CONNECTION, "allow"),
    "313008": Message(
        "deny",
        r"^Denied IPv6-ICMP type=(?P<icmp_type>\d+), code=(?P<icmp_code>\d+) from "
        rf"(?P<src_ip>{_IP}) {_ON}",
        "drop",
        protocol="icmpv6",
    ),
    "313009": Message(
        "deny",
        rf"^Denied invalid ICMP code (?P<icmp_code>\d+), for {_endpoint('a')} "
        rf"\((?P<a_nat>{_IP})/\d+\){_user('a')} to {_endpoint('b')} \((?P<b_nat>{_IP})/\d+\)"
        rf"{_user('b')}, ICMP id \d+, ICMP type (?P<icmp_type>\d+)\s*$",
        "drop",
        protocol="icmp",
    ),
    "113004": Message("aaa", rf"{_AAA_HEAD}Successful\s*:\s*{_AAA_TAIL}\s*$", outcome="success"),
    "113005": Message(
        "aaa",
        rf"{_AAA_HEAD}Rejected\s*:\s*reason\s*=\s*.*?\s*:\s*{_AAA_TAIL}"
        rf"(?:\s*:\s*user IP\s*=\s*(?P<src_ip>{_IP}))?\s*$",
        outcome="failure",
    ),
    "113019": Message(
        "vpn",
        r"^Group = (?P<vpn_tunnel>[^,]*), Username = (?P<actor_user>[^,]*), "
        rf"IP = (?P<src_ip>{_IP}), Session disconnected\. Session Type: [^,]*, "
        r"Duration: (?P<duration>[^,]*), Bytes xmt: (?P<bytes_in>\d+), "
        r"Bytes rcv: (?P<bytes_out>\d+), Reason: .*$",
    ),
    "605004": Message("admin_login", rf"^Login denied {_LOGIN}", outcome="failure"),
    "605005": Message("admin_login", rf"^Login permitted {_LOGIN}", outcome="success"),
    "611101": Message(
        "admin_login", rf"^User {_ADMIN_AUTH}Uname: (?P<actor_user>.*?)\s*$", outcome="success"
    ),
    "611102": Message(
        "admin_login", rf"^User {_ADMIN_AUTH}Uname: (?P<actor_user>.*?)\s*$", outcome="failure"
    ),
    "716001": Message("vpn", rf"{_VPN_HEAD}.*?session started{_END}", outcome="success"),
    "716002": Message("vpn", rf"{_VPN_HEAD}.*?session terminated(?:\s*:.*)?$"),
    "722051": Message(
        "vpn",
        rf"{_VPN_HEAD}(?:IPv4 )?Address <?(?P<assigned>{_IP})>?"
        rf"(?: IPv6 address <?(?P<assigned6>{_IP})>?)? assigned to session{_END}",
        outcome="success",
    ),
}

DIRECT = (
    "src_ip", "src_port", "dst_ip", "dst_port", "in_iface", "out_iface", "protocol", "rule_name",
    "session_id", "tcp_flags", "icmp_type", "icmp_code", "vpn_tunnel", "bytes_in", "bytes_out",
    "duration", "actor_user",
)  # fmt: skip
_VERDICT = {"permitted": "allow", "est-allowed": "allow", "denied": "drop"}
_SERVICES = {"ssh": "22", "telnet": "23", "http": "80", "https": "443", "asdm": "443"}


def message_columns(found: pa.StructArray, msg: Message) -> dict[str, pa.Array]:
    """The dataset columns of the rows of one message id (all matched by its regex)."""
    n = len(found)
    names = [found.type.field(i).name for i in range(found.type.num_fields)]
    g = {name: nonempty(found.field(name)) for name in names}
    out = {name: g[name] for name in DIRECT if name in g}
    none = pa.nulls(n, pa.string())
    outbound = pa.array(np.zeros(n, bool))
    if "direction" in g:
        outbound = pc.fill_null(pc.equal(g["direction"], "outbound"), False)
    src_user = g.get("a_user", none)  # layouts naming src_ip directly keep a_user for its user
    if "a_ip" in g:  # the second endpoint started an outbound connection

        def pick(first: str, second: str) -> pa.Array:
            return pc.if_else(outbound, g.get(second, none), g.get(first, none))

        for column, part in (("ip", "ip"), ("port", "port"), ("nat_ip", "nat")):
            out[f"src_{column}"] = pick(f"a_{part}", f"b_{part}")
            out[f"dst_{column}"] = pick(f"b_{part}", f"a_{part}")
        out["in_iface"], out["out_iface"] = pick("a_iface", "b_iface"), pick("b_iface", "a_iface")
        src_user = pick("a_user", "b_user")
    if "f_ip" in g:  # outbound: local -> foreign; inbound and teardowns: foreign -> local
        out["src_ip"] = pc.if_else(outbound, g["l_ip"], g["f_ip"])
        out["dst_ip"] = pc.if_else(outbound, g["f_ip"], g["l_ip"])
        out["src_nat_ip"] = pc.if_else(outbound, g["g_ip"], none)
        out["dst_nat_ip"] = pc.if_else(outbound, none, g["g_ip"])
        src_user = pc.if_else(outbound, g["l_user"], g["f_user"])
    if "verdict" in g:
        out["action"] = lookup(g["verdict"], _VERDICT, pa.string())
        denied = pc.equal(out["action"], "drop")
        out["event_type"] = pc.if_else(denied, "deny", "connection")
    if "server" in g:
        out["dst_ip"] = pc.if_else(pa.array(is_ip(g["server"])), g["server"], none)
    if "service" in g:
        numeric = pc.if_else(pc.ascii_is_decimal(g["service"]), g["service"], none)
        out["dst_port"] = pc.coalesce(lookup(g["service"], _SERVICES, pa.string()), numeric)
    if "assigned" in g:
        v4 = pc.if_else(pc.equal(g["assigned"], "0.0.0.0"), none, g["assigned"])
        v6 = g.get("assigned6", none)
        out["src_nat_ip"] = pc.coalesce(v4, pc.if_else(pc.equal(v6, "::"), none, v6))
    out["actor_user"] = pc.coalesce(src_user, g.get("aaa_user", none), g.get("actor_user", none))
    for column, value in (("action", msg.action), ("outcome", msg.outcome)):
        if column not in out:
            out[column] = pa.repeat(pa.scalar(value, pa.string()), n)
    out.setdefault("event_type", pa.repeat(pa.scalar(msg.kind), n))
    if msg.protocol is not None:
        out["protocol"] = pa.repeat(pa.scalar(msg.protocol), n)
    out["nat_src_ip"] = out.pop("src_nat_ip", none)
    out["nat_dst_ip"] = out.pop("dst_nat_ip", none)
    return out
