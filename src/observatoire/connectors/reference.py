"""Reference files (CPV, COG, SIRENE): landed unchanged and counted at ingest; the build reads
the landed file itself (no staging copy), every column as text."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from observatoire.connector import Connector, Documented, Landed, Parsed
from observatoire.staging.detect import detect

if TYPE_CHECKING:
    from observatoire.pipeline import BuildContext, Step

#: The tables the build makes of reference files.
TABLES = ("ref_cpv", "ref_communes", "ref_departements", "ref_regions",
          "ref_sirene_establishments", "ref_sirene_categories")


def parse(landed: Landed) -> Parsed:
    import duckdb

    from observatoire.staging.reference_files import readable_copy, reference_relation

    det = landed.detected
    assert det is not None
    try:
        # A folder per content: a packed file is read where the user gave it, under its own
        # name, and two files of one name must not share a converted copy.
        readable = readable_copy(landed.path, det, landed.settings.work_dir / "reference"
                                 / landed.sha256)
        con = duckdb.connect()
        row = con.execute(
            # The relation is built from our own landed path, quoted by reference_relation.
            f"SELECT count(*) FROM {reference_relation(readable, det)}"  # noqa: S608
        ).fetchone()
        con.close()
    except duckdb.Error as exc:
        # DuckDB's own text is English: keep only the line it names, if any.
        line = re.search(r"[Ll]ine:? (\d+)", str(exc))
        return Parsed(status="rejected", errors=[{
            "code": "reference_illisible",
            "message": "Référentiel illisible : ses lignes ne peuvent pas être découpées en "
            "colonnes (séparateur, guillemets ou encodage)"
            + (f", à partir de la ligne {line[1]}." if line else "."),
            "where": landed.shown + (f", ligne {line[1]}" if line else ""),
            "hint": "Vérifiez le séparateur et l'encodage (UTF-8) du fichier.",
        }])
    return Parsed(status="loaded", records=int(row[0]) if row else 0)


def _references(ctx: BuildContext) -> None:
    from observatoire.model.reference import build_reference_tables

    build_reference_tables(ctx.con, ctx.loads, ctx.settings)


def steps() -> list[Step]:
    from observatoire.pipeline import Step

    return [Step("referentiels.fichiers", "Référentiels (CPV, géographie, SIRENE)", _references,
                 writes=frozenset(TABLES))]


def tables() -> Documented:
    from observatoire.model.dictionary import TABLES as DOCUMENTED

    return {name: DOCUMENTED[name] for name in TABLES}


CONNECTOR = Connector(
    kind="reference",
    label="Référentiels (CPV, code officiel géographique, SIRENE)",
    parse=parse,
    detect=detect,  # the DECP detector: it recognises reference files by their columns
    steps=steps,
    tables=tables,
)
