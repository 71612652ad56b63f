#!/usr/bin/env python3
"""The explorer's free text alone, in process: the current query against a raw baseline, and
against the former one-text-per-contract query when a warehouse built before is given.

    .venv/bin/python bench/free_text.py --home bench/out/home-1000000 \\
        [--before-home bench/out/home-before]   # a warehouse with contract_search.text

For each query of ``bench/search.py`` (objects' words, names, several words, accents,
apostrophes) it counts the matching contracts and sums their amounts (what the explorer's
totals do) with, one after the other, the raw baseline (``contains(lower(object), word)`` per
word, on the same warehouse), the current ``observatoire.search.text_match`` and, with
``--before-home``, the former query (every word in ``contract_search.text``, that build's
single normalised text per contract). Each is timed in wall and CPU time (all DuckDB threads
of this process; CPU varies far less than wall time on a shared machine), ``--rounds`` times,
and the counts of the two search queries must agree. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import duckdb

from observatoire import search
from observatoire.model.search import normalised

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import NAME_QUERIES, TEXT_QUERIES

SQL = "SELECT count(*), sum(c.amount) FROM contracts c WHERE {where}"


def former(text: str) -> tuple[str, list[Any]]:
    """The query before the parts were matched in their own tables."""
    found = search.words(text)
    word = f"(SELECT {normalised('q')} FROM (SELECT CAST(? AS VARCHAR) AS q))"  # noqa: S608 (code only)
    where = " AND ".join(f"contains(s.text, {word})" for _ in found)
    return f"c.uid IN (SELECT s.uid FROM contract_search s WHERE {where})", found  # noqa: S608


def raw(text: str) -> tuple[str, list[Any]]:
    found = search.words(text)
    return " AND ".join("contains(lower(c.object), lower(?))" for _ in found), found


def current(text: str) -> tuple[str, list[Any]]:
    clause = search.text_match(text)
    assert clause is not None
    return clause


def timed(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> tuple[float, float,
                                                                                  int]:
    started, cpu = time.perf_counter(), time.process_time()
    row = con.execute(SQL.format(where=where), params).fetchall()[0]
    return time.perf_counter() - started, time.process_time() - cpu, int(row[0])


def summary(values: list[tuple[float, float, int]]) -> dict[str, float]:
    wall = sorted(v[0] for v in values)
    cpu = sorted(v[1] for v in values)
    p95 = max(0, int(len(wall) * 0.95) - 1)
    return {"wall_median_ms": round(statistics.median(wall) * 1000, 1),
            "wall_p95_ms": round(wall[p95] * 1000, 1),
            "cpu_median_ms": round(statistics.median(cpu) * 1000, 1),
            "cpu_p95_ms": round(cpu[p95] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--before-home", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    cons = {"now": duckdb.connect(str(args.home / "warehouse.duckdb"), read_only=True)}
    if args.before_home:
        cons["before"] = duckdb.connect(str(args.before_home / "warehouse.duckdb"),
                                        read_only=True)
    for con in cons.values():
        con.execute(f"SET threads = {int(args.threads)}")
    cases = [("raw baseline", cons["now"], raw), ("current", cons["now"], current)]
    if "before" in cons:
        cases.append(("former", cons["before"], former))
    times: dict[str, list[tuple[float, float, int]]] = {name: [] for name, _, _ in cases}
    per_query: dict[str, dict[str, Any]] = {}
    queries = TEXT_QUERIES + NAME_QUERIES
    for _ in range(args.rounds):
        for text in queries:
            for name, con, query in cases:
                where, params = query(text)
                result = timed(con, where, params)
                times[name].append(result)
                entry = per_query.setdefault(text, {})
                entry[f"{name} contracts"] = result[2]
                entry.setdefault(f"{name} cpu_ms", []).append(round(result[1] * 1000, 1))
    disagree = [t for t, e in per_query.items()
                if "former contracts" in e and e["former contracts"] != e["current contracts"]]
    out = {name: summary(v) for name, v in times.items()}
    base = out["raw baseline"]["cpu_median_ms"]
    for name in out:
        out[name]["cpu_median_over_raw_baseline"] = round(out[name]["cpu_median_ms"] / base, 2)
    print(json.dumps({"queries": len(queries), "rounds": args.rounds, "threads": args.threads,
                      "contracts": cons["now"].execute(
                          "SELECT count(*) FROM contracts").fetchall()[0][0],
                      "summary": out, "counts_disagree": disagree,
                      "per_query": {t: {k: min(v) if isinstance(v, list) else v
                                        for k, v in e.items()}
                                    for t, e in per_query.items()}},
                     indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
