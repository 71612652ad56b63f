"""The results of some breakdown values, recomputed alone, are those of the complete build.

An incremental build recomputes the results of the breakdown values its new files touch
(``compute.recompute``, with ``indicator_cells_work``), replacing theirs. Here, on a copy of
the demo's warehouse (a complete build), the cells of a buyer, a région, the contracts without
a directorate (NULL: a group of its own) and a source of records are recomputed alone; no
data changed, so every row must come back as the complete build wrote it, statuses included
(a status compares a year with the one before: the whole series of each value is recomputed).
"""

from __future__ import annotations

import logging
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from observatoire.indicators import compute
from observatoire.indicators.profile import load_profile
from tests.conftest import Warehouse

#: The catalogue tables ``recompute`` writes again.
CATALOGUE = ("indicator_profile", "indicator_axes", "indicators", "indicator_targets",
             "indicator_breakdowns")


def test_recomputed_cells_equal_the_complete_build(
        demo_warehouse: Warehouse, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(demo_warehouse.settings.warehouse_path, copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute("CREATE TABLE complete_results AS SELECT * FROM indicator_results")
        buyer = con.execute("""SELECT buyer_siret FROM indicator_contracts GROUP BY 1
            ORDER BY count(*) DESC, 1 LIMIT 1""").fetchall()[0][0]
        region = con.execute("""SELECT buyer_region FROM indicator_contracts
            WHERE buyer_region IS NOT NULL GROUP BY 1 ORDER BY count(*), 1
            LIMIT 1""").fetchall()[0][0]
        source = con.execute("""SELECT source FROM indicator_records GROUP BY 1
            ORDER BY count(*), 1 LIMIT 1""").fetchall()[0][0]
        con.execute(f"CREATE TEMP TABLE {compute.CELLS} (grain VARCHAR, breakdown VARCHAR, "
                    "value VARCHAR)")
        con.executemany(f"INSERT INTO {compute.CELLS} VALUES (?, ?, ?)", [
            ("contract", "buyer", buyer), ("contract", "buyer_region", region),
            ("contract", "directorate", None), ("holder", "buyer", buyer),
            ("record", "source", source)])
        rows = con.execute("""SELECT count(*) FROM indicator_results
            WHERE breakdown = 'buyer' AND breakdown_value = ?""", [buyer]).fetchall()[0][0]
        assert rows > 0  # the cells hold results to recompute
        for table in CATALOGUE:
            con.execute(f"DROP TABLE {table}")
        profile = load_profile(demo_warehouse.settings.profile)
        with caplog.at_level(logging.INFO, logger="observatoire.indicators.compute"):
            # computed by cells however many rows they hold
            compute.recompute(con, profile, date.today(), {"contract", "holder", "record"},
                              whole_share=1.0)
        assert "par cellules pour ['contract', 'holder', 'record']" in caplog.text
        differ = [con.execute(f"""SELECT count(*) FROM (SELECT * FROM {a}
                                  EXCEPT ALL SELECT * FROM {b})""").fetchall()[0][0]
                  for a, b in (("indicator_results", "complete_results"),
                               ("complete_results", "indicator_results"))]
        assert differ == [0, 0]
    finally:
        con.close()
