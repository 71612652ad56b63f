"""The fact rows an incremental build finds changed (``increment.changed_rows_sql``): a join
on the key, rows compared whole, gives the rows of ``EXCEPT ALL`` both ways, each with its
side (old or new)."""

from __future__ import annotations

import duckdb
import pytest

from observatoire.indicators.increment import changed_rows_sql

OLD = [
    ("same-with-nulls", 1, None, None, True),
    ("same", 2, "x", 0.5, False),
    ("amount", 3, "x", 1.0, None),
    ("null-to-value", 4, None, 2.0, True),
    ("value-to-null", 5, "y", 3.0, True),
    ("gone", 6, "z", 4.0, False),
]
NEW = [
    ("same-with-nulls", 1, None, None, True),
    ("same", 2, "x", 0.5, False),
    ("amount", 3, "x", 1.5, None),
    ("null-to-value", 4, "w", 2.0, True),
    ("value-to-null", 5, "y", 3.0, None),
    ("added", 7, "v", 5.0, True),
]
#: What changed, worked out by hand: both rows of a changed key, the one row of a key on one
#: side only; the rows equal (NULLs included) are not there. Last, the side: -1 old, 1 new.
EXPECTED = sorted([
    ("amount", 3, "x", 1.0, None, -1), ("amount", 3, "x", 1.5, None, 1),
    ("null-to-value", 4, None, 2.0, True, -1), ("null-to-value", 4, "w", 2.0, True, 1),
    ("value-to-null", 5, "y", 3.0, True, -1), ("value-to-null", 5, "y", 3.0, None, 1),
    ("gone", 6, "z", 4.0, False, -1),
    ("added", 7, "v", 5.0, True, 1),
], key=repr)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table, rows in (("facts", OLD), ("new_facts", NEW)):
        con.execute(f"CREATE TABLE {table} (k VARCHAR, a INTEGER, b VARCHAR, c DOUBLE, "
                    "d BOOLEAN)")
        con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE keys AS SELECT k FROM facts")
    return con


@pytest.mark.parametrize("one_row_per_key", [True, False])
def test_changed_rows(con: duckdb.DuckDBPyConnection, one_row_per_key: bool) -> None:
    old = "SELECT * FROM facts WHERE k IN (SELECT k FROM keys)"
    rows = con.execute(changed_rows_sql(old, "new_facts", "k", one_row_per_key)).fetchall()
    assert sorted(rows, key=repr) == EXPECTED


def test_old_rows_restricted_to_the_keys(con: duckdb.DuckDBPyConnection) -> None:
    # a key left out of the old rows counts as added when the new rows have it
    old = "SELECT * FROM facts WHERE k IN (SELECT k FROM keys WHERE k <> 'same')"
    rows = con.execute(changed_rows_sql(old, "new_facts", "k", True)).fetchall()
    assert sorted(rows, key=repr) == sorted([*EXPECTED, ("same", 2, "x", 0.5, False, 1)], key=repr)


def test_duplicates_count_without_the_one_row_a_key_form(
        con: duckdb.DuckDBPyConnection) -> None:
    # several rows a key (a contract's holders): EXCEPT ALL counts each copy
    con.execute("INSERT INTO facts VALUES ('same', 2, 'x', 0.5, FALSE)")
    old = "SELECT * FROM facts"
    rows = con.execute(changed_rows_sql(old, "new_facts", "k", False)).fetchall()
    assert sorted(rows, key=repr) == sorted([*EXPECTED, ("same", 2, "x", 0.5, False, -1)],
                                            key=repr)
