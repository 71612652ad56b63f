"""The results history: every headline value as it was published, build after build.

Past periods keep their published values even when later data or corrections change them: each
build appends, for every indicator × period × basis (whole scope, no breakdown), a row when the
value differs from the last one recorded. The history lives in the catalog (SQLite), so that it
survives rebuilds of the derived warehouse, and is copied into the warehouse as
``indicator_history``. Rows are committed to the catalog only once their warehouse is in service.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import duckdb

from observatoire.warehouse import insert_rows

COLUMNS = (
    "profile_id", "indicator_id", "version", "period", "basis", "value", "numerator",
    "denominator", "coverage", "status", "build_id", "recorded_at",
)
_DDL = """CREATE TABLE IF NOT EXISTS indicator_history (profile_id TEXT, indicator_id TEXT,
    version INTEGER, period TEXT, basis TEXT, value REAL, numerator REAL, denominator REAL,
    coverage REAL, status TEXT, build_id INTEGER, recorded_at TEXT)"""


def _published(catalog_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(catalog_path) as db:
        db.execute(_DDL)
        return db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM indicator_history ORDER BY rowid"
        ).fetchall()


def stage(
    con: duckdb.DuckDBPyConnection, catalog_path: Path, profile_id: str, build_id: int,
    recorded_at: str,
) -> list[tuple[Any, ...]]:
    """Write ``indicator_history`` (published rows + this build's changes); return the changes."""
    con.execute("""CREATE TABLE indicator_history (profile_id VARCHAR, indicator_id VARCHAR,
        version INTEGER, period VARCHAR, basis VARCHAR, value DOUBLE, numerator DOUBLE,
        denominator DOUBLE, coverage DOUBLE, status VARCHAR, build_id INTEGER,
        recorded_at TIMESTAMP)""")
    insert_rows(con, "indicator_history", _published(catalog_path))
    changes = con.execute(
        """
        WITH latest AS (
            SELECT * FROM indicator_history WHERE profile_id = ?
            QUALIFY row_number() OVER (PARTITION BY indicator_id, version, period, basis
                                       ORDER BY build_id DESC, recorded_at DESC) = 1
        )
        SELECT ?, r.indicator_id, r.version, r.period, r.basis, r.value, r.numerator,
            r.denominator, r.coverage, r.status, ?, CAST(? AS TIMESTAMP)
        FROM indicator_results r
        LEFT JOIN latest l ON l.indicator_id = r.indicator_id AND l.version = r.version
            AND l.period = r.period AND l.basis = r.basis
        WHERE r.breakdown = 'total' AND r.category IS NULL AND r.period_year IS NOT NULL
          AND (l.indicator_id IS NULL
               OR l.value IS DISTINCT FROM r.value
               OR l.numerator IS DISTINCT FROM r.numerator
               OR l.denominator IS DISTINCT FROM r.denominator
               OR l.status IS DISTINCT FROM r.status)
        ORDER BY r.indicator_id, r.version, r.period, r.basis
        """,
        [profile_id, profile_id, build_id, recorded_at],
    ).fetchall()
    insert_rows(con, "indicator_history", changes)
    return changes


def commit(catalog_path: Path, changes: list[tuple[Any, ...]]) -> None:
    """Record changes whose warehouse is now in service."""
    if not changes:
        return
    with sqlite3.connect(catalog_path) as db:
        db.execute(_DDL)
        db.executemany(
            f"INSERT INTO indicator_history VALUES ({', '.join('?' * len(COLUMNS))})",
            [(*row[:11], str(row[11])) for row in changes],
        )
