"""The leak scan: is any plain identity stored in the lake or the catalog?

Every string value (list elements too) of every Parquet file in the lake, the view SQL,
table data and printable byte runs of the DuckDB catalog are checked against

- the alias directories (every identifier and employee id, case-insensitively, as a
  whole value or inside a longer one; identifiers shorter than `MIN_IDENTIFIER` are
  skipped, they would match by chance),
- identity patterns: e-mail addresses, `DOMAIN\\user`, internal IPv4 (RFC 1918,
  100.64/10) and IPv6 (fc00::/7, fe80::/10) addresses in plain form,
- the policy: a column the row's policy pseudonymises must hold pseudonyms
  (`usr-k1-<26 base32>` …), nothing else.

Internal addresses in IP columns are stored encrypted (ipcrypt-pfx) with a
`<col>_internal` flag; an encrypted address can look like a private one by chance, so a
value whose row is flagged internal is not a leak. Message-IDs (`<…@…>`) in the DLP
`object_id` column are not e-mail addresses.

Columns are checked vectorised: values are lower-cased, their distinct values matched
(RE2 regexes, `is_in` against the alias set) and the matches mapped back to the rows
with `is_in`; Python touches only the few examples kept per finding. The report never
holds a leaked value: only file, column, row, pattern and a SHA-256 prefix.
"""

from __future__ import annotations

import csv
import hashlib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from audit.report_data import AliasSource, LeakExample, LeakFinding, LeakScanSection
from schemas.datasets import DATASETS, INTERNAL_FLAG_SUFFIX
from schemas.policy import Action, Policy
from store.layout import StoreLayout
from transforms.identity import AliasDirectory, AliasError, normalize_identifier

MIN_IDENTIFIER = 4  # shorter alias identifiers are not checked (they match by chance)
EXAMPLES = 3  # examples kept per finding
DIGEST_HEX = 12  # SHA-256 prefix shown for an example
ALIAS_CHUNK = 200  # identifiers per regex: RE2's DFA stays small and fast

ALIAS_EXACT = "alias_identifier"
ALIAS_EMBEDDED = "alias_identifier_in_text"
NOT_PSEUDONYM = "not_pseudonymised"
EMAIL = "email"
DOMAIN_USER = "domain_user"
INTERNAL_IPV4 = "internal_ipv4"
INTERNAL_IPV6 = "internal_ipv6"

# RE2 syntax, applied to lower-cased values.
_REGEX = {
    EMAIL: r"[\p{L}\p{N}._%+'-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}",
    DOMAIN_USER: r"(?:^|[^\p{L}\p{N}._-])[\p{L}\p{N}][\p{L}\p{N}._-]{0,14}\\[\p{L}\p{N}._$-]+",
    INTERNAL_IPV4: (
        r"(?:^|[^0-9.])(?:10\.[0-9]{1,3}|172\.(?:1[6-9]|2[0-9]|3[01])|192\.168"
        r"|100\.(?:6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7]))\.[0-9]{1,3}\.[0-9]{1,3}(?:$|[^0-9])"
    ),
    INTERNAL_IPV6: r"(?:^|[^0-9a-z:])(?:f[cd][0-9a-f]{2}|fe[89ab][0-9a-f]):[0-9a-f]{0,4}:",
}
PATTERNS: dict[str, str] = {
    ALIAS_EXACT: "a value equal to an identifier or employee id of the alias directory",
    ALIAS_EMBEDDED: "an alias-directory identifier inside a longer value",
    EMAIL: "an e-mail address",
    DOMAIN_USER: "a Windows DOMAIN\\user account",
    INTERNAL_IPV4: "a plain internal IPv4 address (10/8, 172.16/12, 192.168/16, 100.64/10)",
    INTERNAL_IPV6: "a plain internal IPv6 address (fc00::/7, fe80::/10)",
    NOT_PSEUDONYM: "a value that is not a pseudonym in a column the policy pseudonymises",
}
_IP_PATTERNS = (INTERNAL_IPV4, INTERNAL_IPV6)
_PSEUDONYM = r"^(?:usr|dev|hst|adr|mac|pth)-[a-z0-9]+-[a-z2-7]{26}$"
_MESSAGE_ID = r"^<[^<>@\s]+@[^<>@\s]+>$"
_NON_ALNUM = r"[^\p{L}\p{N}]"
# Columns holding RFC 5322 Message-IDs, which look like e-mail addresses but are not.
MESSAGE_ID_COLUMNS = frozenset({("data_security_finding", "object_id")})
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e\x80-\xff]{4,}")
_RE2_SPECIAL = set("\\.+*?()|[]{}^$")


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_HEX]


