"""Minimisation (default deny, counted drops, generalisation) and purpose projection."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from schemas.lake import purpose_schema
from schemas.policy import Generalisation, default_policy_path, load_policy
from schemas.purposes import Purpose
from transforms.generalise import generalise
from transforms.minimize import minimize
from transforms.purpose import RunStamp, project, tag_purposes

T = datetime(2026, 11, 16, 8, 17, 42, tzinfo=UTC)


def _events() -> pa.Table:
    return pa.table(
        {
            "row": pa.array([0, 1], pa.int64()),
            "time": pa.array([T, T], pa.timestamp("us", tz="UTC")),
            "action": ["drop", "allow"],
            "src_mac": ["90:10:35:5a:1e:3a", None],
            "gid": pa.array([1000, 1000], pa.int32()),
            "src_ip": ["10.20.3.17", "8.8.8.8"],
            "src_ip_internal": [True, False],
            "dst_ip": ["149.154.167.91", "10.1.2.3"],
            "dst_ip_internal": [False, True],
            "actor_user": ["usr-k1-aaaa", "usr-k1-bbbb"],
            "device": [None, "dev-k1-cccc"],
            "evidence_tag": ["00" * 16, "11" * 16],
        }
    )


def test_default_deny_counts_dropped_values() -> None:
    policy = load_policy(default_policy_path("iptables"))
    kept, dropped = minimize(_events(), policy)
    assert "src_mac" not in kept.column_names and "gid" not in kept.column_names
    assert dropped == {"src_mac": 1, "gid": 2, "src_ip_internal": 2, "dst_ip_internal": 2}
    assert "evidence_tag" in kept.column_names


def test_generalisations() -> None:
    ts = pa.array([T], pa.timestamp("us", tz="UTC"))
    assert generalise(ts, Generalisation.hour)[0].as_py() == T.replace(minute=0, second=0)
    assert generalise(
        pa.array(["10.20.3.17", "2001:db8:1:2::5", "adr-k1-x"]), "subnet"
    ).to_pylist() == [  # noqa: E501
        "10.20.3.0/24",
        "2001:db8:1::/48",
        None,
    ]
    recipients = pa.array([["A@Gmail.com", "b@fjordvik.kommune.no"], None])
    assert generalise(recipients, Generalisation.domain).to_pylist() == [
        ["gmail.com", "fjordvik.kommune.no"],
        None,
    ]
    names = pa.array(["Kari Nordmann CV.DOCX", "noext"])
    assert generalise(names, Generalisation.extension).to_pylist() == [".docx", None]
    cmds = pa.array(["/usr/bin/systemctl restart nginx", "/bin/cat /home/karnor01/x"])
    assert generalise(cmds, Generalisation.program).to_pylist() == ["systemctl", "cat"]


def test_each_purpose_sees_only_its_columns() -> None:
    policy = load_policy(default_policy_path("iptables"))
    kept, _ = minimize(_events(), policy)
    kept = kept.append_column("src_ip_internal", pa.array([True, False]))
    kept = kept.append_column("dst_ip_internal", pa.array([False, True]))
    tagged, rejects = tag_purposes(kept, policy)
    assert rejects.num_rows == 0
    stamp = RunStamp("iptables", "run-1")
    admin = project(tagged, policy, Purpose.network_administration, stamp)
    incident = project(tagged, policy, Purpose.security_incident, stamp)
    assert admin.schema == purpose_schema(policy, Purpose.network_administration)
    assert "actor_user" not in admin.column_names
    assert "actor_user" in incident.column_names
    assert admin.column("time")[0].as_py() == T.replace(minute=0, second=0)
    assert incident.column("time")[0].as_py() == T
    assert admin.column("src_ip").to_pylist() == ["10.20.3.0/24", "8.8.8.0/24"]
    for table in (admin, incident):
        assert pc.all(pc.equal(pc.list_value_length(table.column("purposes")), 2)).as_py()
        assert set(pc.list_flatten(table.column("purposes")).to_pylist()) == {
            "network_administration",
            "security_incident",
        }
        assert table.column("evidence_tag").to_pylist() == ["00" * 16, "11" * 16]


def test_rows_matching_no_purpose_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = default_policy_path("iptables").read_text()
    text = text.replace(
        "retention_days = 180", 'retention_days = 180\nwhere = { action = ["drop"] }'
    ).replace("retention_days = 90", 'retention_days = 90\nwhere = { action = ["drop"] }')
    path = tmp_path / "p.toml"
    path.write_text(text)
    policy = load_policy(path)
    kept, _ = minimize(_events(), policy)
    tagged, rejects = tag_purposes(kept, policy)
    assert tagged.column("row").to_pylist() == [0]
    assert rejects.to_pylist() == [{"row": 1, "reason": "no lawful purpose"}]
