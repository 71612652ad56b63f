"""Column-wise checks of a batch of purchase rows, in DuckDB SQL.

Python hands over each batch as an Arrow table ``b`` (``line_number`` and the cells ``c0``,
``c1``... as text). One SQL statement parses every value of the batch into the table ``v``; then
the quality engine (:func:`observatoire.quality.findings.findings_sql`) checks ``v`` with the
import rules of the Egalim rule set (:data:`observatoire.egalim.rules.IMPORT_RULES`),
placed on this layout's cells: each rule's field is the cell's position in the header, its raw
value the cell, its value the detail the message needs. A ``bloquant`` finding sets its line
aside; an ``avertissement`` (a label to check, an unknown label a mapping accepts) keeps it.
:mod:`observatoire.egalim.messages` turns each finding's import code into French.

Cells whose values come from a small vocabulary (labels, families) are resolved once per distinct
cell in Python (:class:`Lookups`) and joined, so the label rules live in one Python table
(:mod:`observatoire.egalim.labels`) shared with other modules.

**Format and business errors combine** this way: each cell is first checked for format; a
business rule (§2.2 of egalim-rules.md, and the canteen directory) is checked only when the
values it needs were well written, and it reports on the column it is about (one error per
cell: the format error if there is one). A cell's checks are a list in precedence order
(:class:`Cell`), each turned into a rule that holds only when none before it does. So a single
pass reports every error of the file, and no business error is a mere consequence of a format
error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import pyarrow as pa

from observatoire.egalim.codes import (
    EGALIM_CHARACTERISTICS,
    FAMILIES,
    INFO_CHARACTERISTICS,
    LEGACY_CHARACTERISTICS,
    LOCAL_DEFINITIONS,
    canonical_characteristic,
)
from observatoire.egalim.labels import CODE_ORDER, normalise_label, resolve_label
from observatoire.egalim.layouts import Resolved
from observatoire.egalim.mapping import ColumnMapping
from observatoire.egalim.rules import IMPORT_RULES
from observatoire.quality.findings import findings_sql
from observatoire.quality.rules import BLOCKING, WARNING, Rule, Subject
from observatoire.sqlquote import literal

CURRENT_LOCAL_DEFINITIONS = ("PAT", "COMMUNE", "DEPARTEMENT", "REGION", "KM")
OLD_LOCAL_DEFINITIONS = ("AUTOUR_SERVICE", "COMMUNE", "DEPARTEMENT", "REGION", "PAT", "AUTRE")

#: Codes accepted in ma-cantine's ``categories_egalim``: the Egalim ones, our CE2 and the
#: legacy codes (mapped); the old ``caracteristiques`` also takes the information codes.
CATEGORY_CODES = frozenset(EGALIM_CHARACTERISTICS) | frozenset(LEGACY_CHARACTERISTICS)
OLD_CHARACTERISTIC_CODES = CATEGORY_CODES | frozenset(INFO_CHARACTERISTICS)

LOOKUP_SCHEMA = pa.schema(
    [
        ("raw", pa.string()),
        ("codes", pa.list_(pa.string())),
        ("bad", pa.string()),
        ("warn", pa.string()),
    ]
)
FAMILY_SCHEMA = pa.schema([("raw", pa.string()), ("code", pa.string()), ("bad", pa.bool_())])


def sql_text(value: str) -> str:
    """A SQL string literal (quotes doubled)."""
    return literal(value)


def sql_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(sql_text(v) for v in values) + "]::VARCHAR[]"


@dataclass
class Lookups:
    """Distinct label and family cells resolved in Python, kept across batches."""

    mapping: ColumnMapping | None
    old: bool
    labels: dict[str, tuple[list[str], str | None, str | None]] = field(default_factory=dict)
    families: dict[str, tuple[str | None, bool]] = field(default_factory=dict)
    changed: bool = True

    def add_labels(self, cells: set[str]) -> None:
        for raw in cells - self.labels.keys():
            self.labels[raw] = self._resolve_labels(raw)
            self.changed = True

    def add_families(self, cells: set[str]) -> None:
        for raw in cells - self.families.keys():
            self.families[raw] = self._resolve_family(raw)
            self.changed = True

    def label_table(self) -> pa.Table:
        raws = list(self.labels)
        values = [self.labels[r] for r in raws]
        return pa.table(
            [raws, [v[0] for v in values], [v[1] for v in values], [v[2] for v in values]],
            schema=LOOKUP_SCHEMA,
        )

    def family_table(self) -> pa.Table:
        raws = list(self.families)
        values = [self.families[r] for r in raws]
        return pa.table(
            [raws, [v[0] for v in values], [v[1] for v in values]], schema=FAMILY_SCHEMA
        )

    def _resolve_labels(self, raw: str) -> tuple[list[str], str | None, str | None]:
        if self.mapping is None:
            allowed = OLD_CHARACTERISTIC_CODES if self.old else CATEGORY_CODES
            codes: list[str] = []
            bad: list[str] = []
            for item in raw.split(","):
                code = item.strip().upper()
                if not code:
                    continue
                (codes if code in allowed else bad).append(canonical_characteristic(code))
            shown = ", ".join(f"« {b} »" for b in bad) if bad else None
            return codes, shown, None
        codes, unknown, warnings = [], [], []
        for item in raw.split(self.mapping.labels_separator):
            if not item.strip():
                continue
            meaning = resolve_label(item, self.mapping.label_table)
            if meaning is None:
                unknown.append(item.strip())
                continue
            if meaning.code:
                codes.append(meaning.code)
            if meaning.warning:
                warnings.append(f"« {item.strip()} » : {meaning.warning}")
        return (
            codes,
            ", ".join(f"« {u} »" for u in unknown) if unknown else None,
            " ; ".join(warnings) if warnings else None,
        )

    def _resolve_family(self, raw: str) -> tuple[str | None, bool]:
        text = raw.strip()
        if not text:
            return None, False
        key = normalise_label(text)
        if self.mapping and key in self.mapping.families:
            return self.mapping.families[key], False
        code = text.upper().replace(" ", "_")
        if code in FAMILIES:
            return code, False
        for family, label in FAMILIES.items():
            if normalise_label(label) == key:
                return family, False
        return None, True


@dataclass
class Cell:
    """The checks of one file column of the batch, in precedence order: its format checks, then
    its business rules; the first that holds is the cell's error (one error per cell). Each
    check is an import code and its SQL condition over the checked batch ``v``."""

    role: str
    index: int
    detail: str = "NULL"
    formats: list[tuple[str, str]] = field(default_factory=list)
    rules: list[tuple[str, str]] = field(default_factory=list)

    @property
    def format_bad(self) -> str:
        """SQL: the cell breaks one of its format checks."""
        return " OR ".join(f"COALESCE({c}, false)" for _, c in self.formats) or "false"


def _exclusive(checks: list[tuple[str, str]], gate: str = "") -> list[tuple[str, str]]:
    """Each check's condition, true only when no check before it holds (a CASE, as rules)."""
    out = []
    for k, (code, cond) in enumerate(checks):
        parts = [gate] if gate else []
        parts.append(f"COALESCE({cond}, false)")
        parts += [f"NOT COALESCE({c}, false)" for _, c in checks[:k]]
        out.append((code, " AND ".join(parts)))
    return out


