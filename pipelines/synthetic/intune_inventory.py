"""A synthetic Intune device inventory of Fjordvik kommune, as the admin center's CSV
export (`intune-csv`) or as Graph managedDevice objects, one per line (`intune-json`).

Service laptops (Windows, a few Macs) and service phones (iPhone, Samsung) belong to the
municipality; some employees who have a service device also enrolled a private phone
(BYOD, for work mail). A few service devices and a larger share of private ones have
TikTok or Telegram installed: the ground truth of seed 002's detection. With
`forbidden=True` the export also carries fields the MDM must never see (seed 003):
browser history, personal e-mail and location, which ingest must drop and count.

Deterministic for a given seed. Times are UTC, check-ins during the days before
`exported`.
"""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pipelines.synthetic.org import build_organisation

EXPORTED = datetime(2026, 11, 18, 6, 0, tzinfo=UTC)
OFFICE = ("Microsoft Teams", "Microsoft Outlook", "Microsoft Word", "Microsoft Excel",
          "Microsoft OneDrive", "Company Portal")  # fmt: skip
LAPTOP_APPS = (*OFFICE, "Microsoft Edge", "Adobe Acrobat Reader", "7-Zip", "Visma Enterprise",
               "Gerica", "Citrix Workspace", "Google Chrome", "Zoom Workplace")  # fmt: skip
PHONE_APPS = ("Microsoft Teams", "Microsoft Outlook", "Microsoft Authenticator",
              "Company Portal", "Microsoft OneDrive", "Microsoft Edge", "BankID", "Vipps",
              "Yr", "Ruter", "Spotify", "Snapchat")  # fmt: skip
TIKTOK, TELEGRAM = "TikTok", "Telegram"
MODELS = {
    "windows": (("Dell Inc.", "Latitude 5440"), ("Dell Inc.", "Latitude 7450"),
                ("HP", "EliteBook 840 G10"), ("LENOVO", "ThinkPad T14 Gen 4")),
    "macos": (("Apple", "MacBook Air (M2, 2022)"),),
    "ios": (("Apple", "iPhone 14"), ("Apple", "iPhone 15"), ("Apple", "iPhone SE (3rd gen)")),
    "android": (("samsung", "SM-A546B"), ("samsung", "SM-S911B")),
}  # fmt: skip
OS = {"windows": ("Windows", ("10.0.22631.4460", "10.0.26100.2314")),
      "macos": ("macOS", ("14.7.1", "15.1")), "ios": ("iOS", ("17.7.1", "18.1")),
      "android": ("Android", ("14", "15"))}  # fmt: skip
CSV_HEADER = (
    "Device ID", "Device name", "Managed by", "Ownership", "Compliance", "OS", "OS version",
    "Last check-in", "Primary user UPN", "Primary user display name", "Model", "Manufacturer",
    "Serial number", "Phone number", "Installed apps",
)  # fmt: skip
CSV_FORBIDDEN = ("Browser history", "Personal email", "Location")  # JSON: camelCase keys
FORBIDDEN_NAMES = ("browser_history", "personal_email", "location")  # as ParseResult counts


@dataclass
class InventoryTruth:
    path: Path
    lines: int  # lines written (the CSV header included)
    devices: int
    owners: dict[str, str | None] = field(default_factory=dict)  # device name → UPN
    personal: list[str] = field(default_factory=list)  # BYOD device names
    byod_owners: list[str] = field(default_factory=list)  # each also has a service device
    tiktok: list[str] = field(default_factory=list)  # device names with TikTok
    telegram: list[str] = field(default_factory=list)  # device names with Telegram
    forbidden: dict[str, int] = field(default_factory=dict)  # field → non-empty values
    forbidden_values: list[str] = field(default_factory=list)  # for privacy scans
    display_names: list[str] = field(default_factory=list)  # in the export, never stored


def default_employees(count: int, seed: int) -> list[str]:
    org = build_organisation(max(4, min(count, 6000)), random.Random(f"{seed}/org"))
    return [e.upn for e in org.employees]


