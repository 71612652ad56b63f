"""The landing's step of the build: the load log as a table (each source kind stages its own
records: :mod:`observatoire.connectors`)."""

from __future__ import annotations

from observatoire.landing.catalog import superseded
from observatoire.pipeline import BuildContext, Step


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


STEPS = [
    Step("depot.chargements", "Journal des chargements", loads_table,
         writes=frozenset({"loads"})),
]