@dataclass
class AliasSet:
    values: pa.Array  # lower-cased identifiers, at least MIN_IDENTIFIER long
    regexes: list[str]  # the same, as bounded alternations for matching inside values
    sources: list[AliasSource]

    @classmethod
    def load(cls, given: Sequence[Path], recorded: Iterable[str]) -> AliasSet:
        identifiers: set[str] = set()
        sources: list[AliasSource] = []
        seen: set[Path] = set()
        candidates = [(Path(p), "given") for p in given]
        candidates += [(Path(p), "ledger") for p in recorded]
        for path, origin in candidates:
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            source = AliasSource(path=str(path), origin=origin, status="loaded")  # type: ignore[arg-type]
            sources.append(source)
            if not path.is_file():
                source.status = "missing"
                continue
            try:
                found = _identifiers(path)
            except AliasError:
                source.status = "unreadable"
                continue
            kept = {i for i in found if len(i) >= MIN_IDENTIFIER}
            source.identifiers = len(kept)
            source.skipped_short = len(found) - len(kept)
            identifiers |= kept
        ordered = sorted(identifiers, key=lambda i: (-len(i), i))
        regexes = [
            r"(?:^|[^\p{L}\p{N}])(?:"
            + "|".join(_re2_escape(i) for i in ordered[n : n + ALIAS_CHUNK])
            + r")(?:$|[^\p{L}\p{N}])"
            for n in range(0, len(ordered), ALIAS_CHUNK)
        ]
        return cls(pa.array(ordered, pa.string()), regexes, sources)


def _identifiers(path: Path) -> set[str]:
    """Every identifier and employee id of an alias CSV, lower-cased, with the variants
    the pipeline matches (DOMAIN\\ removed, case-folded, OneDrive site segments)."""
    directory = AliasDirectory.load(path)  # validates; raises AliasError
    found = {k.lower() for k in directory.index} | {v.lower() for v in directory.index.values()}
    rows = csv.reader(path.read_text(encoding="utf-8-sig").splitlines())
    next(rows, None)
    for row in rows:
        if len(row) == 2 and row[1].strip():
            found.add(row[1].strip().lower())
            found.add(normalize_identifier(row[1]).lower())
    found.discard("")
    return found


def _re2_escape(text: str) -> str:
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


@dataclass
class _Hits:
    """Findings of one scan, with counts of values that were not counted and why."""

    findings: list[LeakFinding] = field(default_factory=list)
    exempt: dict[str, int] = field(default_factory=dict)
    values: int = 0
    columns: int = 0

    def exempted(self, why: str, n: int) -> None:
        if n:
            self.exempt[why] = self.exempt.get(why, 0) + n


@dataclass(frozen=True)
class _Column:
    file: str
    name: str
    values: pa.Array  # string values (list elements flattened)
    rows: pa.Array | None = None  # row of each value (None: its position)
    ip_exempt: pa.Array | None = None  # per value: internal-flagged, so encrypted
    message_ids: bool = False
    pseudonyms: bool = False


class _Classifier:
    """Which distinct lower-cased values match which pattern, decided once for the whole
    scan: compiling the regexes (the alias alternations above all) costs more than
    matching, so they run once over every distinct value instead of once per column."""

    COMPACT_AT = 1_000_000

    def __init__(self, aliases: AliasSet) -> None:
        self.aliases = aliases
        self._parts: list[pa.Array] = []
        self._size = 0
        self.matched: dict[str, pa.Array] = {}

    def add(self, values: pa.Array) -> None:
        distinct = pc.drop_null(pc.unique(pc.utf8_lower(values)))
        self._parts.append(distinct)
        self._size += len(distinct)
        if self._size > self.COMPACT_AT and len(self._parts) > 1:
            self._parts = [self._distinct()]
            self._size = len(self._parts[0])

    def _distinct(self) -> pa.Array:
        if not self._parts:
            return pa.array([], pa.string())
        return pc.unique(pa.concat_arrays(self._parts))

    def classify(self) -> None:
        distinct = self._distinct()
        self._parts = []
        exact = pc.fill_null(pc.is_in(distinct, value_set=self.aliases.values), False)
        self.matched[ALIAS_EXACT] = pc.filter(distinct, exact)
        rest = pc.filter(distinct, pc.invert(exact))
        rest = pc.filter(rest, pc.match_substring_regex(rest, _NON_ALNUM))
        inside = pa.array([False] * len(rest), pa.bool_())
        for regex in self.aliases.regexes if len(rest) else ():
            inside = pc.or_(inside, pc.match_substring_regex(rest, regex))
        self.matched[ALIAS_EMBEDDED] = pc.filter(rest, inside)
        for name, regex in _REGEX.items():
            self.matched[name] = pc.filter(distinct, pc.match_substring_regex(distinct, regex))


