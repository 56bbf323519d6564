"""Pseudonyms: keyed, canonical, distinct-only; internal addresses prefix-preserving."""

from __future__ import annotations

import ipaddress
import re

import pyarrow as pa

from schemas.datasets import IdentityKind
from schemas.policy import default_policy_path, load_policy
from store.keys import KeyRing
from transforms.identity import AliasDirectory
from transforms.ipcrypt_pfx import decrypt_pfx
from transforms.pseudonymize import Pseudonymizer, pseudonymize

TOKEN = re.compile(r"^(usr|dev|hst|adr)-k1-[a-z2-7]{26}$")


def _pz(keys: KeyRing) -> Pseudonymizer:
    aliases = AliasDirectory.from_pairs(
        [("E1", "kari.nordmann@fjordvik.kommune.no"), ("E1", "karnor01"), ("E1", "Kari Nordmann")]
    )
    return Pseudonymizer(keys, aliases)


def test_one_person_one_pseudonym(keys: KeyRing) -> None:
    pz = _pz(keys)
    values = pa.array(["karnor01", "FJORDVIK\\KARNOR01", "Kari Nordmann", None, "other01"])
    tokens = pz.tokens(values, IdentityKind.user).to_pylist()
    assert tokens[0] == tokens[1] == tokens[2]
    assert tokens[3] is None
    assert tokens[4] != tokens[0]
    assert all(TOKEN.match(t) for t in tokens if t)


def test_kind_and_key_separate_pseudonyms(keys: KeyRing) -> None:
    pz = _pz(keys)
    assert pz.token(IdentityKind.user, "fw01") != pz.token(IdentityKind.host, "fw01")
    other = KeyRing(b"x" * 32, keys.evidence, keys.ipcrypt, keys.deadletter)
    assert Pseudonymizer(other, AliasDirectory()).token(IdentityKind.user, "a") != _pz(keys).token(
        IdentityKind.user, "a"
    )


def _events(**cols: list) -> pa.Table:  # type: ignore[type-arg]
    n = len(next(iter(cols.values())))
    return pa.table({"row": pa.array(range(n), pa.int64()), **cols})


def test_addresses_internal_encrypted_external_clear(keys: KeyRing) -> None:
    policy = load_policy(default_policy_path("iptables"))
    events = _events(
        src_ip=["10.20.3.17", "10.20.3.99", "8.8.8.8", "fe80::1"],
        dst_ip=["149.154.167.91", "10.10.0.5", "10.20.3.17", "ff02::16"],
    )
    out = pseudonymize(events, policy, _pz(keys))
    src = out.column("src_ip").to_pylist()
    assert src[2] == "8.8.8.8"
    assert "10.20.3.17" not in src and "10.20.3.99" not in src
    assert out.column("src_ip_internal").to_pylist() == [True, True, False, True]
    # prefix preserved: the two 10.20.3.x addresses share their /24 after encryption
    a, b = (ipaddress.ip_address(x) for x in src[:2])
    assert ipaddress.ip_network(f"{a}/24", strict=False) == ipaddress.ip_network(
        f"{b}/24", strict=False
    )
    assert decrypt_pfx(src[:2], keys.ipcrypt) == ["10.20.3.17", "10.20.3.99"]
    assert out.column("dst_ip").to_pylist()[2] == src[0]  # same address, same pseudonym


def test_home_address_of_successful_login_is_pseudonymized(keys: KeyRing) -> None:
    policy = load_policy(default_policy_path("sshd"))
    events = _events(
        src_ip=["84.210.1.2", "203.0.113.77", "10.20.1.1"],
        outcome=["success", "failure", "success"],
    )
    src = pseudonymize(events, policy, _pz(keys)).column("src_ip").to_pylist()
    assert src[0].startswith("adr-k1-")
    assert src[1] == "203.0.113.77"  # attacker keeps the address for blocking
    assert ipaddress.ip_address(src[2]) and src[2] != "10.20.1.1"


def test_personal_site_url_and_recipients(keys: KeyRing) -> None:
    policy = load_policy(default_policy_path("o365-dlp"))
    pz = _pz(keys)
    events = _events(
        file_url=[
            "https://fjordvik-my.sharepoint.com/personal/kari_nordmann_fjordvik_kommune_no/Documents/x.docx",
            "https://fjordvik.sharepoint.com/sites/Helse/Shared%20Documents/y.xlsx",
        ],
        actor_user=["kari.nordmann@fjordvik.kommune.no", None],
    )
    out = pseudonymize(events, policy, pz)
    urls = out.column("file_url").to_pylist()
    owner = out.column("actor_user").to_pylist()[0]
    assert urls[0] == f"https://fjordvik-my.sharepoint.com/personal/{owner}"
    assert urls[1] == "https://fjordvik.sharepoint.com/sites/Helse"


def test_distinct_values_only(keys: KeyRing) -> None:
    pz = _pz(keys)
    calls: list[int] = []
    original = pz.token

    def counting(kind, value):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(kind, value)

    pz.token = counting  # type: ignore[method-assign]
    pz.tokens(pa.array(["a", "b"] * 5000), IdentityKind.user)
    assert len(calls) == 2


def test_dlp_client_address_is_always_personal(keys: KeyRing) -> None:
    policy = load_policy(default_policy_path("o365-dlp"))
    events = _events(src_ip=["84.210.1.2", None, "10.20.1.1"])
    src = pseudonymize(events, policy, _pz(keys)).column("src_ip").to_pylist()
    assert src[0].startswith("adr-k1-") and src[1] is None
    assert src[2] != "10.20.1.1" and not src[2].startswith("adr-")
