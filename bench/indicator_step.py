#!/usr/bin/env python3
"""The indicator step's CPU on a built warehouse, statement by statement.

Copies the warehouse (the original is left untouched), drops the indicator step's tables and
runs ``compute()`` as the build does, timing every statement it sends to DuckDB (process CPU:
user + system, DuckDB's threads included). Prints one JSON line: the CPU of the fact tables,
of the result queries (and how many), of the judging statement (targets, statuses, labels),
of the rest, and the result rows; ``--top N`` also lists the N dearest statements.

To compare two versions of the code in the same run, point ``PYTHONPATH`` at each one's
``src`` in turn (a ``git archive`` of the other commit, for instance)::

    git archive main src | tar -x -C /tmp/main
    PYTHONPATH=/tmp/main/src .venv/bin/python bench/indicator_step.py H/warehouse.duckdb
    PYTHONPATH=src .venv/bin/python bench/indicator_step.py H/warehouse.duckdb

``--keep PATH`` keeps the computed copy, to compare two versions' rows with
``bench/same_rows.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from observatoire.indicators.compute import compute
from observatoire.indicators.profile import load_profile
from observatoire.indicators.service import TABLES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_pipeline import TimedConnection  # a sibling script

#: Statement prefixes of each part of the step.
PARTS = {
    "facts": ("CREATE TEMP TABLE indicator_scope_work", "CREATE TABLE indicator_holders",
              "CREATE TABLE indicator_contracts", "CREATE TABLE indicator_subcontracts",
              "CREATE TABLE indicator_records"),
    # the groups of each query (kept in indicator_groups), then its result rows
    "results": ("CREATE TEMP TABLE groups_work", "INSERT INTO indicator_groups",
                "INSERT INTO results_raw WITH"),
    "judge": ("CREATE TABLE indicator_results",),
}


def part(sql: str) -> str:
    return next((name for name, prefixes in PARTS.items() if sql.startswith(prefixes)), "other")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("warehouse", type=Path, help="a built warehouse.duckdb")
    parser.add_argument("--profile", default="generique")
    parser.add_argument("--memory-limit", default="1500MB")
    parser.add_argument("--top", type=int, default=0, help="list the N dearest statements")
    parser.add_argument("--keep", type=Path, help="keep the computed copy at this path")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    with tempfile.TemporaryDirectory(dir=args.warehouse.parent) as tmp:
        copy = args.keep or Path(tmp) / "warehouse.duckdb"
        shutil.copyfile(args.warehouse, copy)
        con = duckdb.connect(str(copy))
        con.execute(f"SET memory_limit = '{args.memory_limit}'")
        for table in TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute("CHECKPOINT")
        log: list[tuple[float, float, float, str]] = []
        wall, used = time.perf_counter(), time.process_time()
        rows = compute(TimedConnection(con, log), profile, date.today())  # type: ignore[arg-type]
        wall, used = time.perf_counter() - wall, time.process_time() - used
        con.close()
    parts: dict[str, float] = {}
    for _, seconds, _, sql in log:
        parts[part(sql)] = parts.get(part(sql), 0.0) + seconds
    print(json.dumps({
        "result_rows": rows, "cpu_s": round(used, 3), "wall_s": round(wall, 3),
        **{f"{name}_cpu_s": round(seconds, 3) for name, seconds in sorted(parts.items())},
        "result_queries": sum(1 for *_, sql in log if sql.startswith(PARTS["results"][-1])),
        "statements": len(log),
    }))
    for seconds_wall, seconds, _, sql in sorted(log, key=lambda s: -s[1])[:args.top]:
        print(f"{seconds:7.3f} s CPU {seconds_wall:7.3f} s wall  {sql}")


if __name__ == "__main__":
    main()
