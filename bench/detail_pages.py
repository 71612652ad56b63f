#!/usr/bin/env python3
"""CPU time of the pages of one contract, one buyer and one supplier, uncached, in process.

The load test (``bench/load.py``) needs every request to cost a few tens of milliseconds of
CPU; this measures what the pages keyed by one identifier cost: ``/marches/<uid>/``,
``/acheteurs/<siret>/``, ``/titulaires/<key>/``, their ``.json`` twins and the API's
``/api/v1/marches/<uid>``, ``/api/v1/acheteurs/<siret>``, ``/api/v1/titulaires/<key>``::

    .venv/bin/python bench/detail_pages.py --home bench/out/home-1000000
    # before/after in the same run: another data home, and optionally other code, alternated
    .venv/bin/python bench/detail_pages.py --home after-home \\
        --before-home before-home --before-src /path/to/older/src

Each data home is measured in a process of its own (Django's test client, no server): one
request per identifier and URL kind, each identifier asked once per kind (distinct
identifiers across the kinds, so no cache of a process answers), with a parameter the page
ignores (``n``) so that the page cache on disk never answers either. The identifiers are real
ones read from the warehouse, chosen the same way in every home (the largest buyers and
suppliers, then others drawn by hash; contracts drawn by hash of their uid). The CPU time is
the process's (``getrusage``: Python and DuckDB's threads), around each request. With
``--before-home`` the two homes are measured alternately, ``--rounds`` times each, and the
medians of each round are printed side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: kind → URL of one identifier
KINDS = {
    "marché (page)": ("contracts", "/marches/{id}/"),
    "marché (.json)": ("contracts", "/marches/{id}.json"),
    "marché (API)": ("contracts", "/api/v1/marches/{id}"),
    "acheteur (page)": ("buyers", "/acheteurs/{id}/"),
    "acheteur (.json)": ("buyers", "/acheteurs/{id}.json"),
    "acheteur (API)": ("buyers", "/api/v1/acheteurs/{id}"),
    "titulaire (page)": ("suppliers", "/titulaires/{id}/"),
    "titulaire (.json)": ("suppliers", "/titulaires/{id}.json"),
    "titulaire (API)": ("suppliers", "/api/v1/titulaires/{id}"),
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sample_ids(warehouse: Path, per_kind: int) -> dict[str, list[str]]:
    """Identifiers to ask for: for each entity, 3 × ``per_kind`` (one set per URL kind). A
    third of the buyers and suppliers are the largest (the load test draws from the top of
    the lists), the rest drawn by hash of the key: the same in any build of the same input."""
    import duckdb

    n = 3 * per_kind
    big = n // 3
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        buyers = [r[0] for r in con.execute(
            """SELECT buyer_siret FROM contracts GROUP BY 1
               ORDER BY count(*) DESC, 1 LIMIT ?""", [big]).fetchall()]
        buyers += [r[0] for r in con.execute(
            """SELECT buyer_siret FROM buyers WHERE buyer_siret NOT IN (SELECT unnest(?))
                 AND buyer_siret IN (SELECT buyer_siret FROM contracts)
               ORDER BY md5(buyer_siret) LIMIT ?""", [buyers, n - big]).fetchall()]
        suppliers = [r[0] for r in con.execute(
            """SELECT COALESCE(s.siret, s.supplier_key) FROM suppliers s
               JOIN contract_holders h ON h.supplier_key = s.supplier_key AND h.is_current
               GROUP BY s.supplier_key, s.siret ORDER BY count(*) DESC, s.supplier_key LIMIT ?""",
            [big]).fetchall()]
        suppliers += [r[0] for r in con.execute(
            """SELECT COALESCE(s.siret, s.supplier_key) FROM suppliers s
               WHERE COALESCE(s.siret, s.supplier_key) NOT IN (SELECT unnest(?))
                 AND s.supplier_key IN (SELECT supplier_key FROM contract_holders WHERE is_current)
               ORDER BY md5(s.supplier_key) LIMIT ?""", [suppliers, n - big]).fetchall()]
        contracts = [r[0] for r in con.execute(
            "SELECT uid FROM contracts ORDER BY md5(uid) LIMIT ?", [n]).fetchall()]
    finally:
        con.close()
    # interleave the large and the drawn ones, so that every kind gets some of each
    def spread(ids: list[str]) -> list[str]:
        return [ids[i] for k in range(3) for i in range(k, len(ids), 3)]
    return {"buyers": spread(buyers), "suppliers": spread(suppliers), "contracts": contracts}


def worker(home: Path, ids: dict[str, list[str]], per_kind: int,
           profile: str | None) -> dict[str, Any]:
    """Every kind's URLs once, in this process (run as a child with its own code and home)."""
    os.environ["OBSERVATOIRE_HOME"] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatoire.web.settings")
    import django

    django.setup()
    from django.test import Client

    client = Client()
    stamp = time.time_ns()
    # warm up: the warehouse opened, the templates compiled (an identifier of no kind)
    for entity, url in KINDS.values():
        extra = ids[entity][-1]
        client.get(url.format(id=urllib.parse.quote(extra, safe="")), {"n": f"w{stamp}"})
    results: dict[str, Any] = {}
    profiler = None
    for index, (kind, (entity, url)) in enumerate(KINDS.items()):
        chosen = ids[entity][(index % 3) * per_kind:(index % 3 + 1) * per_kind]
        cpu_ms, wall_ms = [], []
        if profile and profile == kind:
            import cProfile

            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        for uid in chosen:
            path = url.format(id=urllib.parse.quote(uid, safe=""))
            c0, w0 = _cpu(), time.perf_counter()
            response = client.get(path, {"n": str(stamp)})
            cpu_ms.append((_cpu() - c0) * 1000)
            wall_ms.append((time.perf_counter() - w0) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {response.status_code}")
            if response.get("X-Cache") == "hit":
                raise RuntimeError(f"{path}: served by the page cache")
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(home / "cache" / "detail-pages.prof"))
            profiler = None
        results[kind] = {"cpu_ms": [round(x, 1) for x in cpu_ms],
                         "wall_ms": [round(x, 1) for x in wall_ms]}
    return results


