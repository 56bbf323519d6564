"""The query service's tables and checks without a running service: the role table is
the issue's, every command of the CLI is either served or never served, every path
argument of a served command is confined, the roles file is validated, `--socket` is
found anywhere, and each service thread gets back only its own output."""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import threading
from pathlib import Path

import pytest

from loggvern.cli import _parser
from loggvern.direct_mode import direct_refusal
from loggvern.socket_option import split_socket
from service import capture
from service.files import FILE_ARGS, unconfined_paths
from service.role_policy import DEFAULT_ROLES_FILE, RolesFileError, load_roles
from service.roles import COMMAND_ROLES, NEVER_SERVED, Role, commands_of, key_from_argv
from tests.service_helpers import ISSUE_ROLES, run_cli


def parser_commands() -> dict[str, argparse.ArgumentParser]:
    """Every command key the CLI's parser knows, with its parser."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            found[prefix] = parser
        for sub in subs:
            for name, child in sub.choices.items():
                walk(child, f"{prefix} {name}".strip())

    walk(_parser(), "")
    return found


def test_the_role_table_is_the_issues():
    for role in Role:
        assert set(commands_of(role)) == ISSUE_ROLES[role.value], role
    assert set(COMMAND_ROLES) == set().union(*ISSUE_ROLES.values())
    assert not set(COMMAND_ROLES) & NEVER_SERVED
    assert COMMAND_ROLES["query"] == {Role.analyst}  # custodians and auditors cannot query
    assert Role.analyst not in COMMAND_ROLES["breakglass approve"]


def test_every_cli_command_is_served_or_never_served():
    for key in parser_commands():
        assert key in COMMAND_ROLES or key in NEVER_SERVED, key
    assert {"init", "demo", "serve", "breakglass open"} <= set(parser_commands())


def test_every_path_argument_of_a_served_command_is_confined():
    for key, parser in parser_commands().items():
        if key not in COMMAND_ROLES:
            continue
        paths = {a.dest for a in parser._actions if a.type is Path} - {"store"}
        assert paths <= {f.dest for f in FILE_ARGS.get(key, ())}, key
    assert {f.dest for f in FILE_ARGS["ingest"]} == {"paths", "policy", "aliases"}


def test_a_path_argument_missing_from_the_table_is_found():
    args = argparse.Namespace(command="stats", store=Path("s"), dump=Path("/etc/shadow"))
    assert unconfined_paths("stats", args) == ["--dump"]
    listed = argparse.Namespace(command="x", store=None, things=[Path("a")])
    assert unconfined_paths("x", listed) == ["--things"]


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["query", "/s", "--purpose", "p"], "query"),
        (["case", "open", "/s"], "case open"),
        (["breakglass", "open", "f"], "breakglass open"),
        (["keys", "rotate", "/s"], "keys rotate"),
        (["stats", "--list"], "stats"),
        (["case", "--help"], None),
        (["--as", "x", "query"], None),
        ([], None),
        (["frobnicate"], None),
    ],
)
def test_the_command_is_read_from_the_leading_words(argv, key):
    assert key_from_argv(argv) == key


def test_the_default_roles_file_maps_the_four_groups():
    policy = load_roles()
    assert policy.path == str(DEFAULT_ROLES_FILE) and len(policy.sha256) == 64
    assert policy.describe() == {
        "loggvern-analysts": ["analyst"],
        "loggvern-auditors": ["auditor"],
        "loggvern-custodians": ["custodian"],
        "loggvern-operators": ["operator"],
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('version = 1\n[groups]\nstaff = ["boss"]\n', "groups.staff.0"),
        ("version = 1\n[groups]\nstaff = []\n", "maps to no role"),
        ('version = 1\n[groups]\n"bad group" = ["analyst"]\n', "is not a group name"),
        ("version = 1\n[groups]\n", "groups"),
        ('version = 2\n[groups]\nstaff = ["analyst"]\n', "version"),
        ('version = 1\nextra = 1\n[groups]\nstaff = ["analyst"]\n', "extra"),
        ("version = [", "not valid TOML"),
    ],
)
def test_a_bad_roles_file_is_refused_with_its_name(tmp_path, text, says):
    path = tmp_path / "roles.toml"
    path.write_text(text)
    with pytest.raises(RolesFileError) as info:
        load_roles(path)
    assert str(path) in str(info.value) and says in str(info.value)


def test_a_users_roles_come_from_their_groups(tmp_path):
    me = pwd.getpwuid(os.geteuid()).pw_name
    mine = grp.getgrgid(pwd.getpwuid(os.geteuid()).pw_gid).gr_name
    path = tmp_path / "roles.toml"
    path.write_text(f'[groups]\n"{mine}" = ["auditor", "operator"]\nnobody-here = ["analyst"]\n')
    policy = load_roles(path)
    member = policy.member(me)
    assert member.roles == {Role.auditor, Role.operator} and member.groups == (mine,)
    assert policy.member("no-such-user-here").roles == frozenset()
    assert "nobody-here" in policy.missing_groups()


def test_serve_refuses_a_bad_roles_file_before_listening(tmp_path):
    store = tmp_path / "store"
    assert run_cli("init", str(store))[0] == 0
    bad = tmp_path / "roles.toml"
    bad.write_text('[groups]\nstaff = ["superuser"]\n')
    sock = tmp_path / "s.sock"
    code, _, err = run_cli("serve", str(store), "--socket", str(sock), "--roles", str(bad))
    assert code == 2 and f"{bad}: groups.staff.0" in err and not sock.exists()
    os.chmod(store, 0o750)
    code, _, err = run_cli("serve", str(store), "--socket", str(sock))
    assert code == 2 and "is open to others (mode 0750)" in err and not sock.exists()
    os.chmod(store, 0o700)
    sock.write_text("a file")
    code, _, err = run_cli("serve", str(store), "--socket", str(sock))
    assert code == 2 and "exists and is not a socket" in err and sock.read_text() == "a file"
    code, _, err = run_cli("serve", str(store), "--socket", str(tmp_path / "no" / "s.sock"))
    assert code == 2 and "no such directory for the socket" in err


def test_the_socket_option_is_found_anywhere_and_serve_keeps_its_own(monkeypatch):
    monkeypatch.delenv("LOGGVERN_SOCKET", raising=False)
    assert split_socket(["query", "s", "--socket", "/run/x", "--purpose", "p"]) == (
        "/run/x", ["query", "s", "--purpose", "p"], True)  # fmt: skip
    assert split_socket(["case", "list", "--socket=/run/y", "s"]) == (
        "/run/y", ["case", "list", "s"], True)  # fmt: skip
    assert split_socket(["serve", "s", "--socket", "/run/z"]) == (
        None, ["serve", "s", "--socket", "/run/z"], False)  # fmt: skip
    monkeypatch.setenv("LOGGVERN_SOCKET", "/run/env")
    assert split_socket(["case", "list", "s"]) == ("/run/env", ["case", "list", "s"], False)


def test_direct_mode_refuses_everyone_but_the_owner(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    args = argparse.Namespace(command="case", action="list", store=store)
    assert direct_refusal(args) is None  # mine
    assert direct_refusal(argparse.Namespace(command="query", store=None)) is None  # --list
    if os.geteuid() != 0:
        pytest.skip("changing a directory's owner needs root")
    os.chown(store, 65534, 65534)
    refusal = direct_refusal(args)
    assert refusal is not None and "may not run `case list` directly" in refusal
    assert "owner (nobody); use the query service: --socket PATH" in refusal


def test_each_thread_gets_back_only_what_it_printed():
    capture.install()
    results: dict[int, str] = {}

    def work(n: int) -> None:
        with capture.capturing(1 << 20) as (out, err):
            for _ in range(200):
                print(f"thread-{n}")
            results[n] = out.getvalue()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[n] == f"thread-{n}\n" * 200 for n in range(8))
    buffer = capture.Buffer(10)
    buffer.write("0123456789abc")
    assert buffer.cut and buffer.getvalue() == ""