#: The import codes by rule id (``EGALIM_PRICE_NEGATIVE`` -> ``price_negative``).
CODES_BY_RULE = {rule.id: code for code, rule in IMPORT_RULES.items()}

#: The table of one batch's findings, written by the quality engine.
FINDINGS = "import_findings_work"


@dataclass
class BatchSql:
    """The statements for one layout; built once per import."""

    create: str
    #: The quality engine's statement: the import rules over ``v`` into ``FINDINGS``.
    findings: str
    good: str
    #: The lines with a ``bloquant`` finding (set aside), and their errors in file order.
    bad_lines: str
    errors: str
    warnings: str | None
    rules: list[Rule]
    label_columns: tuple[int, ...]
    family_column: int | None


def build_sql(
    resolved: Resolved, header: list[str], mapping: ColumnMapping | None, today: dt.date
) -> BatchSql:
    """The SQL that parses a batch ``b`` into the temporary table ``v`` and checks it with the
    import rules of the Egalim rule set, on the quality engine."""
    roles = resolved.roles

    def cell(role: str) -> str | None:
        return f"b.c{roles[role]}" if role in roles else None

    select: list[str] = ["b.line_number", *(f"b.c{i} AS b_c{i}" for i in range(len(header)))]
    joins: list[str] = []
    cells: dict[str, Cell] = {}

    def check(role: str, formats: list[tuple[str, str]], detail: str = "NULL",
              index: int | None = None) -> Cell:
        """The cell of ``role`` with its format checks; its format status is kept in the batch
        (``fb_<role>``) for the business rules that need the cell well written."""
        c = cells[role] = Cell(role, roles[role] if index is None else index, detail, formats)
        select.append(f"({c.format_bad}) AS fb_{role}")
        return c

    # Canteen key (checked against the directory once the batch is parsed).
    key = cell("canteen") or "''"
    if resolved.keyed_by == "siret":
        select.append(f"regexp_replace(trim({key}), '[ \u00a0\u202f]', '', 'g') AS v_key")
        key_formats = [("required", "v_key = ''")]
    else:
        select.append(f"regexp_replace(trim({key}), '\\.0+$', '') AS v_key")
        key_formats = [("required", "v_key = ''"),
                       ("id_format", "NOT regexp_full_match(v_key, '\\d+')")]
    key_detail = "'le siret'" if resolved.keyed_by == "siret" else "'l''identifiant'"
    check("canteen", key_formats, key_detail).rules.append(("canteen_unknown", "NOT v_known"))
    # Description, supplier and the mapping-only text fields.
    desc = cell("description") or "''"
    select.append(f"trim({desc}) AS v_description")
    check("description", [("required", "v_description = ''")])
    for role in ("supplier", "article_code"):
        c = cell(role)
        select.append(f"nullif(trim({c}), '') AS v_{role}" if c else f"NULL::VARCHAR AS v_{role}")
    c = cell("supplier_siret")
    select.append(
        f"nullif(regexp_replace(trim({c}), '[ \u00a0\u202f]', '', 'g'), '') AS v_supplier_siret"
        if c
        else "NULL::VARCHAR AS v_supplier_siret"
    )
    # Date.
    select.append(f"trim({cell('date')}) AS v_date_text")
    if mapping is None:
        select.append(
            "CASE WHEN regexp_full_match(v_date_text, '\\d{4}-\\d{1,2}-\\d{1,2}') "
            "THEN try_strptime(v_date_text, '%Y-%m-%d')::DATE END AS v_date"
        )
        date_formats = [
            ("required", "v_date_text = ''"),
            ("date_format", "NOT regexp_full_match(v_date_text, '\\d{4}-\\d{1,2}-\\d{1,2}')"),
            ("date_impossible", "v_date IS NULL"),
        ]
        date_detail = "NULL"
    else:
        tries = ", ".join(f"try_strptime(v_date_text, {sql_text(f)})" for f in mapping.date_formats)
        select.append(f"coalesce({tries}, NULL)::DATE AS v_date")
        date_formats = [("required", "v_date_text = ''"), ("date_format_mapped", "v_date IS NULL")]
        date_detail = sql_text(" ou ".join(mapping.date_formats))
    check("date", date_formats, date_detail).rules.append(
        ("date_future", f"v_date > DATE '{today.isoformat()}'"))
    # Price: the text normalised to a point decimal, then rounded half-down to cents exactly.
    select.append(
        f"regexp_replace(trim({cell('price')}), '[ \u00a0\u202f]', '', 'g') AS v_price_text"
    )
    decimal = mapping.decimal_separator if mapping else "auto"
    point = "regexp_full_match(v_price_text, '-?(\\d+(\\.\\d*)?|\\.\\d+)')"
    comma = "regexp_full_match(v_price_text, '-?\\d+(,\\d+)?')"
    if decimal == ".":
        grouped = "regexp_full_match(v_price_text, '-?\\d{1,3}(,\\d{3})+(\\.\\d+)?')"
        normal = (
            f"CASE WHEN {point} THEN v_price_text "
            f"WHEN {grouped} THEN replace(v_price_text, ',', '') END"
        )
    elif decimal == ",":
        grouped = "regexp_full_match(v_price_text, '-?\\d{1,3}(\\.\\d{3})+(,\\d+)?')"
        normal = (
            f"CASE WHEN {comma} THEN replace(v_price_text, ',', '.') "
            f"WHEN {grouped} THEN replace(replace(v_price_text, '.', ''), ',', '.') END"
        )
    else:
        normal = (
            f"CASE WHEN {point} THEN v_price_text "
            f"WHEN {comma} THEN replace(v_price_text, ',', '.') END"
        )
    select.append(f"{normal} AS v_price_norm")
    select.append("ltrim(split_part(v_price_norm, '.', 1), '-') AS v_price_int")
    select.append("split_part(v_price_norm, '.', 2) AS v_price_frac")
    select.append(
        "CASE WHEN v_price_norm IS NOT NULL AND length(ltrim(v_price_int, '0')) <= 16 THEN "
        "(CASE WHEN starts_with(v_price_norm, '-') THEN -1 ELSE 1 END) * ("
        "CAST(coalesce(nullif(v_price_int, ''), '0') || '.' || rpad(left(v_price_frac, 2), 2, '0') "
        "AS DECIMAL(18, 2)) "
        "+ CASE WHEN rtrim(substr(v_price_frac, 3), '0') > '5' THEN 0.01 ELSE 0 END"
        ")::DECIMAL(18, 2) END AS v_price"
    )
    check("price", [
        ("required", "v_price_text = ''"),
        ("number_format", "v_price_norm IS NULL"),
        ("number_too_large", "v_price IS NULL"),
    ]).rules.append(("price_negative", "v_price < 0"))
    # Family.
    fam = cell("family")
    if fam and mapping is None:
        select.append(f"upper(trim({fam})) AS v_family_text")
        select.append(
            f"CASE WHEN list_contains({sql_list(list(FAMILIES))}, v_family_text) "
            "THEN v_family_text END AS v_family"
        )
        check("family", [("required", "v_family_text = ''"),
                         ("family_unknown", "v_family IS NULL")])
    elif fam:
        joins.append(f"LEFT JOIN fam ON fam.raw = {fam}")
        select.append("fam.code AS v_family")
        select.append("fam.bad AS v_family_bad")
        check("family", [("family_unknown", "v_family_bad")])
    else:
        select.append("NULL::VARCHAR AS v_family")
    # Labels: one lookup join per label column. A mapping may take unknown labels as a warning.
    label_codes: list[str] = []
    label_cells: list[Cell] = []
    warnings: list[tuple[str, int, str, str]] = []  # code, column, condition, message
    for j, index in enumerate(resolved.label_columns):
        joins.append(f"LEFT JOIN lab AS l{j} ON l{j}.raw = b.c{index}")
        label_codes.append(f"coalesce(l{j}.codes, []::VARCHAR[])")
        select.append(f"l{j}.warn AS w{j}")
        select.append(f"l{j}.bad AS bad{j}")
        if mapping is None:
            formats = [("labels_unknown", f"bad{j} IS NOT NULL")]
        elif mapping.unknown_labels_are_errors:
            formats = [("mapped_label_unknown", f"bad{j} IS NOT NULL")]
        else:
            formats = []
            warnings.append(("label_ignored", index, f"bad{j} IS NOT NULL",
                             f"'Label inconnu, ignoré : ' || bad{j}"))
        if mapping is not None:
            warnings.append(("label_to_check", index, f"w{j} IS NOT NULL", f"w{j}"))
        label_cells.append(check(f"lab{j}", formats, f"bad{j}", index))
    extra_codes: list[str] = []
    origin = cell("origin")
    if origin:
        select.append(f"upper(trim({origin})) AS v_origin_text")
        select.append(
            "CASE WHEN v_origin_text IN ('EUROPE', 'FRANCE') THEN v_origin_text END AS v_origin"
        )
        label_cells.append(check("origin", [
            ("origin_unknown", "v_origin_text <> '' AND v_origin IS NULL")]))
        extra_codes.append("CASE WHEN v_origin IS NULL THEN [] ELSE [v_origin] END::VARCHAR[]")
    for role, code in (("short_circuit", "CIRCUIT_COURT"), ("local", "LOCAL")):
        c = cell(role)
        if not c:
            continue
        select.append(
            f"CASE WHEN lower(trim({c})) IN ('oui', 'x') THEN true "
            f"WHEN lower(trim({c})) IN ('non', '') THEN false END AS v_{role}"
        )
        label_cells.append(check(role, [("boolean_format", f"v_{role} IS NULL")]))
        extra_codes.append(f"CASE WHEN v_{role} THEN ['{code}'] ELSE [] END::VARCHAR[]")
    all_codes = ", ".join(label_codes + extra_codes) or "[]::VARCHAR[]"
    select.append(f"list_concat({all_codes}) AS v_all_codes")
    # Second stage, over the materialised first one: a lambda or a repeated reference to a
    # column alias of the same SELECT would recompute the aliased expression each time.
    flags_ok = " AND ".join(f"NOT fb_{c.role}" for c in label_cells) or "true"
    stage2 = [
        "p.*",
        f"list_filter({sql_list(CODE_ORDER)}, lambda x: list_contains(v_all_codes, x)) "
        "AS v_characteristics",
        "list_contains(v_all_codes, 'LOCAL') AS v_has_local",
        f"({flags_ok}) AS v_flags_ok",
    ]
    # EUROPE and FRANCE together: said on the origin column, else on the first labels column.
    both = ("europe_and_france", "v_flags_ok AND list_contains(v_all_codes, 'EUROPE') "
            "AND list_contains(v_all_codes, 'FRANCE')")
    if origin:
        cells["origin"].rules.append(both)
    elif resolved.label_columns:
        cells["lab0"].rules.append(both)
    # Local definition and distance.
    allowed_ld = (
        OLD_LOCAL_DEFINITIONS
        if resolved.old
        else tuple(LOCAL_DEFINITIONS)
        if mapping
        else CURRENT_LOCAL_DEFINITIONS
    )
    ld = cell("local_definition")
    if ld:
        select.append(f"upper(trim({ld})) AS v_ld_text")
        select.append(
            f"CASE WHEN list_contains({sql_list(allowed_ld)}, v_ld_text) THEN v_ld_text END "
            "AS v_local_definition"
        )
        check("local_definition", [
            ("local_definition_unknown", "v_ld_text <> '' AND v_local_definition IS NULL")
        ]).rules.extend([
            ("local_definition_without_local",
             "v_flags_ok AND v_local_definition IS NOT NULL AND NOT v_has_local"),
            ("local_definition_missing", "v_flags_ok AND v_has_local AND v_ld_text = ''"),
        ])
    else:
        select.append("NULL::VARCHAR AS v_local_definition")
    km = cell("local_km")
    if km:
        select.append(f"trim({km}) AS v_km_text")
        select.append(
            "CASE WHEN regexp_full_match(v_km_text, '\\d{1,9}(\\.0*)?') "
            "THEN CAST(split_part(v_km_text, '.', 1) AS INTEGER) END AS v_local_km"
        )
        given = "v_local_km IS NOT NULL AND v_flags_ok"
        ld_ok = "NOT fb_local_definition" if ld else "true"
        check("local_km", [("km_format", "v_km_text <> '' AND v_local_km IS NULL")]).rules.extend([
            ("km_without_local", f"{given} AND NOT v_has_local"),
            ("km_not_km", f"{given} AND {ld_ok} AND v_local_definition IS DISTINCT FROM 'KM'"),
        ])
    else:
        select.append("NULL::INTEGER AS v_local_km")
    # Labels known, raw labels and raw cells.
    label_cells_sql = [f"nullif(trim(b.c{i}), '')" for i in resolved.label_columns]
    if mapping is None:
        select.append("true AS v_labels_known")
    elif label_cells_sql:
        empty = "true" if mapping.empty_labels_mean_none else "false"
        select.append(
            f"CASE WHEN coalesce({', '.join(label_cells_sql)}) IS NULL THEN {empty} ELSE true END "
            "AS v_labels_known"
        )
    else:
        select.append("false AS v_labels_known")
    select.append(
        f"nullif(concat_ws(' | ', {', '.join(label_cells_sql)}), '') AS v_raw_labels"
        if label_cells_sql
        else "NULL::VARCHAR AS v_raw_labels"
    )
    names = _json_keys(header)
    pairs = ", ".join(f"{sql_text(n)}, b.c{i}" for i, n in enumerate(names))
    select.append(f"json_object({pairs})::VARCHAR AS v_raw")

    create = (
        "CREATE OR REPLACE TEMP TABLE v AS WITH p AS MATERIALIZED (SELECT "
        + ", ".join(select)
        + " FROM b "
        + " ".join(joins)
        + "), q AS MATERIALIZED (SELECT "
        + ", ".join(stage2)
        + " FROM p) SELECT q.*, known.key IS NOT NULL AS v_known"
        + " FROM q LEFT JOIN known ON known.key = q.v_key"
    )
    # The rules of this layout: each import rule of the catalogue on the cells it checks; the
    # field is the cell's column (its position in the header), the values its text and detail.
    rules = []
    for checked in cells.values():
        checks = (_exclusive(checked.formats)
                  + _exclusive(checked.rules, gate=f"NOT fb_{checked.role}"))
        for code, cond in checks:
            rules.append(replace(IMPORT_RULES[code], field=str(checked.index), when=cond,
                                 raw=f"b_c{checked.index}", value=checked.detail))
    for code, index, cond, message in warnings:
        rules.append(replace(IMPORT_RULES[code], field=str(index), when=cond,
                             raw=f"b_c{index}", value=message))
    findings = findings_sql(FINDINGS, {"import"}, rules, {
        "import": Subject("v", "v.line_number", "CAST(NULL AS VARCHAR)")})
    siret = "v_key" if resolved.keyed_by == "siret" else "NULL::VARCHAR"
    cid = "v_key" if resolved.keyed_by == "id" else "NULL::VARCHAR"
    # A line is set aside when it has a blocking finding; a warning lets it through.
    blocked = f"SELECT record_key FROM {FINDINGS} WHERE severity = '{BLOCKING}'"
    good = (
        f"SELECT line_number, {siret} AS canteen_siret, {cid} AS canteen_id, "
        "v_description AS description, v_supplier AS supplier, "
        "v_supplier_siret AS supplier_siret, v_article_code AS article_code, "
        "v_date AS purchase_date, v_price AS price_ht, v_family AS family, "
        "v_characteristics AS characteristics, v_labels_known AS labels_known, "
        "v_local_definition AS local_definition, v_local_km AS local_km, "
        "v_raw_labels AS raw_labels, v_raw AS raw FROM v "
        f"WHERE line_number NOT IN ({blocked}) ORDER BY line_number"
    )
    bad_lines = f"SELECT count(DISTINCT record_key) FROM {FINDINGS} WHERE severity = '{BLOCKING}'"
    errors = (
        "SELECT record_key AS line_number, CAST(field AS INTEGER) AS col, raw_value AS value, "
        f"rule_id, value AS detail FROM {FINDINGS} WHERE severity = '{BLOCKING}' "
        "ORDER BY line_number, col"
    )
    warnings_sql = None
    if warnings:
        warnings_sql = (
            "SELECT rule_id, CAST(field AS INTEGER) AS col, raw_value AS value, "
            "value AS message, count(*) AS n, min(record_key) AS first "
            f"FROM {FINDINGS} WHERE severity = '{WARNING}' GROUP BY ALL"
        )
    return BatchSql(
        create,
        findings,
        good,
        bad_lines,
        errors,
        warnings_sql,
        rules,
        resolved.label_columns,
        fam if fam is None else roles["family"],
    )


def _json_keys(header: list[str]) -> list[str]:
    """Header names usable as JSON keys: stripped, unique, never empty."""
    seen: set[str] = set()
    names = []
    for i, name in enumerate(header):
        key = name.strip() or f"colonne_{i + 1}"
        if key in seen:
            key = f"{key}_{i + 1}"
        seen.add(key)
        names.append(key)
    return names
