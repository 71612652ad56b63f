"""Egalim in the build and on the read side.

Build step: the profile's canteens (``egalim_canteens``), the purchase lines of every Egalim load
(``egalim_lines``, from their staging Parquet files), the nomenclature (``egalim_articles``), the
supplier matrices (``egalim_matrix``) and contracts (``egalim_contracts``) the lines inherit from
(``enrich``), the results (``compute``), the data-quality
findings of catering (``egalim_findings``) and the fact tables of the indicators F01–F06
(``indicator_purchase_lines``, ``indicator_canteens``).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from observatoire.config import Settings
from observatoire.egalim import compute
from observatoire.egalim.contracts import create_contracts, read_contracts
from observatoire.egalim.decisions import article_mappings, label_mappings
from observatoire.egalim.enrich import EFFECTIVE_VIEW, enrich
from observatoire.egalim.export import summary_row
from observatoire.egalim.findings import create_findings
from observatoire.egalim.kinds import KIND, LINES, MATRIX_KIND
from observatoire.egalim.matrices import create_matrix, supplier_key_sql
from observatoire.egalim.nomenclature import create_articles, read_nomenclature
from observatoire.errors import ConfigError, WarehouseMissing
from observatoire.indicators.profile import Profile
from observatoire.landing.catalog import Load
from observatoire.warehouse import insert_rows, open_warehouse

#: ``source`` of generated demo lines (the load-log ``kind`` is the connector's: ``egalim``).
SIMULATED_SOURCE = "simulation"

#: The temporary view the results and findings read (see ``enrich.EFFECTIVE_VIEW``).
EFFECTIVE_LINES = "egalim_lines_effective"

CANTEEN_COLUMNS = (
    "siret", "cantine_id", "uai", "nom", "commune_insee", "departement", "region", "mode_gestion",
)

LINES_DDL = """
CREATE TABLE egalim_lines (
    line_key VARCHAR, load_id INTEGER, file_name VARCHAR, line_number BIGINT, simulated BOOLEAN,
    canteen_key VARCHAR, canteen_known BOOLEAN, departement VARCHAR,
    canteen_siret VARCHAR, canteen_id VARCHAR, description VARCHAR, supplier VARCHAR,
    supplier_siret VARCHAR, article_code VARCHAR, purchase_date DATE, price_ht DECIMAL(18,2),
    family VARCHAR, characteristics VARCHAR[], labels_known BOOLEAN, local_definition VARCHAR,
    local_km INTEGER, raw_labels VARCHAR,
    nomenclature_code VARCHAR, article_source VARCHAR, effective_family VARCHAR,
    family_source VARCHAR, matrix_load_id INTEGER, matrix_characteristics VARCHAR[],
    contract_reference VARCHAR, effective_characteristics VARCHAR[],
    effective_labels_known BOOLEAN, labels_source VARCHAR
)"""


def staging_path(settings: Settings, sha256: str) -> Path:
    return LINES.path(settings, sha256)


def read_canteens(profile: Profile) -> list[dict[str, str]]:
    """The profile's establishments file, checked: one dict per canteen."""
    path = profile.canteens_file
    if path is None:
        return []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=";")
        missing = [c for c in ("siret", "cantine_id", "nom", "departement")
                   if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(
                f"Colonnes manquantes dans le fichier des établissements : {', '.join(missing)}.",
                where=str(path),
                hint=f"Colonnes attendues (séparateur « ; ») : {', '.join(CANTEEN_COLUMNS)}.",
            )
        rows = []
        for n, row in enumerate(reader, start=2):
            if not (row.get("siret") or row.get("cantine_id")):
                raise ConfigError(
                    "Établissement sans SIRET ni identifiant de cantine.",
                    where=f"{path}, ligne {n}",
                    hint="Renseignez au moins l'un des deux.",
                )
            rows.append({c: (row.get(c) or "").strip() for c in CANTEEN_COLUMNS})
    for column in ("siret", "cantine_id"):
        counts = Counter(r[column] for r in rows if r[column])
        twice = sorted(v for v, n in counts.items() if n > 1)
        if twice:
            raise ConfigError(
                f"Établissement en double dans le fichier des établissements ({column} : "
                f"{', '.join(twice[:5])}).",
                where=str(path),
                hint="Chaque cantine figure une seule fois : fusionnez les lignes en double.",
            )
    return rows


def insert_lines(
    con: duckdb.DuckDBPyConnection, path: Path, load_id: int, file_name: str, simulated: bool
) -> None:
    """Append the staged lines of one file to ``egalim_lines``.

    Lines find their canteen by SIRET, else by ma-cantine's canteen id; a canteen the profile
    no longer lists keeps its lines (with a finding): nothing is dropped. The effective values
    start as the file's (see :mod:`enrich` for what the build adds).
    """
    con.execute(
        """
        INSERT INTO egalim_lines
        SELECT concat(?, ':', l.line_number), ?, ?, l.line_number, ?,
            coalesce(cs.canteen_key, ci.canteen_key, l.canteen_siret,
                     concat('id:', l.canteen_id)),
            coalesce(cs.canteen_key, ci.canteen_key) IS NOT NULL,
            coalesce(cs.departement, ci.departement),
            l.canteen_siret, l.canteen_id, l.description, l.supplier, l.supplier_siret,
            l.article_code, l.purchase_date, l.price_ht, l.family, l.characteristics,
            l.labels_known, l.local_definition, l.local_km, l.raw_labels,
            NULL, 'none', l.family, CASE WHEN l.family IS NULL THEN 'none' ELSE 'line' END,
            NULL, NULL, NULL, l.characteristics, l.labels_known,
            CASE WHEN l.labels_known THEN 'line' ELSE 'none' END
        FROM read_parquet(?) l
        LEFT JOIN egalim_canteens cs ON cs.siret = l.canteen_siret
        LEFT JOIN egalim_canteens ci
          ON l.canteen_siret IS NULL AND ci.cantine_id = l.canteen_id
        """,
        [load_id, load_id, file_name, simulated, str(path)],
    )


def _lines_table(con: duckdb.DuckDBPyConnection, settings: Settings, loads: list[Load]) -> None:
    con.execute(LINES_DDL)
    for load in loads:
        path = staging_path(settings, load.sha256)
        if not path.exists():
            raise ConfigError(
                f"Les lignes analysées du fichier « {load.file_name} » sont introuvables.",
                where=str(path),
                hint="Réimportez le fichier avec « observatoire egalim importer ».",
            )
        assert load.load_id is not None
        insert_lines(con, path, load.load_id, load.file_name, load.source == SIMULATED_SOURCE)


def create_canteens(con: duckdb.DuckDBPyConnection, rows: list[dict[str, str]]) -> None:
    """``egalim_canteens`` from the establishments (see ``read_canteens``)."""
    cols = ", ".join(f"{c} VARCHAR" for c in CANTEEN_COLUMNS)
    con.execute(f"CREATE TABLE egalim_canteens (canteen_key VARCHAR, {cols})")
    if rows:
        insert_rows(con, "egalim_canteens", [
            (r["siret"] or f"id:{r['cantine_id']}", *(r[c] or None for c in CANTEEN_COLUMNS))
            for r in rows])


def compute_all(con: duckdb.DuckDBPyConnection) -> None:
    """Everything derived from ``egalim_canteens`` and ``egalim_lines`` (its effective values)."""
    con.execute(EFFECTIVE_VIEW)
    compute.compute(con, EFFECTIVE_LINES)
    create_findings(con, EFFECTIVE_LINES)
    con.execute(INDICATOR_TABLES)
    con.execute(f"DROP VIEW {EFFECTIVE_LINES}")


INDICATOR_TABLES = """
CREATE TABLE indicator_purchase_lines AS
SELECT f.line_key, f.year AS period_year, f.canteen_key, coalesce(c.nom, f.canteen_key) AS canteen,
    f.departement, f.family, f.price_ht AS amount,
    CASE WHEN f.labels_known THEN f.is_egalim END AS is_egalim,
    CASE WHEN f.labels_known THEN f.category = 'bio' END AS is_bio,
    f.meat_fish AS is_meat_fish,
    f.local AS is_local, f.origin_france AS is_france,
    -- the barometer's territory perimeter: the canteen's place (the canteen buys its food)
    c.departement AS buyer_departement, c.region AS buyer_region
FROM egalim_line_facts f LEFT JOIN egalim_canteens c USING (canteen_key);

CREATE TABLE indicator_canteens AS
SELECT r.scope_key AS canteen_key, r.year AS period_year, coalesce(c.nom, r.scope_key) AS canteen,
    c.departement, r.total AS amount, r.egalim_rate, r.bio_rate,
    CASE WHEN r.coverage >= 0.5 THEN r.egalim_rate >= 0.5 AND r.bio_rate >= 0.2 END
        AS meets_legal_targets,
    c.departement AS buyer_departement, c.region AS buyer_region
FROM egalim_results r LEFT JOIN egalim_canteens c ON c.canteen_key = r.scope_key
WHERE r.scope = 'canteen' AND r.month = 0;
"""


def _usable(loads: list[Load], kind: str) -> list[Load]:
    return [ld for ld in loads if ld.kind == kind and ld.status in ("loaded", "partial")]


def build_lines(con: duckdb.DuckDBPyConnection, settings: Settings, profile: Profile,
                loads: list[Load]) -> None:
    """The canteens, their declarations, the staged purchase lines of the loads in force and
    the profile's nomenclature of articles."""
    create_canteens(con, read_canteens(profile))
    create_declarations(con, declared_ratios(profile))
    _lines_table(con, settings, _usable(loads, KIND))
    create_articles(con, read_nomenclature(profile.nomenclature_file))


def build_matrices(con: duckdb.DuckDBPyConnection, settings: Settings, loads: list[Load],
                   mappings: list[dict[str, Any]]) -> None:
    """``egalim_matrix`` from the supplier matrices in force."""
    create_matrix(con, settings, _usable(loads, MATRIX_KIND), label_mappings(mappings))


def build_results(con: duckdb.DuckDBPyConnection, profile: Profile,
                  mappings: list[dict[str, Any]]) -> None:
    """What the lines inherit (articles, matrices, contracts), then the results and findings."""
    create_contracts(con, read_contracts(profile.contracts_file))
    enrich(con, article_mappings(mappings))
    compute_all(con)


def create_declarations(
    con: duckdb.DuckDBPyConnection,
    declared: dict[str, dict[int, tuple[float | None, float | None]]],
) -> None:
    """``egalim_declarations``: the ratios canteens declared on ma-cantine (profile file)."""
    con.execute("CREATE TABLE egalim_declarations (siret VARCHAR, year INTEGER, "
                "bio_ratio DOUBLE, egalim_excluding_bio_ratio DOUBLE)")
    rows = [(siret, year, bio, others) for siret, years in declared.items()
            for year, (bio, others) in years.items()]
    if rows:
        insert_rows(con, "egalim_declarations", rows)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


# Read side (CLI, pages, API). Every query is parameterised.


@contextmanager
def reading(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only cursor on the warehouse in service, which must hold the Egalim tables."""
    con = open_warehouse(settings)
    try:
        found = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'egalim_results'"
        ).fetchall()[0][0]
        if not found:
            raise WarehouseMissing(
                "L'entrepôt en service a été construit avant le module Egalim.",
                where=str(settings.warehouse_path),
                hint="Reconstruisez-le : observatoire build.",
            )
        yield con
    finally:
        con.close()

_RESULT_NAMES = (
    "scope", "scope_key", "year", "month", "lines", "total", "known", "egalim", "bio", "siqo",
    "egalim_others", "externalities_performance", "meat_fish", "meat_fish_egalim", "meat", "fish",
    "france", "local", "short_circuit", "egalim_rate", "bio_rate", "meat_fish_egalim_rate",
    "coverage", "france_rate", "local_rate",
)
_RESULT_COLUMNS = ", ".join(f"r.{c}" for c in _RESULT_NAMES)


def _targets(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """The targets of F01 (Egalim), F02 (bio) and F03 (meat and fish), legal and local."""
    rows = _rows(
        con,
        """SELECT i.code, t.target_value, t.comparator, t.target_date, t.from_date, t.label,
                  t.source
           FROM indicator_targets t JOIN indicators i USING (indicator_id, version)
           WHERE i.code IN ('F01', 'F02', 'F03') ORDER BY i.code, t.target_date""",
        [],
    )
    out: dict[str, list[dict[str, Any]]] = {"F01": [], "F02": [], "F03": []}
    for r in rows:
        out[r["code"]].append(r)
    return out


def overview(con: duckdb.DuckDBPyConnection, year: int | None = None) -> dict[str, Any]:
    """The Egalim dashboard: the territory's years and months, départements and canteens."""
    years = [r[0] for r in con.execute(
        "SELECT DISTINCT year FROM egalim_results WHERE scope = 'territory' ORDER BY year"
    ).fetchall()]
    canteen_count = con.execute("SELECT count(*) FROM egalim_canteens").fetchall()[0][0]
    simulated = bool(con.execute(
        "SELECT coalesce(bool_or(simulated), false) FROM egalim_lines"
    ).fetchall()[0][0])
    if year is None or year not in years:
        year = years[-1] if years else None
    series = _rows(
        con,
        f"SELECT {_RESULT_COLUMNS} FROM egalim_results r WHERE scope = 'territory' AND month = 0 "
        "ORDER BY year",
        [],
    )
    months = _rows(
        con,
        f"SELECT {_RESULT_COLUMNS} FROM egalim_results r WHERE scope = 'territory' AND year = ? "
        "AND month > 0 ORDER BY month",
        [year],
    )
    departements = _rows(
        con,
        f"""SELECT {_RESULT_COLUMNS}, d.departement_name AS name
            FROM egalim_results r
            LEFT JOIN (SELECT departement_code, min(departement_name) AS departement_name
                       FROM ref_departements GROUP BY ALL) d ON d.departement_code = r.scope_key
            WHERE r.scope = 'departement' AND r.year = ? AND r.month = 0 ORDER BY r.scope_key""",
        [year],
    )
    canteens = _rows(
        con,
        f"""SELECT {_RESULT_COLUMNS}, c.nom AS name, c.departement, c.commune_insee,
                q.score AS quality_score, q.missing_months
            FROM egalim_results r
            LEFT JOIN egalim_canteens c ON c.canteen_key = r.scope_key
            LEFT JOIN egalim_canteen_quality q ON q.canteen_key = r.scope_key AND q.year = r.year
            WHERE r.scope = 'canteen' AND r.year = ? AND r.month = 0
            ORDER BY strip_accents(lower(c.nom)) NULLS LAST, r.scope_key""",
        [year],
    )
    declared: dict[str, list[dict[str, Any]]] = {}
    for d in _rows(con, "SELECT * FROM egalim_declarations ORDER BY siret, year", []):
        bio, others = d["bio_ratio"], d["egalim_excluding_bio_ratio"]
        declared.setdefault(d["siret"], []).append({
            "year": d["year"], "bio": bio,
            "egalim": None if bio is None or others is None else bio + others})
    for c in canteens:
        c["declared"] = declared.get(c["scope_key"], [])
    return {
        "year": year,
        "years": years,
        "canteen_count": canteen_count,
        "simulated": simulated,
        "series": series,
        "current": next((s for s in series if s["year"] == year), None),
        "months": months,
        "departements": departements,
        "canteens": canteens,
        "targets": _targets(con),
        "distribution": _distribution(canteens),
    }


#: Bins of canteens by Egalim rate (share of value), for the distribution chart.
BINS = ((0.0, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.65), (0.65, 1.01))


def _distribution(canteens: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for low, high in BINS:
        n = sum(1 for c in canteens
                if c["egalim_rate"] is not None and low <= c["egalim_rate"] < high)
        label = f"{round(low * 100)} – {min(round(high * 100), 100)} %"
        out.append({"low": low, "high": min(high, 1.0), "label": label, "canteens": n})
    return out


def canteen(
    con: duckdb.DuckDBPyConnection, key: str, year: int | None = None
) -> dict[str, Any] | None:
    """One canteen: identity, years, months, categories, families, findings, reference."""
    info = _rows(con, "SELECT * FROM egalim_canteens WHERE canteen_key = ?", [key])
    series = _rows(
        con,
        f"SELECT {_RESULT_COLUMNS} FROM egalim_results r WHERE scope = 'canteen' "
        "AND scope_key = ? AND month = 0 ORDER BY year",
        [key],
    )
    if not info and not series:
        return None
    years = [s["year"] for s in series]
    if year is None or year not in years:
        year = years[-1] if years else None
    categories = _rows(
        con,
        """SELECT category, sum(price_ht) AS value, count(*) AS lines FROM egalim_line_facts
           WHERE canteen_key = ? AND year = ? GROUP BY ALL ORDER BY value DESC""",
        [key, year],
    )
    families_rows = _rows(
        con,
        "SELECT * FROM egalim_family_details WHERE canteen_key = ? AND year = ? ORDER BY family",
        [key, year],
    )
    findings = _rows(
        con,
        """SELECT f.rule_id, r.severity, r.title, r.explanation, r.hint, count(*) AS count,
                  min(f.line_number) AS first_line, min(f.file_name) AS file_name,
                  list(DISTINCT f.month ORDER BY f.month) AS months
           FROM egalim_findings f JOIN egalim_rules r USING (rule_id)
           WHERE f.canteen_key = ? AND f.year = ? GROUP BY ALL ORDER BY f.rule_id""",
        [key, year],
    )
    quality = _rows(
        con, "SELECT * FROM egalim_canteen_quality WHERE canteen_key = ? AND year = ?",
        [key, year],
    )
    simulated = bool(con.execute(
        "SELECT coalesce(bool_or(simulated), false) FROM egalim_lines WHERE canteen_key = ?",
        [key],
    ).fetchall()[0][0])
    return {
        "key": key,
        "info": info[0] if info else {"nom": key},
        "year": year,
        "years": years,
        "series": series,
        "current": next((s for s in series if s["year"] == year), None),
        "months": _rows(
            con,
            f"SELECT {_RESULT_COLUMNS} FROM egalim_results r WHERE scope = 'canteen' "
            "AND scope_key = ? AND year = ? AND month > 0 ORDER BY month",
            [key, year],
        ),
        "categories": categories,
        "families": families_rows,
        "findings": findings,
        "quality": quality[0] if quality else None,
        "simulated": simulated,
        "targets": _targets(con),
    }


def _canteens_sql(prefixes: list[str] | None) -> tuple[str, list[Any]]:
    """SQL condition (and parameters) on ``canteen_siret``: the canteens whose SIRET starts
    with one of ``prefixes`` (None: every line; an empty list: none)."""
    if prefixes is None:
        return "true", []
    if not prefixes:
        return "false", []
    return ("(" + " OR ".join("starts_with(canteen_siret, ?)" for _ in prefixes) + ")",
            list(prefixes))


def lines_without_article(
    con: duckdb.DuckDBPyConnection, canteens: list[str] | None = None,
) -> list[tuple[str, int, float, str | None]]:
    """Descriptions of the lines without an article of the nomenclature: (description, lines,
    amount, family), for the mapping suggestions; ``canteens``: only the lines of the canteens
    whose SIRET starts with one of these (a steward's scope)."""
    scope, params = _canteens_sql(canteens)
    return [
        (d, int(n), float(v or 0), f)
        for d, n, v, f in con.execute(
            f"""SELECT description, count(*), sum(price_ht), min(effective_family)
               FROM egalim_lines WHERE article_source = 'none' AND description IS NOT NULL
                 AND {scope}
               GROUP BY description ORDER BY description""", params
        ).fetchall()
    ]


def descriptions(con: duckdb.DuckDBPyConnection, canteens: list[str] | None = None) -> set[str]:
    """The descriptions of the lines of these canteens (see :func:`lines_without_article`)."""
    scope, params = _canteens_sql(canteens)
    return {r[0] for r in con.execute(
        f"SELECT DISTINCT description FROM egalim_lines WHERE description IS NOT NULL "
        f"AND {scope}", params).fetchall()}


def matrices_of(con: duckdb.DuckDBPyConnection, canteens: list[str] | None = None
                ) -> list[int] | None:
    """The matrices (load ids) of the suppliers these canteens buy from, matched as the build
    matches lines to matrices (SIRET when both sides have one, else the name); None: all."""
    if canteens is None:
        return None
    scope, params = _canteens_sql(canteens)
    line_name = supplier_key_sql("NULL", "l.supplier")
    matrix_name = supplier_key_sql("NULL", "m.supplier")
    return [r[0] for r in con.execute(
        f"""WITH l AS (SELECT DISTINCT supplier, supplier_siret FROM egalim_lines
                       WHERE {scope}),
                 m AS (SELECT DISTINCT load_id, supplier, supplier_siret FROM egalim_matrix)
            SELECT DISTINCT m.load_id FROM l JOIN m
              ON (CASE WHEN l.supplier_siret IS NOT NULL AND m.supplier_siret IS NOT NULL
                       THEN l.supplier_siret = m.supplier_siret
                       ELSE {line_name} = {matrix_name} AND {line_name} <> 'nom:' END)
            ORDER BY 1""", params).fetchall()]


def declared_ratios(profile: Profile) -> dict[str, dict[int, tuple[float | None, float | None]]]:
    """The ratios canteens declared on ma-cantine, by SIRET and year (empty cells: unknown)."""
    out: dict[str, dict[int, tuple[float | None, float | None]]] = {}
    path = profile.declarations_file
    if path is None:
        return out
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            bio = float(row["ratio_bio"]) if row.get("ratio_bio") else None
            others = (
                float(row["ratio_egalim_hors_bio"]) if row.get("ratio_egalim_hors_bio") else None
            )
            out.setdefault(row["siret"], {})[int(row["annee"])] = (bio, others)
    return out


def yearly_summaries(
    con: duckdb.DuckDBPyConnection, year: int, key: str | None = None
) -> list[dict[str, str]]:
    """Rows in ma-cantine's detailed yearly-summary format for one year (one canteen or all)."""
    where = "scope = 'canteen' AND year = ? AND month = 0"
    params: list[Any] = [year]
    if key:
        where += " AND scope_key = ?"
        params.append(key)
    totals = _rows(
        con,
        f"""SELECT r.scope_key, c.siret, r.total, r.meat, r.fish FROM egalim_results r
            LEFT JOIN egalim_canteens c ON c.canteen_key = r.scope_key
            WHERE {where} ORDER BY r.scope_key""",
        params,
    )
    out = []
    for t in totals:
        details = {
            d["family"]: d
            for d in _rows(
                con,
                "SELECT * FROM egalim_family_details WHERE canteen_key = ? AND year = ?",
                [t["scope_key"], year],
            )
        }
        out.append(summary_row(t["siret"] or t["scope_key"], year, t, details))
    return out
