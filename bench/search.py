#!/usr/bin/env python3
"""Latency of the name search and of the uncached explorer on the million-contract warehouse.

Run it from the project root after ``bench/national_scale.py`` built its warehouse (with the
code being measured: the search tables are written by the build)::

    .venv/bin/python bench/search.py --home bench/out/home-1000000

It starts ``observatoire serve`` on that data home (a separate process, as in production) and,
for each case, sends requests one after the other from ``--clients`` clients (1 by default: the
issue's target is for one client) for ``--seconds``, then prints the median and 95th percentile
latency as JSON. Every request is computed: pages are kept until the next build, so each URL
carries a parameter the page ignores (``n``) that changes at every request, and the name
searches go through a list of real words of the demo's names (with and without their
accents). A raw baseline is measured first in the same run: a plain DuckDB scan of the
contracts' objects for one word (``contains(lower(object), word)``), in this process; each case
prints its p95 over the baseline's. Targets (issue 17): a name search p95 ≤ 300 ms with one
client; the uncached explorer p95 ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Words people type: whole or partial names, with or without accents, one or two words.
NAME_QUERIES = ["ecole", "Université", "eiffage", "région bretagne", "COLAS", "mairie",
                "société", "hopital", "lycée", "ville de lyon", "SNCF", "caisse des écoles",
                "commune", "bâtiment", "eiff", "univ"]
#: Free text as readers type it: objects' and CPV labels' words, several words, apostrophes.
TEXT_QUERIES = ["travaux", "l'école", "maîtrise d'œuvre", "nettoyage des locaux", "voirie",
                "restauration scolaire", "électricité", "fourniture de mobilier",
                "entretien espaces verts", "assurance", "ferroviaire", "informatique"]

CASES: dict[str, tuple[str, int | None]] = {
    # name searches: the lists' pages and the suggestions' JSON
    "acheteurs, recherche par nom": ("/acheteurs/?q={q}&n={n}", 300),
    "titulaires, recherche par nom": ("/titulaires/?q={q}&n={n}", 300),
    "suggestions de titulaires (JSON)": ("/api/v1/suggestions?type=titulaire&q={q}&n={n}", 300),
    "suggestions d'acheteurs (JSON)": ("/api/v1/suggestions?type=acheteur&q={q}&n={n}", 300),
    "API acheteurs ?q=": ("/api/v1/acheteurs?q={q}&n={n}", 300),
    # the explorer, computed at every request (the cases of bench/web_latency.py, plus those
    # this work added)
    "explorateur sans filtre, sans cache": ("/marches/?n={n}", 300),
    "explorateur année + procédure, sans cache": (
        "/marches/?annee=2019&procedure=Proc%C3%A9dure+adapt%C3%A9e&tri=montant&n={n}", 300),
    "explorateur PME, sans cache": ("/marches/?categorie=PME&n={n}", 300),
    "explorateur département du titulaire, sans cache": ("/marches/?departement=35&n={n}",
                                                          300),
    "explorateur texte libre « travaux », sans cache": ("/marches/?texte=travaux&n={n}", 300),
    "explorateur texte libre (mots des noms), sans cache": ("/marches/?texte={q}&n={n}", 300),
    "explorateur texte libre (objets, plusieurs mots), sans cache": (
        "/marches/?texte={w}&n={n}", 300),
    "explorateur acheteur par nom, sans cache": ("/marches/?acheteur={q}&n={n}", 300),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (our own server)
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")
    return time.perf_counter() - start


def _load(base: str, path: str, clients: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    counter = itertools.count(1)
    queries = itertools.cycle(NAME_QUERIES)
    texts = itertools.cycle(TEXT_QUERIES)

    def client() -> None:
        while time.perf_counter() < stop:
            with lock:
                n, q, w = next(counter), next(queries), next(texts)
            url = base + (path.replace("{n}", str(n)).replace("{q}", urllib.parse.quote(q))
                          .replace("{w}", urllib.parse.quote(w)))
            elapsed = _get(url)
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def raw_baseline(home: Path, seconds: float) -> dict[str, Any]:
    """The raw baseline, in this process and the same run: one plain DuckDB scan of the
    contracts' objects per query word (``contains(lower(object), word)``, the explorer's free
    text before it searched names and ignored accents), one after the other for ``seconds``."""
    import duckdb

    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    latencies: list[float] = []
    words = itertools.cycle(w for q in TEXT_QUERIES + NAME_QUERIES for w in q.split())
    stop = time.perf_counter() + seconds
    try:
        con.execute("SELECT count(*) FROM contracts WHERE contains(lower(object), 'x')")
        while time.perf_counter() < stop:
            start = time.perf_counter()
            con.execute("SELECT count(*) FROM contracts WHERE contains(lower(object), lower(?))",
                        [next(words)]).fetchall()
            latencies.append(time.perf_counter() - start)
    finally:
        con.close()
    latencies.sort()
    return {"requests": len(latencies),
            "median_ms": round(statistics.median(latencies) * 1000, 1),
            "p95_ms": round(latencies[max(0, int(len(latencies) * 0.95) - 1)] * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, default=ROOT / "bench" / "out" / "home-1000000")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0, help="per case")
    parser.add_argument("--threads", type=int, default=4, help="server threads per process")
    parser.add_argument("--processus", type=int, default=None,
                        help="server processes (default: the server's, one per core)")
    args = parser.parse_args()
    if not (args.home / "warehouse.duckdb").exists():
        sys.exit(f"No warehouse in {args.home}: run bench/national_scale.py first.")
    port = _free_port()
    env = {**os.environ, "OBSERVATOIRE_HOME": str(args.home)}
    # pages kept on disk by an earlier run would be cache hits here: none are kept
    shutil.rmtree(args.home / "cache" / "pages", ignore_errors=True)
    processes = ["--processus", str(args.processus)] if args.processus else []
    server = subprocess.Popen(
        [sys.executable, "-m", "observatoire.cli", "serve", "--port", str(port),
         "--threads", str(args.threads), *processes],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    baseline = raw_baseline(args.home, args.seconds)
    try:
        for _ in range(150):
            try:
                _get(base + "/api/openapi.json")
                break
            except OSError:
                time.sleep(0.2)
        counts = json.loads(urllib.request.urlopen(  # noqa: S310 (our own server)
            base + "/api/v1/marches?taille=1").read())
        buyers = json.loads(urllib.request.urlopen(  # noqa: S310 (our own server)
            base + "/api/v1/acheteurs?taille=1").read())["total"]
        suppliers = json.loads(urllib.request.urlopen(  # noqa: S310 (our own server)
            base + "/api/v1/titulaires?taille=1").read())["total"]
        for name, (path, target) in CASES.items():
            # warm up (connection, templates, the first read of the tables' columns)
            _get(base + path.replace("{n}", "0").replace("{q}", "x").replace("{w}", "x"))
            latencies = sorted(_load(base, path, args.clients, args.seconds))
            p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
            results[name] = {
                "path": path,
                "requests": len(latencies),
                "median_ms": round(statistics.median(latencies) * 1000, 1),
                "p95_ms": round(p95 * 1000, 1),
                "target_p95_ms": target,
                "met": None if target is None else p95 * 1000 <= target,
                "p95_over_raw_baseline": round(p95 * 1000 / baseline["p95_ms"], 2),
            }
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps({"contracts": counts["total"], "buyers": buyers, "suppliers": suppliers,
                      "clients": args.clients, "server_threads": args.threads,
                      "seconds_per_case": args.seconds, "machine": platform.processor()
                      or platform.machine(), "cpus": os.cpu_count(),
                      "load_average_after": os.getloadavg(),
                      "raw_baseline": baseline, "cases": results},
                     indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
