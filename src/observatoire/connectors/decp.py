"""DECP files (JSON 2019/2024, XML, the consolidated and the ministry's flat CSV): one staging
table of contract records (``staging/v<PARSER_VERSION>/``), read by the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from observatoire.connector import Connector, Documented, Landed, Parsed, StagingTable
from observatoire.staging.detect import detect
from observatoire.staging.records import PARSER_VERSION, SCHEMA

if TYPE_CHECKING:
    from observatoire.pipeline import BuildContext, Step

RECORDS = StagingTable("decp_records", PARSER_VERSION, f"v{PARSER_VERSION}", SCHEMA)


def parse(landed: Landed) -> Parsed:
    from observatoire.staging import json_sql
    from observatoire.staging.parse import parse_in_memory, parse_to_staging

    det = landed.detected
    assert det is not None
    collected: tuple[str, ...] = ()
    if landed.collect is not None and landed.path.stat().st_size < json_sql.MIN_BYTES:
        # A small file among many: its rows join the batch's staging file.
        result, rows = parse_in_memory(landed.path, det, landed.sha256)
        if rows:
            landed.collect.setdefault(RECORDS.name, []).extend(rows)
            collected = (RECORDS.name,)
    else:
        result = parse_to_staging(landed.path, det, landed.sha256,
                                  RECORDS.path(landed.settings, landed.sha256),
                                  landed.settings.batch_size)
    here = str(landed.path)
    return Parsed(
        status=result.status, records=result.records, marches=result.marches,
        concessions=result.concessions,
        # Name the file as the user gave it, not its landed copy.
        errors=[{**e, "where": e["where"].replace(here, landed.shown)} for e in result.errors],
        parser_version=PARSER_VERSION, collected=collected,
    )


def _staged(ctx: BuildContext) -> None:
    """``staged_source``: a view over the staging files of the DECP loads in force (staged
    again from their landed file when missing or of an older parser version)."""
    import pyarrow.parquet as pq

    from observatoire.connectors.ingest import restage
    from observatoire.sqlquote import literal_list

    files = restage(ctx.settings, ctx.loads)
    if not files:
        files = [ctx.settings.staging_dir / "empty.parquet"]
        pq.write_table(SCHEMA.empty_table(), files[0])
    # Our own staging paths, quoted by literal_list.
    sql = f"CREATE VIEW staged_source AS SELECT * FROM read_parquet({literal_list(files)})"  # noqa: S608
    ctx.con.execute(sql)


def steps() -> list[Step]:
    from observatoire.pipeline import Step

    return [Step("staging.decp", "Lecture des fichiers déposés", _staged,
                 writes=frozenset({"staged_source"}))]


def tables() -> Documented:
    from observatoire.model.dictionary import TABLES

    return {name: TABLES[name] for name in (
        "contracts", "contract_versions", "contract_holders", "subcontracts",
        "concession_execution", "buyers", "suppliers", "source_records",
        "source_record_holders", "findings", "reconciliation", "source_overlap")}


CONNECTOR = Connector(
    kind="decp",
    label="Données essentielles de la commande publique (DECP)",
    parse=parse,
    # One detector answers for DECP and reference files (it tells them apart by content and
    # refuses, with its French message, a file it does not know).
    detect=detect,
    staging=(RECORDS,),
    steps=steps,
    tables=tables,
    indicator_sources=frozenset({"decp"}),
)
