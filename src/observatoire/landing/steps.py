"""The landing's step of the build: the load log as a table (each source kind stages its own
records: :mod:`observatoire.connectors`)."""

from __future__ import annotations

from observatoire.landing.catalog import superseded
from observatoire.pipeline import BuildContext, Step

#: The columns of ``loads``, in order, with their DuckDB types.
COLUMNS = (
    ("load_id", "INTEGER"), ("sha256", "VARCHAR"), ("source", "VARCHAR"),
    ("file_name", "VARCHAR"), ("original_path", "VARCHAR"), ("size_bytes", "BIGINT"),
    ("kind", "VARCHAR"), ("format", "VARCHAR"), ("format_label", "VARCHAR"),
    ("records", "BIGINT"), ("marches", "BIGINT"), ("concessions", "BIGINT"),
    ("status", "VARCHAR"), ("error_count", "INTEGER"), ("loaded_at", "TIMESTAMP"),
    ("duration_s", "DOUBLE"), ("superseded_by", "INTEGER"),
)


def loads_table(ctx: BuildContext) -> None:
    """Every load of the catalog, superseded ones included (with what replaced them)."""
    import pyarrow as pa

    columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    ctx.con.execute(f"CREATE TABLE loads ({columns})")
    if not ctx.all_loads:
        return
    replaced = superseded(ctx.all_loads)
    values = [
        (ld.load_id, ld.sha256, ld.source, ld.file_name, ld.original_path, ld.size_bytes,
         ld.kind, ld.format, ld.format_label, ld.records, ld.marches, ld.concessions,
         ld.status, len(ld.errors), ld.loaded_at.replace("+00:00", ""), ld.duration_s,
         replaced.get(ld.load_id or 0))
        for ld in ctx.all_loads
    ]
    # One insert of a table of columns: a row-by-row ``executemany`` cost ~2 ms a load
    # (83 s of wall time for the 10,009 loads of 10,000 small files).
    rows = pa.table({name: list(col) for (name, _), col
                     in zip(COLUMNS, zip(*values, strict=True), strict=True)})
    casts = ", ".join(f"CAST({name} AS {kind})" for name, kind in COLUMNS)
    ctx.con.register("loads_rows", rows)
    try:
        ctx.con.execute(f"INSERT INTO loads SELECT {casts} FROM loads_rows")  # noqa: S608
    finally:
        ctx.con.unregister("loads_rows")


STEPS = [
    Step("depot.chargements", "Journal des chargements", loads_table,
         writes=frozenset({"loads"})),
]