def _sum(mask: pa.Array) -> int:
    return int(pc.sum(mask).as_py() or 0)


def _scan_column(col: _Column, classifier: _Classifier, hits: _Hits) -> None:
    values = col.values
    if len(values) == 0 or values.null_count == len(values):
        return
    hits.values += len(values) - values.null_count
    lowered = pc.utf8_lower(values)
    masks: dict[str, pa.Array] = {}
    for name, matched in classifier.matched.items():
        if len(matched) == 0:
            continue
        m = pc.fill_null(pc.is_in(lowered, value_set=matched), False)
        if not _sum(m):
            continue
        if name in _IP_PATTERNS and col.ip_exempt is not None:
            hits.exempted("internal IP values flagged internal (encrypted)",
                          _sum(pc.and_(m, col.ip_exempt)))  # fmt: skip
            m = pc.and_(m, pc.invert(col.ip_exempt))
        if name == EMAIL and col.message_ids:
            msgid = pc.fill_null(pc.match_substring_regex(lowered, _MESSAGE_ID), False)
            hits.exempted("Message-IDs in data_security_finding.object_id (not e-mail)",
                          _sum(pc.and_(m, msgid)))  # fmt: skip
            m = pc.and_(m, pc.invert(msgid))
        masks[name] = m
    if col.pseudonyms:
        distinct = pc.drop_null(pc.unique(lowered))
        bad = pc.filter(distinct, pc.invert(pc.match_substring_regex(distinct, _PSEUDONYM)))
        if len(bad):
            masks[NOT_PSEUDONYM] = pc.fill_null(pc.is_in(lowered, value_set=bad), False)
    for name, mask in masks.items():
        count = _sum(mask)
        if not count:
            continue
        first = pc.indices_nonzero(mask).slice(0, EXAMPLES).to_pylist()
        examples = [
            LeakExample(
                row=int(col.rows[i].as_py()) if col.rows is not None else i,
                sha256_prefix=digest(values[i].as_py()),
            )
            for i in first
        ]
        hits.findings.append(
            LeakFinding(file=col.file, column=col.name, pattern=name, count=count,
                        examples=examples)
        )  # fmt: skip


def _string_values(array: pa.Array) -> tuple[pa.Array, pa.Array | None] | None:
    """String values of a column and, for lists, the row of each element."""
    type_ = array.type
    if pa.types.is_dictionary(type_):
        array = array.cast(type_.value_type)
        type_ = array.type
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return array.cast(pa.string()), None
    if (pa.types.is_list(type_) or pa.types.is_large_list(type_)) and (
        pa.types.is_string(type_.value_type) or pa.types.is_large_string(type_.value_type)
    ):
        return pc.list_flatten(array).cast(pa.string()), pc.list_parent_indices(array)
    return None


def _table_columns(
    table: pa.Table,
    file: str,
    dataset: str | None,
    prefix: str = "",
    pseudonymised: frozenset[str] = frozenset(),
) -> tuple[list[_Column], list[str]]:
    """A table's string columns (and its column names) to scan; and the names of its
    nested or binary columns, which are not scanned."""
    names = pa.array(table.column_names, pa.string())
    columns = [_Column(file, prefix + "(column names)", names)]
    skipped = []
    for name in table.column_names:
        chunked = table.column(name)
        array = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
        got = _string_values(array)
        if got is None:
            if pa.types.is_nested(array.type) or pa.types.is_binary(array.type):
                skipped.append(prefix + name)
            continue
        values, rows = got
        flag_name = name + INTERNAL_FLAG_SUFFIX
        exempt = None
        if rows is None and flag_name in table.column_names:
            flag = table.column(flag_name).combine_chunks()
            if pa.types.is_boolean(flag.type):
                exempt = pc.fill_null(flag, False)
        columns.append(
            _Column(
                file=file,
                name=prefix + name,
                values=values,
                rows=rows,
                ip_exempt=exempt,
                message_ids=(dataset, name) in MESSAGE_ID_COLUMNS,
                pseudonyms=name in pseudonymised,
            )
        )
    return columns, skipped