def _child(src: Path, home: Path, ids_file: Path, per_kind: int,
           profile: str | None) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, __file__, "--worker", str(home), "--ids", str(ids_file),
               "--per-kind", str(per_kind)]
    if profile:
        command += ["--profile", profile]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker failed on {home}:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, default=ROOT / "bench" / "out" / "home-1000000")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="code of --home")
    parser.add_argument("--before-home", type=Path, help="a data home to compare with")
    parser.add_argument("--before-src", type=Path, help="code of --before-home (default --src)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-kind", type=int, default=6, help="identifiers per URL kind")
    parser.add_argument("--profile",
                        help="cProfile this kind (CPU time) into <home>/cache/detail-pages.prof")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ids", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        ids = json.loads(args.ids.read_text())
        print(json.dumps(worker(args.worker, ids, args.per_kind, args.profile)))
        return
    ids = sample_ids(args.home / "warehouse.duckdb", args.per_kind)
    ids_file = args.home / "cache" / "detail-pages-ids.json"
    ids_file.parent.mkdir(parents=True, exist_ok=True)
    ids_file.write_text(json.dumps(ids))
    runs = [("after", args.src, args.home)]
    if args.before_home:
        runs.insert(0, ("before", args.before_src or args.src, args.before_home))
    table: dict[str, dict[str, list[float]]] = {}
    raw: dict[str, list[Any]] = {name: [] for name, _, _ in runs}
    load = []
    for _ in range(args.rounds):
        for name, src, home in runs:
            load.append(os.getloadavg()[0])
            result = _child(src, home, ids_file, args.per_kind, args.profile)
            raw[name].append(result)
            for kind, figures in result.items():
                table.setdefault(kind, {}).setdefault(name, []).append(
                    statistics.median(figures["cpu_ms"]))
    print(f"load average at each run: {', '.join(f'{x:.1f}' for x in load)}")
    print("CPU ms per request: median of each round (max over the rounds)")
    for kind, by_run in table.items():
        cells = [f"{name} " + " / ".join(f"{m:.0f}" for m in by_run[name])
                 + f" (max {max(max(r[kind]['cpu_ms']) for r in raw[name]):.0f})"
                 for name, _, _ in runs]
        print(f"  {kind:<18} " + "   ".join(cells))
    (args.home / "cache" / "detail-pages.json").write_text(
        json.dumps({"load_average": load, "runs": raw}, ensure_ascii=False))


if __name__ == "__main__":
    main()
