"""Access to the warehouse in service: read-only connections and small query helpers."""

from __future__ import annotations

from typing import Any

import duckdb

from observatoire.config import Settings
from observatoire.errors import WarehouseMissing


def open_warehouse(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse in service."""
    if not settings.warehouse_path.exists():
        raise WarehouseMissing(
            "Aucun entrepôt n'a encore été construit.",
            where=str(settings.warehouse_path),
            hint="Lancez « observatoire ingest CHEMIN » puis « observatoire build ».",
        )
    return duckdb.connect(str(settings.warehouse_path), read_only=True)


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The single value a query returns (None when it returns no row)."""
    row = con.execute(sql, params or []).fetchone()
    return row[0] if row else None


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count of every table, by name."""
    names = [n for (n,) in con.sql("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
    return {name: int(scalar(con, f'SELECT count(*) FROM "{name}"')) for name in names}  # noqa: S608
