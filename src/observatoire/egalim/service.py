"""Egalim in the build and on the read side.

Build step: the profile's canteens (``egalim_canteens``), the purchase lines of every Egalim load
(``egalim_lines``, from their staging Parquet files), the results (``compute``), the data-quality
findings of catering (``egalim_findings``) and the fact tables of the indicators F01–F06
(``indicator_purchase_lines``, ``indicator_canteens``).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import duckdb

from observatoire.config import Settings
from observatoire.egalim import compute
from observatoire.egalim.codes import FAMILIES
from observatoire.egalim.findings import create_findings
from observatoire.errors import ConfigError
from observatoire.indicators.profile import Profile
from observatoire.landing.catalog import Load

#: Load-log ``kind`` of purchase-line files, and ``source`` of generated demo lines.
KIND = "egalim"
SIMULATED_SOURCE = "simulation"

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
    local_km INTEGER, raw_labels VARCHAR
)"""


def staging_path(settings: Settings, sha256: str) -> Path:
    return settings.staging_dir / KIND / f"{sha256}.parquet"


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
    return rows


def _canteens_table(con: duckdb.DuckDBPyConnection, profile: Profile) -> None:
    cols = ", ".join(f"{c} VARCHAR" for c in CANTEEN_COLUMNS)
    con.execute(f"CREATE TABLE egalim_canteens (canteen_key VARCHAR, {cols})")
    rows = read_canteens(profile)
    if rows:
        con.executemany(
            f"INSERT INTO egalim_canteens VALUES (?, {', '.join('?' for _ in CANTEEN_COLUMNS)})",
            [(r["siret"] or f"id:{r['cantine_id']}", *(r[c] or None for c in CANTEEN_COLUMNS))
             for r in rows],
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
        # Lines find their canteen by SIRET, else by ma-cantine's canteen id; a canteen the
        # profile no longer lists keeps its lines (with a finding), nothing is dropped.
        con.execute(
            """
            INSERT INTO egalim_lines
            SELECT concat(?, ':', l.line_number), ?, ?, l.line_number, ?,
                coalesce(c.canteen_key, l.canteen_siret, concat('id:', l.canteen_id)),
                c.canteen_key IS NOT NULL, c.departement,
                l.canteen_siret, l.canteen_id, l.description, l.supplier, l.supplier_siret,
                l.article_code, l.purchase_date, l.price_ht, l.family, l.characteristics,
                l.labels_known, l.local_definition, l.local_km, l.raw_labels
            FROM read_parquet(?) l
            LEFT JOIN egalim_canteens c
              ON (l.canteen_siret IS NOT NULL AND c.siret = l.canteen_siret)
              OR (l.canteen_siret IS NULL AND c.cantine_id = l.canteen_id)
            """,
            [load.load_id, load.load_id, load.file_name, load.source == SIMULATED_SOURCE,
             str(path)],
        )


INDICATOR_TABLES = """
CREATE TABLE indicator_purchase_lines AS
SELECT f.line_key, f.year AS period_year, f.canteen_key, coalesce(c.nom, f.canteen_key) AS canteen,
    f.departement, f.family, f.price_ht AS amount,
    CASE WHEN f.labels_known THEN f.is_egalim END AS is_egalim,
    CASE WHEN f.labels_known THEN f.category = 'bio' END AS is_bio,
    f.meat_fish AS is_meat_fish,
    f.local AS is_local, f.origin_france AS is_france
FROM egalim_line_facts f LEFT JOIN egalim_canteens c USING (canteen_key);

CREATE TABLE indicator_canteens AS
SELECT r.scope_key AS canteen_key, r.year AS period_year, coalesce(c.nom, r.scope_key) AS canteen,
    c.departement, r.total AS amount, r.egalim_rate, r.bio_rate,
    CASE WHEN r.coverage >= 0.5 THEN r.egalim_rate >= 0.5 AND r.bio_rate >= 0.2 END
        AS meets_legal_targets
FROM egalim_results r LEFT JOIN egalim_canteens c ON c.canteen_key = r.scope_key
WHERE r.scope = 'canteen' AND r.month = 0;
"""


def build_into(
    con: duckdb.DuckDBPyConnection, settings: Settings, profile: Profile, loads: list[Load]
) -> None:
    """The Egalim step of the build (tables are created even when there is nothing to count)."""
    _canteens_table(con, profile)
    usable = [ld for ld in loads if ld.kind == KIND and ld.status in ("loaded", "partial")]
    _lines_table(con, settings, usable)
    compute.compute(con)
    create_findings(con)
    con.execute(INDICATOR_TABLES)


def families() -> dict[str, str]:
    return dict(FAMILIES)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