def write_inventory(
    path: Path | str,
    devices: int,
    seed: int,
    fmt: Literal["csv", "json"],
    employees: list[str] | None = None,
    *,
    forbidden: bool = False,
    exported: datetime = EXPORTED,
) -> InventoryTruth:
    """Write `devices` inventory rows to `path` and return what was written."""
    if fmt not in ("csv", "json"):
        raise ValueError("fmt must be 'csv' or 'json'")
    rng = random.Random(f"{seed}/intune")
    staff = list(employees) if employees else default_employees(max(4, devices // 2), seed)
    rows = _devices(devices, staff, rng, exported)
    truth = InventoryTruth(Path(path), 0, len(rows))
    for row in rows:
        name = row["name"]
        truth.owners[name] = row["upn"]
        if row["personal"]:
            truth.personal.append(name)
            truth.byod_owners.append(row["upn"])
        if any(TIKTOK in a for a in row["apps"]):
            truth.tiktok.append(name)
        if any(TELEGRAM in a for a in row["apps"]):
            truth.telegram.append(name)
        if row["upn"]:
            truth.display_names.append(_display(row["upn"]))
        if forbidden:
            _add_forbidden(row, rng, truth)
    truth.byod_owners = sorted(set(truth.byod_owners))
    truth.display_names = sorted(set(truth.display_names))
    text = _csv(rows, forbidden) if fmt == "csv" else _json(rows, forbidden)
    Path(path).write_text(text, encoding="utf-8")
    truth.lines = text.count("\n")
    return truth


def _devices(
    count: int, staff: list[str], rng: random.Random, exported: datetime
) -> list[dict[str, Any]]:
    n_byod = round(count * 0.12) if count >= 3 else 0
    serials = iter(rng.sample(range(10000, 10000 + max(89999, 2 * count)), count))
    owners = rng.sample(staff, len(staff))
    rows = [_service(i, owners, next(serials), rng, exported) for i in range(count - n_byod)]
    service_owners = sorted({r["upn"] for r in rows if r["upn"]})
    used: set[str] = set()
    for upn in rng.sample(service_owners, min(n_byod, len(service_owners))):
        platform = "ios" if rng.random() < 0.6 else "android"
        # Private devices keep the names their owners gave them.
        base = f"{_display(upn).split(' ')[0]}s {'iPhone' if platform == 'ios' else 'Galaxy'}"
        name, k = base, 2
        while name in used:
            name, k = f"{base} ({k})", k + 1
        used.add(name)
        rows.append(_device(name, upn, platform, True, rng, exported))
    while len(rows) < count:  # more private phones asked for than people to own them
        rows.append(_service(len(rows), owners, next(serials), rng, exported))
    _ensure_seed_002(rows, rng)
    rng.shuffle(rows)
    return rows


def _service(i: int, owners: list[str], serial: int, rng: random.Random,
             exported: datetime) -> dict[str, Any]:  # fmt: skip
    laptop = i % 2 == 0
    platform = ("windows" if rng.random() < 0.9 else "macos") if laptop else (
        "ios" if rng.random() < 0.6 else "android")  # fmt: skip
    shared = laptop and rng.random() < 0.03  # a meeting-room or library PC
    upn = None if shared else owners[i % len(owners)]
    name = f"FV-{'LT' if laptop else 'MOB'}-{serial:05d}"
    return _device(name, upn, platform, False, rng, exported)


def _device(name: str, upn: str | None, platform: str, personal: bool, rng: random.Random,
            exported: datetime) -> dict[str, Any]:  # fmt: skip
    maker, model = rng.choice(MODELS[platform])
    os_name, versions = OS[platform]
    phone = platform in ("ios", "android")
    pool = PHONE_APPS if phone else LAPTOP_APPS
    apps = [a for a in pool if rng.random() < 0.7] or [pool[0]]
    odds = 0.25 if personal else 0.04
    if phone and rng.random() < odds:
        apps.append(TIKTOK)
    if rng.random() < odds:
        apps.append(TELEGRAM if phone else "Telegram Desktop")
    seen = exported - timedelta(seconds=rng.randrange(1, 5 * 86400))
    never = rng.random() < 0.01
    return {
        "name": name, "upn": upn, "platform": platform, "personal": personal,
        "maker": maker, "model": model, "os": os_name, "os_version": rng.choice(versions),
        "serial": _serial(platform, rng), "apps": apps, "never": never, "seen": seen,
        "compliance": "noncompliant" if rng.random() < 0.08 else "compliant",
        "phone": f"+47 9{rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(100, 999)}"
        if phone and not personal else "",
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "extra": {},
    }  # fmt: skip


def _ensure_seed_002(rows: list[dict[str, Any]], rng: random.Random) -> None:
    """At least one service phone with TikTok, one with Telegram, one private phone with
    TikTok, so detections always have something to find."""
    service = [r for r in rows if not r["personal"] and r["platform"] in ("ios", "android")]
    private = [r for r in rows if r["personal"]]
    for pool, app in ((service, TIKTOK), (service, TELEGRAM), (private, TIKTOK)):
        if pool and not any(app in r["apps"] for r in pool):
            rng.choice(pool)["apps"].append(app)


def _serial(platform: str, rng: random.Random) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    size = {"windows": 7, "macos": 10, "ios": 10, "android": 11}[platform]
    head = {"android": "R5", "windows": ""}.get(platform, "")
    return head + "".join(rng.choice(alphabet) for _ in range(size - len(head)))


def _display(upn: str) -> str:
    local = upn.split("@")[0]
    return " ".join(part.capitalize() for part in local.split("."))


def _add_forbidden(row: dict[str, Any], rng: random.Random, truth: InventoryTruth) -> None:
    extra = row["extra"]
    if rng.random() < 0.7:
        token = f"{rng.getrandbits(48):012x}"
        extra["browser_history"] = [f"https://private-browsing-{token}.example/search",
                                    f"https://news-{token}.example/"]  # fmt: skip
        truth.forbidden_values.extend(extra["browser_history"])
    if row["personal"] and rng.random() < 0.8:
        extra["personal_email"] = f"privat.{rng.getrandbits(32):08x}@privatpost.example"
        truth.forbidden_values.append(extra["personal_email"])
    if rng.random() < 0.5:
        extra["location"] = (round(rng.uniform(58.0, 71.0), 5), round(rng.uniform(5.0, 30.0), 5))
    for name in FORBIDDEN_NAMES:
        if name in extra:
            truth.forbidden[name] = truth.forbidden.get(name, 0) + 1


def _csv(rows: list[dict[str, Any]], forbidden: bool) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_HEADER + (CSV_FORBIDDEN if forbidden else ()))
    for r in rows:
        seen = "" if r["never"] else r["seen"].strftime("%Y-%m-%d %H:%M:%S.0000000")
        line = [r["id"], r["name"], "Intune", "Personal" if r["personal"] else "Corporate",
                "Compliant" if r["compliance"] == "compliant" else "Not compliant", r["os"],
                r["os_version"], seen, r["upn"] or "", _display(r["upn"]) if r["upn"] else "",
                r["model"], r["maker"], r["serial"], r["phone"], ";".join(r["apps"])]  # fmt: skip
        if forbidden:
            x = r["extra"]
            loc = x.get("location")
            line += [" ".join(x.get("browser_history", [])), x.get("personal_email", ""),
                     f"{loc[0]} {loc[1]}" if loc else ""]  # fmt: skip
        w.writerow(line)
    return out.getvalue()


def _json(rows: list[dict[str, Any]], forbidden: bool) -> str:
    lines = []
    for r in rows:
        seen = "0001-01-01T00:00:00Z" if r["never"] else r["seen"].strftime("%Y-%m-%dT%H:%M:%SZ")
        doc: dict[str, Any] = {
            "id": r["id"], "deviceName": r["name"], "managedDeviceOwnerType":
            "personal" if r["personal"] else "company", "lastSyncDateTime": seen,
            "operatingSystem": r["os"], "complianceState": r["compliance"],
            "osVersion": r["os_version"], "userPrincipalName": r["upn"] or "",
            "emailAddress": r["upn"] or "", "userDisplayName": _display(r["upn"] or ""),
            "model": r["model"], "manufacturer": r["maker"], "serialNumber": r["serial"],
            "phoneNumber": r["phone"], "isEncrypted": True,
            "detectedApps": [{"displayName": a, "version": "1.0"} for a in r["apps"]],
        }  # fmt: skip
        if forbidden:
            x = r["extra"]
            if "browser_history" in x:
                doc["browserHistory"] = x["browser_history"]
            if "personal_email" in x:
                doc["personalEmail"] = x["personal_email"]
            if "location" in x:
                doc["location"] = {"latitude": x["location"][0], "longitude": x["location"][1]}
        lines.append(json.dumps(doc, ensure_ascii=False))
    return "\n".join(lines) + "\n"
