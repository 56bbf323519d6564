"""Microsoft 365 DLP audit records (Office 365 Management Activity API, DLPRuleMatch)
for the municipality, one JSON object per line.

Exchange matches (RecordType 13) carry the sender as UserId and ExchangeMetaData;
SharePoint and OneDrive matches (RecordType 11) are reported by a DLP service
principal and carry SharePointMetaData, whose personal-site URLs name their owner.
Besides a few ordinary matches, one employee mails and uploads files full of national
identity numbers to a private address within an hour one evening.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from pipelines.synthetic.logkit import Seen, garbage_line, work_time
from pipelines.synthetic.org import TENANT, Employee, Organisation
from pipelines.synthetic.scenario import Scenario

# Sensitive information type ids from Microsoft's entity definitions.
NORWAY_ID = ("d4c8a798-e9f2-4bd3-9652-500d24080fc3", "Norway Identification Number")
CREDIT_CARD = ("50842eb7-edc8-4019-85dd-5a5c1f2bb085", "Credit Card Number")
ONEDRIVE_AGENT = "DlpPolicyEventBasedAssistantOneDriveForBusiness"
SHAREPOINT_AGENT = "DLPAgent"
PARTNERS = ("postmottak@nav.no", "post@helsedirektoratet.no", "postmottak@statsforvalteren.no")
CITIZENS = ("ola.hansen1978@hotmail.com", "mariann.berg@online.no")  # private, third party
SITES = ("Barnevern", "Helse", "Okonomi", "Personal", "Skole")
FILES = (
    "Elevliste 5B.xlsx",
    "Lønnsoversikt november.xlsx",
    "Vedtak tildeling.docx",
    "Klientoversikt.xlsx",
    "Refusjon reise.pdf",
    "Innkalling ansettelse.docx",
    "Vaksinasjonsliste.xlsx",
    "Fakturagrunnlag.xlsx",
)
EXFIL_FILES = (
    "Barnevernssaker 2026.xlsx",
    "Klientregister komplett.xlsx",
    "Tiltaksplaner eksport.zip",
    "Meldinger 2025-2026.xlsx",
    "Fosterhjem oversikt.docx",
    "Saksliste uke 46.xlsx",
    "Kontaktinfo foresatte.xlsx",
)


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S")


class DlpWriter:
    def __init__(self, org: Organisation, scenario: Scenario, rng: random.Random, seen: Seen):
        self.org, self.sc, self.rng, self.seen = org, scenario, rng, seen
        self.org_id = self._uuid()
        self.policy_id = {"id": self._uuid(), "cc": self._uuid()}
        self.rule_ids = {name: self._uuid() for name in ("low", "high", "cc")}
        self.aliases = {a for e in org.employees for a in e.aliases}
        self.records: list[tuple[datetime, int, dict[str, Any]]] = []

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _policy(self, kind: str, count: int) -> list[dict[str, Any]]:
        stype, sname = CREDIT_CARD if kind == "cc" else NORWAY_ID
        high = kind != "cc" and count >= 10
        rule = "cc" if kind == "cc" else ("high" if high else "low")
        names = {
            "cc": "Betalingskort oppdaget",
            "high": "Fødselsnummer – høyt volum",
            "low": "Fødselsnummer – lavt volum",
        }
        actions = (
            ["BlockAccess", "NotifyUser", "GenerateIncidentReport"] if high else ["NotifyUser"]
        )
        return [
            {
                "PolicyId": self.policy_id["cc" if kind == "cc" else "id"],
                "PolicyName": "Betalingskort" if kind == "cc" else "Norske personopplysninger",
                "Rules": [
                    {
                        "ActionParameters": ["GenerateIncidentReport:SiteAdmin"] if high else [],
                        "Actions": actions,
                        "ConditionsMatched": {
                            "SensitiveInformation": [
                                {
                                    "Confidence": self.rng.choice((75, 85)),
                                    "Count": count,
                                    "SensitiveInformationTypeName": sname,
                                    "SensitiveType": stype,
                                }
                            ]
                        },
                        "RuleId": self.rule_ids[rule],
                        "RuleMode": "Enable",
                        "RuleName": names[rule],
                        "Severity": "High" if high else ("Medium" if kind == "cc" else "Low"),
                    }
                ],
            }
        ]

    def _add(self, t: datetime, record: dict[str, Any]) -> None:
        self.records.append((t, len(self.records), record))

    def mail(
        self,
        t: datetime,
        sender: Employee,
        to: list[str],
        cc: list[str],
        subject: str,
        kind: str,
        count: int,
    ) -> None:
        """An Exchange match: UserId is the sender."""
        for addr in [sender.upn, *to, *cc]:
            if addr not in PARTNERS:  # functional addresses of other bodies name nobody
                self.seen.add("emails", addr)
            if addr in self.aliases:
                self.seen.add("aliases", addr)
        server = f"DB{self.rng.randrange(3, 9)}PR05MB{self.rng.randrange(1000, 9999)}"
        msg_id = f"<{server}{self.rng.getrandbits(64):016X}@{server}.eurprd05.prod.outlook.com>"
        sent = t - timedelta(seconds=self.rng.uniform(5, 60))
        self._add(
            t,
            {
                "CreationTime": _ts(t),
                "Id": self._uuid(),
                "IncidentId": self._uuid(),
                "ObjectId": msg_id,
                "Operation": "DLPRuleMatch",
                "OrganizationId": self.org_id,
                "PolicyDetails": self._policy(kind, count),
                "RecordType": 13,
                "SensitiveInfoDetectionIsIncluded": False,
                "ExchangeMetaData": {
                    "BCC": [],
                    "CC": cc,
                    "FileSize": self.rng.randrange(20_000, 4_000_000),
                    "From": sender.upn,
                    "MessageID": msg_id,
                    "RecipientCount": len(to) + len(cc),
                    "Sent": _ts(sent),
                    "Subject": subject,
                    "To": to,
                    "UniqueID": self._uuid(),
                },
                "UserId": sender.upn,
                "UserKey": sender.upn,
                "UserType": 0,
                "Version": 1,
                "Workload": "Exchange",
            },
        )

    def file(
        self, t: datetime, owner: Employee, name: str, kind: str, count: int, onedrive: bool
    ) -> None:
        """A SharePoint or OneDrive match, reported by a DLP service principal."""
        r = self.rng
        if onedrive:
            site = f"https://{TENANT}-my.sharepoint.com/personal/{owner.site_segment}"
            path = f"{site}/Documents/{quote(name)}"
            self.seen.add("personal_site_segments", owner.site_segment)
        else:
            site = f"https://{TENANT}.sharepoint.com/sites/{r.choice(SITES)}"
            path = f"{site}/Delte%20dokumenter/{quote(name)}"
        upper = r.random() < 0.5  # SharePoint often reports the UPN upper-cased
        sender = owner.upn.upper() if upper else owner.upn
        self.seen.add("emails", sender)
        self.seen.add("display_names", owner.display_name)
        uid = self._uuid()
        created = t - timedelta(minutes=r.uniform(1, 600))
        agent = ONEDRIVE_AGENT if onedrive else SHAREPOINT_AGENT
        self._add(
            t,
            {
                "CreationTime": _ts(t),
                "Id": self._uuid(),
                "IncidentId": self._uuid(),
                "ObjectId": uid,
                "Operation": "DLPRuleMatch",
                "OrganizationId": self.org_id,
                "PolicyDetails": self._policy(kind, count),
                "RecordType": 11,
                "SensitiveInfoDetectionIsIncluded": False,
                "SharePointMetaData": {
                    "FileName": name,
                    "FileOwner": owner.display_name,
                    "FilePathUrl": path,
                    "From": sender,
                    "ItemCreationTime": _ts(created),
                    "ItemLastModifiedTime": _ts(t - timedelta(seconds=r.uniform(5, 120))),
                    "SiteCollectionGuid": self._uuid(),
                    "SiteCollectionUrl": site,
                    "UniqueID": uid,
                },
                "UserId": agent,
                "UserKey": agent,
                "UserType": 4,
                "Version": 1,
                "Workload": "OneDrive" if onedrive else "SharePoint",
            },
        )

    def generate(self) -> None:
        r, sc, staff = self.rng, self.sc, self.org.employees
        for day in sc.days:
            for _ in range(max(4, len(staff) // 12)):
                t, e = work_time(day, r, 0.02), r.choice(staff)
                kind = "cc" if r.random() < 0.2 else "id"
                count = r.randint(1, 4)
                k = r.random()
                if k < 0.45:
                    colleague = r.choice(staff)
                    to = [r.choice((colleague.upn, *colleague.aliases))]
                    if r.random() < 0.3:
                        to = [r.choice(PARTNERS + CITIZENS)]
                    cc = [r.choice(staff).upn] if r.random() < 0.2 else []
                    subject = r.choice(("Vedtak", "Oppfølging", "Søknad", "Innkalling", "Refusjon"))
                    self.mail(
                        t,
                        e,
                        to,
                        cc,
                        f"{subject} – saksnr. {r.randrange(10**4, 10**5)}",
                        kind,
                        count,
                    )
                else:
                    self.file(t, e, r.choice(FILES), kind, count, onedrive=k < 0.75)
        self._exfiltration()

    def _exfiltration(self) -> None:
        r, sc, e = self.rng, self.sc, self.sc.exfiltrator
        for i in range(22):
            t = sc.exfil_start + timedelta(seconds=r.uniform(0, 3300))
            name = r.choice(EXFIL_FILES)
            if i % 3 == 2:
                self.file(t, e, name, "id", r.randint(40, 400), onedrive=True)
            else:
                self.mail(t, e, [sc.private_address], [], f"VS: {name}", "id", r.randint(25, 600))

    def lines(self) -> list[str]:
        return [
            json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
            for _, _, rec in sorted(self.records, key=lambda x: x[:2])
        ]

    def malformed(self, lines: list[str]) -> list[str]:
        """Two JSON objects cut in half and a line of garbage."""
        r = self.rng
        cut = [r.choice(lines) for _ in range(2)]
        return [cut[0][: len(cut[0]) // 2], cut[1][: len(cut[1]) // 3], garbage_line(r)]
