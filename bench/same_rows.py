#!/usr/bin/env python3
"""Do two builds hold the same tables and rows? Every table of two warehouses, compared with
``EXCEPT ALL`` both ways (duplicates count), for a change meant to make the build faster
without changing what it writes::

    .venv/bin/python bench/same_rows.py before/warehouse.duckdb after/warehouse.duckdb

Columns that say when or how long something ran (timestamps, ``build_id``, ``duration_s``)
are left out: they differ from one build to the next (and ``loads.original_path`` differs when
the two data homes were ingested from other copies of a file). Prints the tables found in one
warehouse only, those whose columns differ, and those whose rows differ; exits 1 if any
differs.
"""

from __future__ import annotations

import sys

import duckdb

from observatoire.sqlquote import identifier

#: columns that differ at every build
MOMENT = {"build_id", "duration_s"}


def columns(con: duckdb.DuckDBPyConnection, db: str, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
        "AND table_name = ? ORDER BY column_index", [db, table]).fetchall()


def main(before: str, after: str) -> int:
    con = duckdb.connect()
    con.execute("ATTACH ? AS a (READ_ONLY)", [before])
    con.execute("ATTACH ? AS b (READ_ONLY)", [after])
    tables = {db: {t for (t,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [db]).fetchall()}
        for db in ("a", "b")}
    differing = 0
    for db, other, label in (("a", "b", "before"), ("b", "a", "after")):
        for t in sorted(tables[db] - tables[other]):
            print(f"{t}: only {label}")
            differing += 1
    common = sorted(tables["a"] & tables["b"])
    for t in common:
        ca, cb = columns(con, "a", t), columns(con, "b", t)
        if ca != cb:
            print(f"{t}: columns differ ({sorted(set(ca) ^ set(cb))})")
            differing += 1
            continue
        kept = ", ".join(identifier(c) for c, ty in ca
                         if c not in MOMENT and "TIMESTAMP" not in ty and not c.endswith("_at"))
        name = identifier(t)
        rows = con.execute(f"SELECT count(*) FROM a.{name}").fetchall()[0][0]  # noqa: S608
        only = [con.execute(
            f"SELECT count(*) FROM (SELECT {kept} FROM {x}.{name} "  # noqa: S608
            f"EXCEPT ALL SELECT {kept} FROM {y}.{name})").fetchall()[0][0]
            for x, y in (("a", "b"), ("b", "a"))]
        if any(only):
            print(f"{t}: {rows:,} rows, {only[0]:,} only before, {only[1]:,} only after")
            differing += 1
    print(f"{len(common)} tables in both, {differing} differing")
    return 1 if differing else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
