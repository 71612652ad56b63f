#!/usr/bin/env python3
"""Page latency and throughput of the public site on a built warehouse.

Run it from the project root after ``bench/national_scale.py`` built its warehouse::

    .venv/bin/python bench/web_latency.py --home bench/out/home-1000000

It starts ``observatoire serve`` on that data home (a separate process, as in production), warms
each page once, then sends requests from ``--clients`` concurrent clients for ``--seconds`` per
page and prints, per page, the median and 95th percentile latency and the throughput. Pages are
kept on disk until the warehouse changes (emptied at the start of each run), so a repeated URL
measures that cache; the
"sans cache" lines change a parameter the page ignores at each request (the first page of the
filter is computed every time), or ask for a different deep page. Targets (issue 4):
p95 ≤ 100 ms for the barometer, ≤ 300 ms for a filtered explorer page.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PAGES = {
    "baromètre": ("/", 100),
    "baromètre, sans cache": ("/?n={n}", 100),
    "explorateur filtré": ("/marches/?annee=2019&procedure=Proc%C3%A9dure+adapt%C3%A9e"
                           "&tri=montant", 300),
    "explorateur, texte libre": ("/marches/?texte=travaux&annee=2018", 300),
    # A parameter the page ignores (``n``) changes at every request, so the page cache never
    # answers: the first page of each filter, computed every time.
    "explorateur filtré, sans cache": ("/marches/?annee=2019&procedure=Proc%C3%A9dure+adapt"
                                        "%C3%A9e&tri=montant&n={n}", 300),
    "explorateur PME, sans cache": ("/marches/?categorie=PME&n={n}", 300),
    "explorateur département du titulaire, sans cache": ("/marches/?departement=35&n={n}", 300),
    "explorateur texte libre, sans cache": ("/marches/?texte=travaux&n={n}", 300),
    # every request a different deep page (2 to 401) of a large result
    "explorateur PME, pages 2 à 401, sans cache": ("/marches/?categorie=PME&page={n}", None),
    "indicateur": ("/indicateurs/marches-pme/?ventilation=buyer&periode=2019", None),
    "API marchés": ("/api/v1/marches?categorie=PME&taille=50", None),
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


def _load(url: str, clients: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    counter = iter(range(1_000_000, 0, -1))

    def client() -> None:
        while time.perf_counter() < stop:
            with lock:
                n = next(counter)
            elapsed = _get(url.replace("{n}", str(n % 400 + 2) if "page=" in url else str(n)))
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, default=ROOT / "bench" / "out" / "home-1000000")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
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
    try:
        for _ in range(100):
            try:
                _get(base + "/api/openapi.json")
                break
            except OSError:
                time.sleep(0.2)
        contracts = json.loads(urllib.request.urlopen(  # noqa: S310 (our own server)
            base + "/api/v1/marches?taille=1").read())["total"]
        results = {}
        for name, (path, target) in PAGES.items():
            _get(base + path.replace("{n}", "1"))  # warm up (connection, templates)
            latencies = sorted(_load(base + path, args.clients, args.seconds))
            p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
            results[name] = {
                "path": path,
                "requests": len(latencies),
                "median_ms": round(statistics.median(latencies) * 1000, 1),
                "p95_ms": round(p95 * 1000, 1),
                "per_second": round(len(latencies) / args.seconds, 1),
                "target_p95_ms": target,
                "met": None if target is None else p95 * 1000 <= target,
            }
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps({"contracts": contracts, "clients": args.clients,
                      "server_threads": args.threads, "pages": results},
                     indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
