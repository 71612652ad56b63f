"""The landing's steps of the build: the load log as a table, and the staged records as a view."""

from __future__ import annotations

import pyarrow.parquet as pq

from observatoire.landing.catalog import superseded
from observatoire.landing.ingest import restage
from observatoire.pipeline import BuildContext, Step
from observatoire.sqlquote import literal_list
from observatoire.staging.records import SCHEMA


def loads_table(ctx: BuildContext) -> None:
    """Every load of the catalog, superseded ones included (with what replaced them)."""
    ctx.con.execute("""CREATE TABLE loads (load_id INTEGER, sha256 VARCHAR, source VARCHAR,
        file_name VARCHAR, original_path VARCHAR, size_bytes BIGINT, kind VARCHAR, format VARCHAR,
        format_label VARCHAR, records BIGINT, marches BIGINT, concessions BIGINT, status VARCHAR,
        error_count INTEGER, loaded_at TIMESTAMP, duration_s DOUBLE, superseded_by INTEGER)""")
    replaced = superseded(ctx.all_loads)
    if ctx.all_loads:
        ctx.con.executemany(
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (ld.load_id, ld.sha256, ld.source, ld.file_name, ld.original_path, ld.size_bytes,
                 ld.kind, ld.format, ld.format_label, ld.records, ld.marches, ld.concessions,
                 ld.status, len(ld.errors), ld.loaded_at.replace("+00:00", ""), ld.duration_s,
                 replaced.get(ld.load_id or 0))
                for ld in ctx.all_loads
            ],
        )


def staged(ctx: BuildContext) -> None:
    # A view, not a copy: each statement reads from the Parquet files only the columns it
    # needs (raw_json, kept there for provenance, is never read by the build).
    files = restage(ctx.settings, ctx.loads)
    if not files:
        files = [ctx.settings.staging_dir / "empty.parquet"]
        pq.write_table(SCHEMA.empty_table(), files[0])
    ctx.con.execute("CREATE VIEW staged_source AS SELECT * FROM "  # noqa: S608 (quoted paths)
                    f"read_parquet({literal_list(files)})")


STEPS = [
    Step("depot.chargements", "Journal des chargements", loads_table,
         writes=frozenset({"loads"})),
    Step("depot.lecture", "Lecture des fichiers déposés", staged,
         writes=frozenset({"staged_source"})),
]
