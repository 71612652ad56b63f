"""Reference tables (CPV, COG geography, SIRENE) built from the landed reference files.

Reference files come in through ``observatoire ingest`` like any source; the build reads every
landed file of each kind (a full SIRENE stock file or several extracts alike) and keeps, per key,
the row of the most recent load. A kind with no file gives an empty table: enrichment is then
unknown, and coverage figures show it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from observatoire.landing.catalog import Catalog, Load
from observatoire.landing.packs import DamagedLanding
from observatoire.landing.store import landed_copy
from observatoire.staging.detect import Detected, detect
from observatoire.staging.reference_files import readable_copy, reference_relation

if TYPE_CHECKING:
    from observatoire.config import Settings

EMPTY = {
    "ref_cpv": "code VARCHAR, code_with_check VARCHAR, label VARCHAR, parent_code VARCHAR, "
    "division VARCHAR",
    "ref_communes": "commune_code VARCHAR, commune_name VARCHAR, departement_code VARCHAR, "
    "departement_name VARCHAR, region_code VARCHAR, region_name VARCHAR",
    "ref_sirene_establishments": "siret VARCHAR, siren VARCHAR, postal_code VARCHAR, "
    "commune_code VARCHAR, commune_name VARCHAR, naf_code VARCHAR, is_diffusible BOOLEAN",
    "ref_sirene_categories": "siren VARCHAR, category VARCHAR, name VARCHAR, "
    "is_diffusible BOOLEAN",
}

#: detected format -> (table, SELECT over the file aliased ``f`` with its load id ``load_id``)
SELECTS = {
    "ref-cpv-csv": "ref_cpv",
    "ref-cog-csv": "ref_communes",
    "ref-cog-parquet": "ref_communes",
    "ref-sirene-etablissements-csv": "ref_sirene_establishments",
    "ref-sirene-categories-csv": "ref_sirene_categories",
}


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    return {row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def _select(table: str, relation: str, cols: set[str], load_id: int) -> str:
    if table == "ref_cpv":
        code, label = ("CODE", "FR") if "CODE" in cols else ("id", "name")
        parent = "left(parent, 8)" if "parent" in cols else "NULL"
        return (
            f"SELECT left(trim({code}), 8) AS code, trim({code}) AS code_with_check, "
            f"trim({label}) AS label, {parent} AS parent_code, left(trim({code}), 2) AS division, "
            f"{load_id} AS load_id FROM {relation} WHERE {code} IS NOT NULL"
        )
    if table == "ref_communes":
        return (
            "SELECT CAST(commune_code AS VARCHAR) AS commune_code, commune_nom AS commune_name, "
            "CAST(departement_code AS VARCHAR) AS departement_code, "
            "departement_nom AS departement_name, CAST(region_code AS VARCHAR) AS region_code, "
            f"region_nom AS region_name, {load_id} AS load_id FROM {relation}"
        )
    if table == "ref_sirene_establishments":
        return (
            "SELECT trim(siret) AS siret, left(trim(siret), 9) AS siren, "
            "lpad(trim(codePostalEtablissement), 5, '0') AS postal_code, "
            "NULLIF(trim(codeCommuneEtablissement), '') AS commune_code, "
            "libelleCommuneEtablissement AS commune_name, "
            "activitePrincipaleEtablissement AS naf_code, "
            f"{_diffusible('statutDiffusionEtablissement', cols)} AS is_diffusible, "
            f"{load_id} AS load_id FROM {relation} WHERE siret IS NOT NULL"
        )
    if table == "ref_sirene_categories":
        siren = (
            "left(trim(siretEtablissement), 9)"
            if "siretEtablissement" in cols
            else "lpad(trim(siren), 9, '0')"
        )
        # A legal unit's name only from a file that has it (the full StockUniteLegale); never
        # composed from a person's surname and first names.
        name = ("NULLIF(trim(denominationUniteLegale), '')"
                if "denominationUniteLegale" in cols else "CAST(NULL AS VARCHAR)")
        return (
            f"SELECT {siren} AS siren, NULLIF(trim(categorieEntreprise), '') AS category, "
            f"{name} AS name, {_diffusible('statutDiffusionUniteLegale', cols)} "
            f"AS is_diffusible, {load_id} AS load_id FROM {relation}"
        )
    raise ValueError(table)


def _diffusible(column: str, cols: set[str]) -> str:
    """SIRENE's diffusion status as a boolean: ``O`` is diffusible; ``P`` (partially, since
    2023) and ``N`` are not; NULL when the file does not say (the demo extracts)."""
    if column not in cols:
        return "CAST(NULL AS BOOLEAN)"
    return f"CASE upper(trim({column})) WHEN 'O' THEN true WHEN 'P' THEN false " \
        "WHEN 'N' THEN false END"


def _detected(load: Load, landed: Path) -> Detected:
    """How to read a landed reference file, as recorded at ingest (no second scan of it)."""
    if load.encoding is None or load.delimiter is None or load.format is None:
        return detect(landed)  # a load logged before these were recorded
    return Detected(
        load.kind, load.format, load.format_label or "", load.encoding, delimiter=load.delimiter
    )


KEYS = {
    "ref_cpv": "code",
    "ref_communes": "commune_code",
    "ref_sirene_establishments": "siret",
    "ref_sirene_categories": "siren",
}


def build_reference_tables(
    con: duckdb.DuckDBPyConnection, loads: list[Load], settings: Settings
) -> None:
    """The reference tables, from the landed reference files (of their own or in a pack)."""
    work_dir = settings.work_dir / "reference"
    parts: dict[str, list[str]] = {t: [] for t in EMPTY}
    used = [ld for ld in loads
            if ld.kind == "reference" and ld.status == "loaded" and ld.format in SELECTS]
    packed = Catalog(settings.catalog_path).packed(ld.sha256 for ld in used)
    for load in used:
        assert load.format is not None
        table = SELECTS[load.format]
        landed = landed_copy(settings, load.sha256, load.original_path,
                             packed.get(load.sha256))
        if landed is None:
            raise DamagedLanding(
                "La copie déposée de ce référentiel est introuvable.",
                where=load.original_path,
                hint="Restaurez le dossier « landing » du répertoire de données depuis une "
                "sauvegarde.")
        det = _detected(load, landed)
        relation = reference_relation(readable_copy(landed, det, work_dir), det)
        cols = _columns(con, relation)
        assert load.load_id is not None
        parts[table].append(_select(table, relation, cols, load.load_id))
    for table, selects in parts.items():
        if not selects:
            con.execute(f"CREATE TABLE {table} ({EMPTY[table]})")
            continue
        union = " UNION ALL ".join(selects)
        key = KEYS[table]
        con.execute(
            f"CREATE TABLE {table} AS SELECT * EXCLUDE (load_id, rn) FROM ("
            f"SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY load_id DESC) AS rn "
            f"FROM ({union})) WHERE rn = 1 AND {key} IS NOT NULL ORDER BY {key}"
        )
    con.execute("""
        CREATE TABLE ref_departements AS
        SELECT departement_code, any_value(departement_name ORDER BY commune_code) AS departement_name,
               any_value(region_code ORDER BY commune_code) AS region_code
        FROM ref_communes WHERE departement_code IS NOT NULL
        GROUP BY departement_code ORDER BY departement_code""")
    con.execute("""
        CREATE TABLE ref_regions AS
        SELECT region_code, any_value(region_name ORDER BY commune_code) AS region_name
        FROM ref_communes WHERE region_code IS NOT NULL GROUP BY region_code ORDER BY region_code""")