def _pseudonymised_columns(
    table: pa.Table, dataset: str | None, policies: PolicyIndex
) -> tuple[frozenset[str], bool]:
    """Columns every policy named by the file's rows pseudonymises into pseudonyms (not
    addresses or URLs); and whether every row named a known policy."""
    if table.num_rows == 0:
        return frozenset(), True
    if dataset not in DATASETS or "policy_id" not in table.column_names:
        return frozenset(), False
    ids = table.column("policy_id")
    versions = (
        table.column("policy_version")
        if "policy_version" in table.column_names
        else pa.nulls(table.num_rows, pa.int32())
    )
    pairs = pa.table({"i": ids.cast(pa.string()), "v": versions.cast(pa.int64())})
    known: list[Policy] = []
    for pair in pairs.group_by(["i", "v"]).aggregate([]).to_pylist():
        policy = policies.find(pair["i"], pair["v"])
        if policy is None:
            return frozenset(), False
        known.append(policy)
    spec = DATASETS[dataset]
    columns: set[str] | None = None
    for policy in known:
        own = {
            c.name
            for c in spec.columns
            if c.identity is not None
            and not c.ip
            and not c.url
            and (rule := policy.fields.get(c.name)) is not None
            and rule.action is Action.pseudonymize
        }
        columns = own if columns is None else columns & own
    return frozenset(columns or ()), True


@dataclass
class PolicyIndex:
    """Policies by (id, version), falling back to the latest version of an id."""

    policies: Sequence[Policy]

    def find(self, policy_id: str | None, version: int | None) -> Policy | None:
        if policy_id is None:
            return None
        same = [p for p in self.policies if p.id == policy_id]
        exact = [p for p in same if p.version == version]
        if exact:
            return exact[0]
        return max(same, key=lambda p: p.version, default=None)


@dataclass(frozen=True)
class _LakeFile:
    path: Path
    rel: str
    dataset: str | None


def scan_store(
    layout: StoreLayout,
    aliases: Sequence[Path],
    recorded_aliases: Iterable[str],
    policies: Sequence[Policy],
) -> LeakScanSection:
    """Two passes over the lake: collect the distinct values and classify them once,
    then find the rows holding the matched values."""
    start = time.perf_counter()
    section = LeakScanSection(min_identifier_length=MIN_IDENTIFIER, patterns=dict(PATTERNS))
    alias_set = AliasSet.load(aliases, recorded_aliases)
    section.alias_sources = alias_set.sources
    section.alias_identifiers = len(alias_set.values)
    index = PolicyIndex(policies)
    classifier = _Classifier(alias_set)
    hits = _Hits()
    files, other_files = _lake_files(layout)
    readable = []
    for f in files:
        try:
            table = pq.read_table(f.path)
        except (OSError, pa.ArrowException) as exc:
            section.errors.append(f"{f.rel}: cannot read ({type(exc).__name__})")
            continue
        readable.append(f)
        for col in _table_columns(table, f.rel, f.dataset)[0]:
            classifier.add(col.values)
    catalog = _catalog_columns(layout, section)
    for col in catalog:
        classifier.add(col.values)
    classifier.classify()
    unpoliced: list[str] = []
    skipped: list[str] = []
    for f in readable:
        table = pq.read_table(f.path)
        section.files_scanned += 1
        section.rows_scanned += table.num_rows
        pseudonymised, policed = _pseudonymised_columns(table, f.dataset, index)
        if not policed:
            unpoliced.append(f.rel)
        columns, not_scanned = _table_columns(table, f.rel, f.dataset, "", pseudonymised)
        skipped += [f"{f.rel}:{c}" for c in not_scanned]
        for col in columns:
            _scan_column(col, classifier, hits)
        hits.columns += len(columns) - 1
    for col in catalog:
        _scan_column(col, classifier, hits)
    hits.columns += len(catalog)
    section.files_scanned += len({c.file for c in catalog})
    section.values_scanned = hits.values
    section.columns_scanned = hits.columns
    section.findings = sorted(hits.findings, key=lambda f: (f.file, f.column, f.pattern))
    section.total_findings = sum(f.count for f in section.findings)
    by_pattern: dict[str, int] = {}
    for finding in section.findings:
        by_pattern[finding.pattern] = by_pattern.get(finding.pattern, 0) + finding.count
    section.by_pattern = by_pattern
    section.exempt = hits.exempt
    _summarise(section, unpoliced, skipped, other_files)
    section.seconds = round(time.perf_counter() - start, 4)
    return section


