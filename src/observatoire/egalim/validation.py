"""Column-wise checks of a batch of purchase rows, in DuckDB SQL.

Python hands over each batch as an Arrow table ``b`` (``line_number`` and the cells ``c0``,
``c1``... as text). One SQL statement parses every value of the batch and gives, for each checked
column, an error code or NULL (:mod:`observatoire.egalim.messages` turns codes into French).

Cells whose values come from a small vocabulary (labels, families) are resolved once per distinct
cell in Python (:class:`Lookups`) and joined, so the label rules live in one Python table
(:mod:`observatoire.egalim.labels`) shared with other modules.

**Format and business errors combine** this way: each cell is first checked for format; a
business rule (§2.2 of egalim-rules.md, and the canteen directory) is checked only when the
values it needs were well written, and it reports on the column it is about (one error per
cell: the format error if there is one). So a single pass reports every error of the file, and
no business error is a mere consequence of a format error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

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
class CheckedColumn:
    """An error column of the checked batch: its SQL alias and the file column it is about."""

    alias: str
    index: int
    detail: str = "NULL"


@dataclass
class BatchSql:
    """The statements for one layout; built once per import."""

    create: str
    good: str
    errors: str
    warnings: str | None
    checked: list[CheckedColumn]
    label_columns: tuple[int, ...]
    family_column: int | None


def build_sql(
    resolved: Resolved, header: list[str], mapping: ColumnMapping | None, today: dt.date
) -> BatchSql:
    """The SQL that checks a batch ``b`` and fills the temporary table ``v``."""
    roles = resolved.roles

    def cell(role: str) -> str | None:
        return f"b.c{roles[role]}" if role in roles else None

    select: list[str] = ["b.line_number", *(f"b.c{i} AS b_c{i}" for i in range(len(header)))]
    joins: list[str] = []
    checked: list[CheckedColumn] = []

    def check(role: str, expr: str, detail: str = "NULL") -> None:
        alias = f"e_{role}"
        select.append(f"{expr} AS {alias}")
        checked.append(CheckedColumn(alias, roles[role], detail))

    # Canteen key (business check against the directory is done in the outer query).
    key = cell("canteen") or "''"
    if resolved.keyed_by == "siret":
        select.append(f"regexp_replace(trim({key}), '[ \u00a0\u202f]', '', 'g') AS v_key")
        select.append("CASE WHEN v_key = '' THEN 'required' END AS f_key")
    else:
        select.append(f"regexp_replace(trim({key}), '\\.0+$', '') AS v_key")
        select.append(
            "CASE WHEN v_key = '' THEN 'required' "
            "WHEN NOT regexp_full_match(v_key, '\\d+') THEN 'id_format' END AS f_key"
        )
    # Description, supplier and the mapping-only text fields.
    desc = cell("description") or "''"
    select.append(f"trim({desc}) AS v_description")
    check("description", "CASE WHEN v_description = '' THEN 'required' END")
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
        select.append(
            "CASE WHEN v_date_text = '' THEN 'required' "
            "WHEN NOT regexp_full_match(v_date_text, '\\d{4}-\\d{1,2}-\\d{1,2}') "
            "THEN 'date_format' WHEN v_date IS NULL THEN 'date_impossible' END AS f_date"
        )
        date_detail = "NULL"
    else:
        tries = ", ".join(f"try_strptime(v_date_text, {sql_text(f)})" for f in mapping.date_formats)
        select.append(f"coalesce({tries}, NULL)::DATE AS v_date")
        select.append(
            "CASE WHEN v_date_text = '' THEN 'required' "
            "WHEN v_date IS NULL THEN 'date_format_mapped' END AS f_date"
        )
        date_detail = sql_text(" ou ".join(mapping.date_formats))
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
    select.append(
        "CASE WHEN v_price_text = '' THEN 'required' "
        "WHEN v_price_norm IS NULL THEN 'number_format' "
        "WHEN v_price IS NULL THEN 'number_too_large' END AS f_price"
    )
    # Family.
    fam = cell("family")
    if fam and mapping is None:
        select.append(f"upper(trim({fam})) AS v_family_text")
        select.append(
            f"CASE WHEN list_contains({sql_list(list(FAMILIES))}, v_family_text) "
            "THEN v_family_text END AS v_family"
        )
        check(
            "family",
            "CASE WHEN v_family_text = '' THEN 'required' "
            "WHEN v_family IS NULL THEN 'family_unknown' END",
        )
    elif fam:
        joins.append(f"LEFT JOIN fam ON fam.raw = {fam}")
        select.append("fam.code AS v_family")
        check("family", "CASE WHEN fam.bad THEN 'family_unknown' END")
    else:
        select.append("NULL::VARCHAR AS v_family")
    # Labels: one lookup join per label column.
    label_codes: list[str] = []
    label_checks: list[str] = []
    for j, index in enumerate(resolved.label_columns):
        joins.append(f"LEFT JOIN lab AS l{j} ON l{j}.raw = b.c{index}")
        label_codes.append(f"coalesce(l{j}.codes, []::VARCHAR[])")
        select.append(f"l{j}.warn AS w{j}")
        select.append(f"l{j}.bad AS bad{j}")
        if mapping is None:
            code = f"CASE WHEN l{j}.bad IS NOT NULL THEN 'labels_unknown' END"
        elif mapping.unknown_labels_are_errors:
            code = f"CASE WHEN l{j}.bad IS NOT NULL THEN 'mapped_label_unknown' END"
        else:
            code = "NULL::VARCHAR"
            select.append(
                f"CASE WHEN l{j}.bad IS NOT NULL THEN 'Label inconnu, ignoré : ' || l{j}.bad "
                f"END AS u{j}"
            )
        alias = f"f_lab{j}"
        select.append(f"{code} AS {alias}")
        label_checks.append(alias)
    extra_codes: list[str] = []
    origin = cell("origin")
    if origin:
        select.append(f"upper(trim({origin})) AS v_origin_text")
        select.append(
            "CASE WHEN v_origin_text IN ('EUROPE', 'FRANCE') THEN v_origin_text END AS v_origin"
        )
        select.append(
            "CASE WHEN v_origin_text <> '' AND v_origin IS NULL THEN 'origin_unknown' END "
            "AS f_origin"
        )
        extra_codes.append("CASE WHEN v_origin IS NULL THEN [] ELSE [v_origin] END::VARCHAR[]")
        label_checks.append("f_origin")
    for role, code in (("short_circuit", "CIRCUIT_COURT"), ("local", "LOCAL")):
        c = cell(role)
        if not c:
            continue
        select.append(
            f"CASE WHEN lower(trim({c})) IN ('oui', 'x') THEN true "
            f"WHEN lower(trim({c})) IN ('non', '') THEN false END AS v_{role}"
        )
        check(role, f"CASE WHEN v_{role} IS NULL THEN 'boolean_format' END")
        extra_codes.append(f"CASE WHEN v_{role} THEN ['{code}'] ELSE [] END::VARCHAR[]")
        label_checks.append(f"e_{role}")
    all_codes = ", ".join(label_codes + extra_codes) or "[]::VARCHAR[]"
    select.append(f"list_concat({all_codes}) AS v_all_codes")
    # Second stage, over the materialised first one: a lambda or a repeated reference to a
    # column alias of the same SELECT would recompute the aliased expression each time.
    flags_ok = " AND ".join(f"{a} IS NULL" for a in label_checks) or "true"
    stage2 = [
        "p.*",
        f"list_filter({sql_list(CODE_ORDER)}, lambda x: list_contains(v_all_codes, x)) "
        "AS v_characteristics",
        "list_contains(v_all_codes, 'LOCAL') AS v_has_local",
        f"({flags_ok}) AS v_flags_ok",
    ]
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
        select.append(
            "CASE WHEN v_ld_text <> '' AND v_local_definition IS NULL "
            "THEN 'local_definition_unknown' END AS f_ld"
        )
    else:
        select.append("NULL::VARCHAR AS v_local_definition")
    km = cell("local_km")
    if km:
        select.append(f"trim({km}) AS v_km_text")
        select.append(
            "CASE WHEN regexp_full_match(v_km_text, '\\d{1,9}(\\.0*)?') "
            "THEN CAST(split_part(v_km_text, '.', 1) AS INTEGER) END AS v_local_km"
        )
        select.append(
            "CASE WHEN v_km_text <> '' AND v_local_km IS NULL THEN 'km_format' END AS f_km"
        )
    else:
        select.append("NULL::INTEGER AS v_local_km")
    # Labels known, raw labels and raw cells.
    label_cells = [f"nullif(trim(b.c{i}), '')" for i in resolved.label_columns]
    if mapping is None:
        select.append("true AS v_labels_known")
    elif label_cells:
        empty = "true" if mapping.empty_labels_mean_none else "false"
        select.append(
            f"CASE WHEN coalesce({', '.join(label_cells)}) IS NULL THEN {empty} ELSE true END "
            "AS v_labels_known"
        )
    else:
        select.append("false AS v_labels_known")
    select.append(
        f"nullif(concat_ws(' | ', {', '.join(label_cells)}), '') AS v_raw_labels"
        if label_cells
        else "NULL::VARCHAR AS v_raw_labels"
    )
    names = _json_keys(header)
    pairs = ", ".join(f"{sql_text(n)}, b.c{i}" for i, n in enumerate(names))
    select.append(f"json_object({pairs})::VARCHAR AS v_raw")

    # Business rules, in the outer query, once every value is parsed.
    outer: list[str] = ["q.*"]
    outer_checked: list[CheckedColumn] = []

    def rule(role: str, index: int, expr: str, detail: str = "NULL") -> None:
        alias = f"e_{role}"
        outer.append(f"{expr} AS {alias}")
        outer_checked.append(CheckedColumn(alias, index, detail))

    key_detail = "'le siret'" if resolved.keyed_by == "siret" else "'l''identifiant'"
    rule(
        "canteen",
        roles["canteen"],
        "coalesce(f_key, CASE WHEN known.key IS NULL THEN 'canteen_unknown' END)",
        key_detail,
    )
    rule(
        "date",
        roles["date"],
        f"coalesce(f_date, CASE WHEN v_date > DATE '{today.isoformat()}' THEN 'date_future' END)",
        date_detail,
    )
    rule(
        "price",
        roles["price"],
        "coalesce(f_price, CASE WHEN v_price < 0 THEN 'price_negative' END)",
    )
    both = (
        "CASE WHEN v_flags_ok AND list_contains(v_all_codes, 'EUROPE') "
        "AND list_contains(v_all_codes, 'FRANCE') THEN 'europe_and_france' END"
    )
    if origin:
        rule("origin", roles["origin"], f"coalesce(f_origin, {both})")
    for j, index in enumerate(resolved.label_columns):
        detail = f"bad{j}"
        expr = f"coalesce(f_lab{j}, {both})" if j == 0 and not origin else f"f_lab{j}"
        rule(f"lab{j}", index, expr, detail)
    if ld:
        rule(
            "local_definition",
            roles["local_definition"],
            "coalesce(f_ld, CASE WHEN NOT v_flags_ok THEN NULL "
            "WHEN v_local_definition IS NOT NULL AND NOT v_has_local "
            "THEN 'local_definition_without_local' "
            "WHEN v_has_local AND v_ld_text = '' THEN 'local_definition_missing' END)",
        )
    if km:
        ld_ok = "f_ld IS NULL" if ld else "true"
        rule(
            "local_km",
            roles["local_km"],
            "coalesce(f_km, CASE WHEN v_local_km IS NULL OR NOT v_flags_ok THEN NULL "
            "WHEN NOT v_has_local THEN 'km_without_local' "
            f"WHEN {ld_ok} AND v_local_definition IS DISTINCT FROM 'KM' THEN 'km_not_km' END)",
        )
    all_checked = checked + outer_checked
    ok = " AND ".join(f"{c.alias} IS NULL" for c in all_checked)
    outer.append(f"({ok}) AS ok")
    details = ", ".join(f"{c.detail} AS d_{c.alias}" for c in all_checked)
    outer.append(details)

    create = (
        "CREATE OR REPLACE TEMP TABLE v AS WITH p AS MATERIALIZED (SELECT "
        + ", ".join(select)
        + " FROM b "
        + " ".join(joins)
        + "), q AS MATERIALIZED (SELECT "
        + ", ".join(stage2)
        + " FROM p) SELECT "
        + ", ".join(outer)
        + " FROM q LEFT JOIN known ON known.key = q.v_key"
    )
    siret = "v_key" if resolved.keyed_by == "siret" else "NULL::VARCHAR"
    cid = "v_key" if resolved.keyed_by == "id" else "NULL::VARCHAR"
    good = (
        f"SELECT line_number, {siret} AS canteen_siret, {cid} AS canteen_id, "
        "v_description AS description, v_supplier AS supplier, "
        "v_supplier_siret AS supplier_siret, v_article_code AS article_code, "
        "v_date AS purchase_date, v_price AS price_ht, v_family AS family, "
        "v_characteristics AS characteristics, v_labels_known AS labels_known, "
        "v_local_definition AS local_definition, v_local_km AS local_km, "
        "v_raw_labels AS raw_labels, v_raw AS raw FROM v WHERE ok ORDER BY line_number"
    )
    parts = [
        f"SELECT line_number, {c.index} AS col, b_c{c.index} AS value, {c.alias} AS code, "
        f"d_{c.alias} AS detail FROM v WHERE {c.alias} IS NOT NULL"
        for c in all_checked
    ]
    errors = " UNION ALL ".join(parts) + " ORDER BY line_number, col"
    warnings = None
    if mapping is not None and resolved.label_columns:
        wparts = []
        for j, index in enumerate(resolved.label_columns):
            wparts.append(
                f"SELECT 'label_to_check' AS code, {index} AS col, b_c{index} AS value, "
                f"w{j} AS message, "
                f"count(*) AS n, min(line_number) AS first FROM v WHERE w{j} IS NOT NULL "
                "GROUP BY ALL"
            )
            if not mapping.unknown_labels_are_errors:
                wparts.append(
                    f"SELECT 'label_ignored' AS code, {index} AS col, b_c{index} AS value, "
                    f"u{j} AS message, "
                    f"count(*) AS n, min(line_number) AS first FROM v WHERE u{j} IS NOT NULL "
                    "GROUP BY ALL"
                )
        warnings = " UNION ALL ".join(wparts)
    return BatchSql(
        create,
        good,
        errors,
        warnings,
        all_checked,
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
