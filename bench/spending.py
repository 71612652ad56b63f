#!/usr/bin/env python3
"""Benchmark of the « Dépenses » read side (``observatoire.spending``) on many payment lines.

Run it from the project root with the project's virtual environment::

    .venv/bin/python bench/spending.py                 # about 1,000,000 payment lines
    .venv/bin/python bench/spending.py --lines 3000000

What it does, in one run:

1. **Input.** Ingests and builds, in a temporary data home, the buyer's DECP file, the
   simulated PES set and the Chorus extracts of ``demo/data`` (76 payment lines), then copies
   the ``payments`` rows with new keys and piece numbers until about N lines (the same buyer,
   contracts, suppliers and dates: the shape of one big buyer's history).
2. **Measures.** Each service call the pages and the API make, twice (the second with the
   warehouse's pages in the OS cache): the explorer's first page without filter and with a
   supplier's words sorted by amount, a contract's payments, a buyer's delays and suppliers,
   and the whole selection of the payments outside contracts streamed. Wall and CPU time of
   the process (DuckDB's threads included), and its peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from observatoire import spending  # noqa: E402
from observatoire.build import build  # noqa: E402
from observatoire.config import Settings  # noqa: E402
from observatoire.connectors.ingest import ingest  # noqa: E402

DEMO = ROOT / "demo" / "data"
BUYER = "59920013600241"


def timed(label: str, call: Callable[[], object]) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    call()
    print(f"{label:<48} wall {time.perf_counter() - wall:7.3f} s   "
          f"cpu {time.process_time() - cpu:7.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(home=Path(folder))
        ingest(settings, [DEMO / "decp" / "v2", *sorted((DEMO / "pes-simule").glob("*.xml")),
                          DEMO / "chorus"])
        build(settings)
        con = duckdb.connect(str(settings.warehouse_path))
        base = con.execute("SELECT count(*) FROM payments").fetchall()[0][0]
        copies = max(1, args.lines // base)
        con.execute(
            "INSERT INTO payments SELECT p.* REPLACE (md5(p.payment_key || t.i) AS payment_key, "
            "p.piece_id || '-' || t.i AS piece_id) FROM payments p, range(1, ?) t(i)", [copies])
        lines = con.execute("SELECT count(*) FROM payments").fetchall()[0][0]
        con.close()
        print(f"payments: {lines:,} lines")
        contract = f"{BUYER}H9O2024T0000356"
        for run in (1, 2):
            print(f"run {run}")
            timed("explorer, first page, no filter",
                  lambda: spending.search(settings, spending.PaymentFilters()))
            timed("explorer, supplier words, sorted by amount",
                  lambda: spending.search(settings, spending.PaymentFilters(
                      fournisseur="simule"), "montant"))
            timed("contract payments (contract page)",
                  lambda: spending.contract_payments(settings, contract))
            timed("buyer payments (buyer page)",
                  lambda: spending.buyer_payments(settings, BUYER))
            timed("whole selection outside contracts, streamed",
                  lambda: sum(1 for _ in spending.selection(
                      settings, spending.PaymentFilters(marche="non"))))
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