def _lake_files(layout: StoreLayout) -> tuple[list[_LakeFile], int]:
    """Every Parquet file in the lake (anchors too), and how many other files there are."""
    files, others = [], 0
    for path in sorted(layout.lake.rglob("*")) if layout.lake.is_dir() else []:
        if not path.is_file():
            continue
        if path.suffix != ".parquet":
            others += 1
            continue
        parts = path.relative_to(layout.lake).parts
        dataset = parts[0] if len(parts) > 1 else None
        files.append(_LakeFile(path, str(path.relative_to(layout.root)), dataset))
    return files, others


def _summarise(
    section: LeakScanSection, unpoliced: list[str], skipped: list[str], other_files: int
) -> None:
    skipped_short = sum(s.skipped_short for s in section.alias_sources)
    loaded = [s for s in section.alias_sources if s.status == "loaded"]
    section.notes.append(
        f"alias identifiers shorter than {MIN_IDENTIFIER} characters are not checked (they "
        f"would match by chance): {skipped_short} skipped"
    )
    if not loaded:
        section.warn("no alias directory could be read: only the identity patterns were checked")
    for s in section.alias_sources:
        if s.status != "loaded":
            section.warn(f"alias directory {s.path} ({s.origin}): {s.status}, not checked")
    if unpoliced:
        section.notes.append(
            f"{len(unpoliced)} file(s) hold rows of no known policy: their pseudonym columns "
            "were checked by pattern only"
        )
    if skipped:
        section.warn(f"{len(skipped)} nested or binary column(s) not scanned: {skipped[:5]}")
    if other_files:
        section.warn(f"{other_files} file(s) in the lake that are not Parquet were not scanned")
    for error in section.errors:
        section.fail(f"not scanned: {error}")
    if section.total_findings:
        section.fail(
            f"{section.total_findings} plain identity value(s) found in "
            f"{len({f.file for f in section.findings})} file(s)"
        )
    section.summary = (
        f"{section.total_findings} findings in {section.files_scanned} files, "
        f"{section.rows_scanned} rows, {section.values_scanned} string values; "
        f"{section.alias_identifiers} alias identifiers from {len(loaded)} directory(ies)"
    )


def _catalog_columns(layout: StoreLayout, section: LeakScanSection) -> list[_Column]:
    """The catalog's view names and SQL, any table data (opened read-only), and the
    printable byte runs of the file (and of a WAL left next to it)."""
    rel = str(layout.catalog.relative_to(layout.root))
    if not layout.catalog.is_file():
        section.errors.append(f"{rel}: missing")
        return []
    columns: list[_Column] = []
    try:
        con = duckdb.connect(str(layout.catalog), read_only=True)
    except duckdb.Error as exc:
        section.errors.append(f"{rel}: cannot open read-only ({type(exc).__name__})")
    else:
        try:
            views = con.execute(
                "SELECT schema_name || '.' || view_name, sql FROM duckdb_views() "
                "WHERE NOT internal ORDER BY 1"
            ).fetchall()
            names = pa.array([v[0] for v in views], pa.string())
            sqls = pa.array([v[1] for v in views], pa.string())
            columns += [_Column(rel, "views (names)", names), _Column(rel, "views (sql)", sqls)]
            tables = con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal"
            ).fetchall()
            if tables:
                section.warn(f"{rel}: holds {len(tables)} table(s); a catalog holds only views")
            for schema, table in tables:
                quoted = '"{}"."{}"'.format(schema.replace('"', '""'), table.replace('"', '""'))
                data = con.execute(f"SELECT * FROM {quoted}").fetch_arrow_table()
                columns += _table_columns(data, rel, None, f"{schema}.{table}.")[0]
        except duckdb.Error as exc:
            section.errors.append(f"{rel}: cannot read ({type(exc).__name__})")
        finally:
            con.close()
    for path in (layout.catalog, layout.catalog.with_name(layout.catalog.name + ".wal")):
        if path.is_file():
            columns.append(_raw_column(path, str(path.relative_to(layout.root))))
    return columns


def _raw_column(path: Path, rel: str) -> _Column:
    """Printable byte runs of a file, as a column of strings at their byte offsets."""
    data = path.read_bytes()
    offsets, runs = [], []
    for m in _PRINTABLE_RUN.finditer(data):
        offsets.append(m.start())
        runs.append(m.group().decode("utf-8", "replace"))
    return _Column(rel, "(raw bytes)", pa.array(runs, pa.string()), pa.array(offsets, pa.int64()))
