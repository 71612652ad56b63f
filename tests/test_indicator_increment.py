"""Results patched from the fact rows that changed equal results computed from every row.

An incremental build patches the kept groups of the indicator queries with the fact rows that
changed and makes again the results of the breakdown values they touch (``indicators.delta``).
Here, on a copy of the demo's warehouse (a complete build), the fact tables are changed in
place as new files would change them: a new contract with a holder no other contract has (a
distinct count rises), a contract moved to another year, a procedure no contract had, a
higher amount and more offers (a median moves), every contract of one procedure withdrawn (its
groups go), a record set aside and another withdrawn; or every record withdrawn. The patched
``indicator_results`` and ``indicator_groups`` must be, row for row, those computed again from
every fact row.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb

from observatoire.indicators import compute, delta, increment
from observatoire.indicators.profile import Profile, load_profile
from tests.conftest import Warehouse

#: The tables the results are computed into (written again by either way).
RESULTS = ("indicator_profile", "indicator_axes", "indicators", "indicator_targets",
           "indicator_breakdowns", "indicator_results", compute.GROUPS)


def _change_the_facts(con: duckdb.DuckDBPyConnection) -> None:
    """The changes of the module's docstring."""
    new, moved = con.execute("""SELECT min(uid), max(uid) FROM indicator_contracts
        WHERE procedure = 'Procédure adaptée' AND period_year = 2024
          AND offers_received IS NOT NULL AND amount IS NOT NULL""").fetchall()[0]
    assert new < moved
    con.execute("""INSERT INTO indicator_contracts
        SELECT * REPLACE (uid || '-copie' AS uid) FROM indicator_contracts WHERE uid = ?""",
                [new])
    con.execute("""INSERT INTO indicator_holders
        SELECT * REPLACE (uid || '-copie' AS uid, '999999999' AS supplier_siren,
                          'SIREN:999999999' AS supplier_key)
        FROM indicator_holders WHERE uid = ?""", [new])
    for table in ("indicator_contracts", "indicator_holders"):
        con.execute(f"""UPDATE {table} SET procedure = 'Concours', period_year = 2021
            WHERE uid = ?""", [moved])
    con.execute("""UPDATE indicator_contracts SET amount = amount * 3,
        offers_received = offers_received + 5 WHERE uid = ?""", [moved])
    for table in ("indicator_contracts", "indicator_holders"):
        con.execute(f"DELETE FROM {table} WHERE procedure = 'Dialogue compétitif'")
    kept, gone = con.execute("""SELECT min(record_key), max(record_key) FROM indicator_records
        WHERE status = 'kept' AND source = 'megalis_decp'""").fetchall()[0]
    con.execute("""UPDATE indicator_records SET status = 'set_aside', is_set_aside = TRUE
        WHERE record_key = ?""", [kept])
    con.execute("DELETE FROM indicator_records WHERE record_key = ?", [gone])


def _contracts(con: duckdb.DuckDBPyConnection, period: str, procedure: str) -> float | None:
    rows = con.execute("""SELECT numerator FROM indicator_results
        WHERE indicator_id = 'marches-notifies' AND basis = 'count' AND period = ?
          AND breakdown = 'procedure' AND breakdown_value = ?""", [period, procedure]).fetchall()
    return rows[0][0] if rows else None


def _patch(con: duckdb.DuckDBPyConnection, profile: Profile, today: date) -> set[str]:
    """The results patched from the fact rows that differ from the ``old_`` tables' (as
    ``increment.update`` does once the facts are patched); the grains that changed."""
    changed = {grain for grain, (table, _) in increment.FACTS.items()
               if increment.mark_changed(con, grain, f"SELECT * FROM old_{table}", table)}
    for table in RESULTS[:5]:
        con.execute(f"DROP TABLE {table}")
    delta.recompute(con, profile, today, changed, compute.queries_digest(profile))
    return changed


def _assert_same_as_every_row(con: duckdb.DuckDBPyConnection, profile: Profile,
                              today: date) -> None:
    for table in ("indicator_results", compute.GROUPS):
        con.execute(f"CREATE TABLE patched_{table} AS SELECT * FROM {table}")
    for table in RESULTS:
        con.execute(f"DROP TABLE {table}")
    compute.results(con, profile, today)
    for table in ("indicator_results", compute.GROUPS):
        differ = [con.execute(f"""SELECT count(*) FROM (SELECT * FROM {a}
                                  EXCEPT ALL SELECT * FROM {b})""").fetchall()[0][0]
                  for a, b in ((table, f"patched_{table}"), (f"patched_{table}", table))]
        assert differ == [0, 0], table


def _copy(demo_warehouse: Warehouse, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse.settings.warehouse_path, copy)
    con = duckdb.connect(str(copy))
    for table, _ in increment.FACTS.values():
        con.execute(f"CREATE TEMP TABLE old_{table} AS SELECT * FROM {table}")
    return con


def test_patched_results_equal_those_of_every_row(
        demo_warehouse: Warehouse, tmp_path: Path) -> None:
    profile = load_profile(demo_warehouse.settings.profile)
    today = date.today()
    con = _copy(demo_warehouse, tmp_path)
    try:
        distinct_before = con.execute("""SELECT value FROM indicator_results
            WHERE indicator_id = 'titulaires-distincts' AND breakdown = 'total'
              AND period = 'toutes'""").fetchall()[0][0]
        assert _contracts(con, "2024", "Dialogue compétitif") == 12
        assert _contracts(con, "2021", "Concours") is None
        _change_the_facts(con)
        assert _patch(con, profile, today) == {"contract", "holder", "record"}
        # the changes reached the results: a group gone, a group new, a distinct count
        assert _contracts(con, "2024", "Dialogue compétitif") is None
        assert _contracts(con, "2021", "Concours") == 1
        distinct = con.execute("""SELECT value FROM indicator_results
            WHERE indicator_id = 'titulaires-distincts' AND breakdown = 'total'
              AND period = 'toutes'""").fetchall()[0][0]
        # its definition: the SIRENs of the holders of the contracts from 2000 or undated
        assert distinct == con.execute("""SELECT count(DISTINCT supplier_siren)
            FROM indicator_holders WHERE period_year IS NULL OR period_year >= 2000
            """).fetchall()[0][0] != distinct_before
        _assert_same_as_every_row(con, profile, today)
    finally:
        con.close()


def test_a_grain_left_without_rows(demo_warehouse: Warehouse, tmp_path: Path) -> None:
    """Every record withdrawn: the whole scope's group of each record indicator stays, with
    no row (a count 0, a sum NULL, as SQL computes them over no row); the others go."""
    profile = load_profile(demo_warehouse.settings.profile)
    today = date.today()
    con = _copy(demo_warehouse, tmp_path)
    try:
        con.execute("DELETE FROM indicator_records")
        assert _patch(con, profile, today) == {"record"}
        assert con.execute("""SELECT DISTINCT breakdown, record_count FROM indicator_results
            r JOIN indicators i USING (indicator_id, version)
            WHERE i.grain = 'record' AND r.period = 'toutes'""").fetchall() == [("total", 0)]
        _assert_same_as_every_row(con, profile, today)
    finally:
        con.close()
