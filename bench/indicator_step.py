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
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from observatoire.indicators.compute import compute
from observatoire.indicators.profile import load_profile
from observatoire.indicators.service import TABLES

#: Statement prefixes of each part of the step.
PARTS = {
    "facts": ("CREATE TEMP TABLE indicator_scope_work", "CREATE TABLE indicator_holders",
              "CREATE TABLE indicator_contracts", "CREATE TABLE indicator_subcontracts",
              "CREATE TABLE indicator_records"),
    "results": ("INSERT INTO results_raw WITH",),
    "judge": ("CREATE TABLE indicator_results",),
}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Timed:
    """A connection that times every statement (wall and CPU seconds)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.log: list[tuple[float, float, str]] = []

    def _timed(self, method: str, sql: str, *args: Any) -> Any:
        wall, used = time.perf_counter(), cpu()
        out = getattr(self._con, method)(sql, *args)
        self.log.append((time.perf_counter() - wall, cpu() - used, " ".join(sql.split())))
        return out

    def execute(self, sql: str, *args: Any) -> Any:
        return self._timed("execute", sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        return self._timed("executemany", sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


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
        timed = Timed(con)
        wall, used = time.perf_counter(), cpu()
        rows = compute(timed, profile, date.today())  # type: ignore[arg-type]
        wall, used = time.perf_counter() - wall, cpu() - used
        con.close()
    parts: dict[str, float] = {}
    for _, seconds, sql in timed.log:
        parts[part(sql)] = parts.get(part(sql), 0.0) + seconds
    print(json.dumps({
        "result_rows": rows, "cpu_s": round(used, 3), "wall_s": round(wall, 3),
        **{f"{name}_cpu_s": round(seconds, 3) for name, seconds in sorted(parts.items())},
        "result_queries": sum(1 for _, _, sql in timed.log if part(sql) == "results"),
        "statements": len(timed.log),
    }))
    for seconds_wall, seconds, sql in sorted(timed.log, key=lambda s: -s[1])[:args.top]:
        print(f"{seconds:7.3f} s CPU {seconds_wall:7.3f} s wall  {sql[:110]}")


if __name__ == "__main__":
    main()
