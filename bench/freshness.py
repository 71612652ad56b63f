#!/usr/bin/env python3
"""Freshness: from a file dropped in the demo's inbox to its contract on the public pages.

Run it from the project root (the data home is made once by ``observatoire demo``, reused)::

    .venv/bin/python bench/freshness.py --drops 20

It starts ``observatoire serve`` and ``observatoire collect --continu`` on the demo's data home
(profile ``demonstration``, inbox ``<home>/depot/``), as ``python3 tasks.py demo`` does, then
drops ``--drops`` DECP files one after the other, each a real record of the demo (GIP
Maximilien, DECP 2024) under a new id, written beside the inbox and renamed into it (a drop in
one go). For each it measures, from the rename:

- **page**: until ``/marches/<uid>/`` answers 200 (the contract page shows it);
- **barometer**: until the barometer's JSON twin (``/index.json``) changes (the record is
  notified in the barometer's reference year, 2024, by a buyer of the profile: the contract
  counts behind its indicators grow by one);

and where the seconds went, each from what it leaves behind (wall clock, milliseconds):

- **pickup**: until the collector takes the file (the file leaves the inbox once ingested:
  that moment less the ingest's own duration, from the catalog);
- **ingest**: the load's duration (catalog);
- **before_steps**: from the file leaving the inbox to the build's first step (the plan…);
- **steps**: the build's steps (the build log of the catalog), with the indicator step apart;
- **swap**: from the end of the last step to the new warehouse file in place (its inode
  changes: checkpoint and rename);
- **serve**: from the swap to the contract page's first 200 (the site reopening the warehouse).

Target (issue 15): p95 ≤ 2 s over 20 drops. Options ``--intervalle`` and ``--stabilite`` are
the collector's.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE = (ROOT / "demo" / "data" / "decp" / "v2"
          / "gip-maximilien_decp-13001845000028-2024-10-06-01.json")
BUYER = "13001845000028"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - our own server
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=ROOT / "bench" / "out" / "freshness" / "home")
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--intervalle", type=float, default=5.0,
                        help="collector: seconds at most between two rounds")
    parser.add_argument("--stabilite", type=float, default=2.0,
                        help="collector: seconds an inbox file must stay unchanged")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=None, help="results as JSON")
    args = parser.parse_args()
    env = dict(os.environ, OBSERVATOIRE_HOME=str(args.home),
               OBSERVATOIRE_PROFILE="demonstration",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    cli = [sys.executable, "-m", "observatoire.cli"]
    if not (args.home / "warehouse.duckdb").exists():
        subprocess.run([*cli, "demo"], env=env, check=True, stdout=subprocess.DEVNULL)
    inbox = args.home / "depot"
    inbox.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    logs = args.home.parent
    server = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env,
                              stdout=(logs / "serve.log").open("w"), stderr=subprocess.STDOUT)
    collector = subprocess.Popen(
        [*cli, "collect", "--continu", "--json", "--intervalle", str(args.intervalle),
         "--stabilite", str(args.stabilite)],
        env=env, stdout=(logs / "collect.log").open("w"), stderr=subprocess.STDOUT)
    published = json.loads(SOURCE.read_text(encoding="utf-8"))
    # a contract with an amount, a CPV and a place (a site built under GIP Maximilien)
    record = next(r for r in published["marches"]["marche"] if r["id"] == "D2F2023S0302702")
    run = time.strftime("%H%M%S")
    results = []
    try:
        deadline = time.monotonic() + 60
        while _status(base + "/index.json")[0] != 200:
            if time.monotonic() > deadline:
                sys.exit("the site did not start (see serve.log)")
            time.sleep(0.2)
        _wait_for_publication(args.home)
        for i in range(1, args.drops + 1):
            contract_id = f"F{run}{i:02d}"
            one = copy.deepcopy(record)
            one["id"] = contract_id
            one["dateNotification"] = "2024-06-15"
            one["datePublicationDonnees"] = "2024-06-20"
            before = _status(base + "/index.json")[1]
            body = json.dumps({"marches": {"marche": [one]}}, ensure_ascii=False)
            staged = inbox / f".fraicheur-{run}-{i:02d}.json"
            staged.write_text(body, encoding="utf-8")
            target = inbox / f"fraicheur-{run}-{i:02d}.json"
            os.replace(staged, target)
            t0, wall0 = time.monotonic(), time.time()
            inode = (args.home / "warehouse.duckdb").stat().st_ino
            page = barometer = moved = swapped = None
            uid = BUYER + contract_id
            while (page is None or barometer is None) and time.monotonic() - t0 < args.timeout:
                if moved is None and not target.exists():
                    moved = time.monotonic() - t0
                if swapped is None and _inode(args.home / "warehouse.duckdb") != inode:
                    swapped = time.monotonic() - t0
                if page is None and _status(f"{base}/marches/{uid}/")[0] == 200:
                    page = time.monotonic() - t0
                if page is not None and barometer is None \
                        and _status(base + "/index.json")[1] != before:
                    barometer = time.monotonic() - t0
                time.sleep(0.01)
            took = _catalog_figures(args.home, target.name)
            results.append({"drop": i, "uid": uid, "page_s": page, "barometer_s": barometer,
                            **_breakdown(took, wall0, moved, swapped, page), **took})
            print(json.dumps({k: v for k, v in results[-1].items() if k != "steps"},
                             ensure_ascii=False), flush=True)
            time.sleep(0.5)
    finally:
        collector.terminate()
        collector.wait(timeout=120)
        server.terminate()
        server.wait(timeout=30)
    pages = [r["page_s"] for r in results if r["page_s"] is not None]
    both = [r["barometer_s"] for r in results if r["barometer_s"] is not None]
    summary = {
        "drops": len(results), "seen": len(both),
        "intervalle": args.intervalle, "stabilite": args.stabilite,
        "page_median_s": round(statistics.median(pages), 2) if pages else None,
        "page_p95_s": round(_p95(pages), 2) if pages else None,
        "visible_median_s": round(statistics.median(both), 2) if both else None,
        "visible_p95_s": round(_p95(both), 2) if both else None,
        "build_median_s": _median(results, "build_s"),
        "ingest_median_s": _median(results, "ingest_s"),
        "modes": sorted({r.get("mode") or "?" for r in results}),
        "breakdown_median_s": {k: _median(results, k) for k in PARTS},
        "steps_median_s": _step_medians(results),
    }
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "drops": results}, indent=1))


def _wait_for_publication(home: Path) -> None:
    """The server writes the datasets of the build in service when it starts (tens of seconds
    of CPU at the demo's size, once): the drops measure the steady state, after it."""
    from observatoire.datasets import DATASETS, FORMATS

    con = _catalog(home)
    try:
        build_id = con.execute("SELECT max(build_id) FROM builds "
                               "WHERE status = 'succeeded'").fetchone()[0]
    finally:
        con.close()
    folder = home / "exports" / str(build_id)
    expected = {f"{d}.{f}" for d in DATASETS for f in FORMATS}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if folder.is_dir() and expected <= {p.name for p in folder.iterdir()}:
            return
        time.sleep(1)
    print("warning: the datasets were not all published within 10 minutes", file=sys.stderr)


def _median(results: list[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in results if isinstance(r.get(key), (int, float))]
    return round(statistics.median(values), 2) if values else None


def _catalog(home: Path) -> sqlite3.Connection:
    con = sqlite3.connect(f"file:{home / 'catalog.sqlite'}?mode=ro", uri=True, timeout=10)
    con.row_factory = sqlite3.Row
    return con


def _catalog_figures(home: Path, file_name: str) -> dict[str, object]:
    """The ingest's duration, and the build that took the file: its duration, mode and steps
    (name → [start as a Unix time, wall seconds, CPU seconds])."""
    con = _catalog(home)
    try:
        load = con.execute("SELECT duration_s, loaded_at FROM loads WHERE file_name = ?",
                           [file_name]).fetchone()
        build = con.execute("""SELECT build_id, summary FROM builds
            WHERE status = 'succeeded' AND started_at >= ? ORDER BY build_id LIMIT 1""",
                            [load["loaded_at"] if load else "9"]).fetchone()
        steps = con.execute("""SELECT name, started_at, seconds, cpu_seconds FROM build_steps
            WHERE build_id = ? ORDER BY position""",
                            [build["build_id"] if build else -1]).fetchall()
    finally:
        con.close()
    summary = json.loads(build["summary"]) if build else {}
    return {"ingest_s": load["duration_s"] if load else None,
            "build_id": build["build_id"] if build else None,
            "build_s": summary.get("seconds"), "mode": summary.get("mode"),
            "steps": {s["name"]: [datetime.fromisoformat(s["started_at"]).timestamp(),
                                  s["seconds"], s["cpu_seconds"]] for s in steps}}


#: The parts of a drop's time (see the module's docstring).
PARTS = ("pickup_s", "ingest_s", "before_steps_s", "steps_s", "indicator_step_s", "swap_s",
         "serve_s", "steps_cpu_s")


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:  # between the rename's two names: never, but be safe
        return None


def _breakdown(took: dict[str, Any], wall0: float, moved: float | None,
               swapped: float | None, page: float | None) -> dict[str, float | None]:
    """Where a drop's seconds went, from the rename (``wall0``, Unix time); a part whose ends
    were not seen is None."""
    steps: dict[str, list[float]] = took["steps"]
    ingest = took["ingest_s"]

    def part(end: float | None, start: float | None) -> float | None:
        return None if end is None or start is None else round(end - start, 3)

    first = min(s[0] for s in steps.values()) - wall0 if steps else None
    last_end = max(s[0] + s[1] for s in steps.values()) - wall0 if steps else None
    return {"pickup_s": part(moved, ingest), "before_steps_s": part(first, moved),
            "steps_s": part(last_end, first),
            "indicator_step_s": steps.get("indicateurs", [0, None])[1],
            "swap_s": part(swapped, last_end), "serve_s": part(page, swapped),
            "steps_cpu_s": round(sum(s[2] for s in steps.values()), 3) if steps else None,
            "moved_at_s": moved, "swapped_at_s": swapped}


def _step_medians(results: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each step's median wall and CPU seconds over the drops."""
    names = {n for r in results for n in r.get("steps") or {}}
    medians = {}
    for name in sorted(names):
        runs = [r["steps"][name] for r in results if name in (r.get("steps") or {})]
        medians[name] = [round(statistics.median(s[1] for s in runs), 3),
                         round(statistics.median(s[2] for s in runs), 3)]
    return dict(sorted(medians.items(), key=lambda kv: -kv[1][0]))


if __name__ == "__main__":
    main()
