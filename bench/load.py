#!/usr/bin/env python3
"""Load test of the public site: many concurrent readers on the million-contract warehouse.

Run it from the project root after ``bench/national_scale.py`` built its warehouse::

    .venv/bin/python bench/load.py --home bench/out/home-1000000   # 50 clients, 60 s

It starts the site as the demo serves it (``observatoire serve``: gunicorn, one process per
core unless ``--processus`` says otherwise, 4 threads each, a
separate process), reads a sample of real identifiers (buyers, suppliers, contracts) through
the API, untimed, then runs ``--clients`` clients for ``--seconds``. Each client keeps one HTTP
connection and sends, one after the other without pause, a request drawn at random from a mix
of pages and API calls (``MIX``) with random filters: year, procedure, holder category,
département, free text, sort, page, buyer and supplier names, so most URLs are new to the
server's page cache (each result counts how many were first requests of their URL). The
generator runs on the same machine, in this process (threads: it waits on the sockets, the
server's work dominates). ``--think S`` makes each client pause between 0 and 2·S seconds
after each answer, as a reader does (default: no pause, the hardest case).

It prints, as JSON: requests, errors (any status other than 200, or a failed connection, with
the first few examples), the latency percentiles p50 / p95 / p99 overall and per kind of
request, and the throughput. Targets (issue 17): 0 errors, p95 ≤ 1 s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

YEARS = list(range(2013, 2026))
PROCEDURES = ["Procédure adaptée", "Appel d'offres ouvert", "Marché négocié sans publicité ni "
              "mise en concurrence préalable", "Procédure négociée avec mise en concurrence "
              "préalable", "Dialogue compétitif"]
CATEGORIES = ["PME", "ETI", "GE"]
DEPARTEMENTS = ["35", "29", "22", "56", "75", "69", "13", "33", "44", "59"]
#: words readers type: objects, CPV labels, names; with and without accents
WORDS = ["travaux", "école", "ecole", "nettoyage", "fourniture", "maintenance", "lycée",
         "restauration", "voirie", "informatique", "assurance", "bâtiment", "transport",
         "électricité", "eiffage", "colas", "rennes", "université", "mobilier", "étude",
         "l'école", "entretien des espaces verts", "travaux de voirie", "construction"]
NAMES = ["ecole", "Université", "eiffage", "région bretagne", "COLAS", "mairie", "société",
         "hopital", "lycée", "ville de lyon", "SNCF", "caisse des écoles", "commune", "eiff"]
SORTS = ["date", "montant", "montant_asc", "acheteur", "date_asc"]


def _explorer_query(r: random.Random) -> dict[str, str]:
    """One to three random filters of the explorer, a random sort and page."""
    choices = {
        "annee": lambda: str(r.choice(YEARS)),
        "procedure": lambda: r.choice(PROCEDURES),
        "categorie": lambda: r.choice(CATEGORIES),
        "departement": lambda: r.choice(DEPARTEMENTS),
        "texte": lambda: r.choice(WORDS),
        "montant_min": lambda: str(r.choice([1000, 25000, 40000, 90000, 221000])),
        "acheteur": lambda: r.choice(NAMES),
    }
    keys = r.sample(sorted(choices), r.randint(1, 3))
    q = {k: choices[k]() for k in keys}
    q["tri"] = r.choice(SORTS)
    if r.random() < 0.3:
        q["page"] = str(r.randint(2, 20))
    return q


def mix(r: random.Random, ids: dict[str, list[str]]) -> tuple[str, str]:
    """(kind, path) of one request. The weights are a guess at a public site's traffic: the
    explorer and its API first, then names, entity pages and indicators."""
    kind = r.choices(
        ["explorateur", "API marchés", "recherche de noms", "suggestions", "fiche acheteur",
         "fiche titulaire", "fiche marché", "indicateur", "baromètre", "opportunités",
         "API acheteurs"],
        weights=[30, 12, 8, 12, 8, 5, 8, 6, 4, 4, 3])[0]
    q = urllib.parse.urlencode
    if kind == "explorateur":
        return kind, "/marches/?" + q(_explorer_query(r))
    if kind == "API marchés":
        query = _explorer_query(r)
        query.pop("tri", None)
        return kind, "/api/v1/marches?" + q({**query, "taille": "50"})
    if kind == "recherche de noms":
        return kind, f"/{r.choice(['acheteurs', 'titulaires'])}/?" + q({"q": r.choice(NAMES)})
    if kind == "suggestions":
        name = r.choice(NAMES)
        typed = name[: r.randint(2, len(name))]  # as one types
        return kind, "/api/v1/suggestions?" + q(
            {"type": r.choice(["acheteur", "titulaire"]), "q": typed})
    if kind == "fiche acheteur":
        return kind, f"/acheteurs/{r.choice(ids['buyers'])}/"
    if kind == "fiche titulaire":
        return kind, f"/titulaires/{urllib.parse.quote(r.choice(ids['suppliers']), safe='')}/"
    if kind == "fiche marché":
        return kind, f"/marches/{urllib.parse.quote(r.choice(ids['contracts']), safe='')}/"
    if kind == "indicateur":
        query = {"periode": str(r.choice(YEARS[6:]))}
        if r.random() < 0.5:
            query["ventilation"] = "buyer"
        return kind, f"/indicateurs/{r.choice(ids['indicators'])}/?" + q(query)
    if kind == "baromètre":
        return kind, "/"
    if kind == "opportunités":
        return kind, "/opportunites/?" + q({"departement": r.choice(DEPARTEMENTS)})
    return kind, "/api/v1/acheteurs?" + q({"q": r.choice(NAMES)})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _json(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=120) as response:  # noqa: S310 (ours)
        return json.loads(response.read())


def sample_ids(get: Callable[[str], Any], r: random.Random) -> dict[str, list[str]]:
    """Real identifiers to ask for, read through the API (untimed); ``get`` answers a path's
    JSON."""
    indicators = [i["indicator_id"] for i in get("/api/v1/indicateurs")]
    ids: dict[str, list[str]] = {"buyers": [], "suppliers": [], "contracts": [],
                                 "indicators": indicators}
    for page in (1, 2, 3):
        ids["buyers"] += [b["buyer_siret"] for b in get(
            f"/api/v1/acheteurs?taille=100&page={page}")["elements"]]
        ids["suppliers"] += [s["siret"] or s["supplier_key"] for s in get(
            f"/api/v1/titulaires?taille=100&page={page}")["elements"]]
    for year in r.sample(YEARS[4:], 5):
        ids["contracts"] += [c["uid"] for c in get(
            f"/api/v1/marches?annee={year}&taille=100")["elements"]]
    return ids


def _percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[max(0, min(len(sorted_values) - 1,
                                    round(len(sorted_values) * share) - 1))]


def _summary(latencies: list[float]) -> dict[str, Any]:
    s = sorted(latencies)
    return {"requests": len(s), "p50_ms": round(_percentile(s, 0.50) * 1000, 1),
            "p95_ms": round(_percentile(s, 0.95) * 1000, 1),
            "p99_ms": round(_percentile(s, 0.99) * 1000, 1),
            "max_ms": round(s[-1] * 1000, 1)} if s else {"requests": 0}


def run(base: str, port: int, clients: int, seconds: float, seed: int,
        ids: dict[str, list[str]], think: float = 0.0) -> dict[str, Any]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    error_count = 0
    seen: set[str] = set()
    first_requests = 0
    lock = threading.Lock()
    start_all = threading.Event()
    stop_at = [0.0]

    def client(number: int) -> None:
        nonlocal error_count, first_requests
        r = random.Random(seed * 1000 + number)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start_all.wait()
        while time.perf_counter() < stop_at[0]:
            kind, path = mix(r, ids)
            start = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as e:
                status = -1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                detail = f"{type(e).__name__}: {e}"
            elapsed = time.perf_counter() - start
            if think:  # a reader reading: a pause drawn between 0 and twice --think
                time.sleep(r.uniform(0, 2 * think))
            with lock:
                latencies[kind].append(elapsed)
                if path not in seen:
                    seen.add(path)
                    first_requests += 1
                if status != 200:
                    error_count += 1
                    if len(errors) < 10:
                        errors.append(f"{path}: {detail if status == -1 else status}")
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start_all.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    every = [x for v in latencies.values() for x in v]
    return {
        "clients": clients, "think_seconds": think, "seconds": round(wall, 1),
        "requests": len(every), "per_second": round(len(every) / wall, 1),
        "errors": error_count, "error_examples": errors,
        "first_requests_of_their_url": first_requests,
        "all": _summary(every),
        "by_kind": {k: _summary(v) for k, v in sorted(latencies.items())},
        "target": {"errors": 0, "p95_ms": 1000},
        "met": error_count == 0 and bool(every) and _percentile(sorted(every), 0.95) <= 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, default=ROOT / "bench" / "out" / "home-1000000")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=4,
                        help="server threads per process (as served: 4)")
    parser.add_argument("--processus", type=int, default=None,
                        help="server processes (default: the server's, one per core)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean pause of a client between two requests, s (default 0)")
    args = parser.parse_args()
    if not (args.home / "warehouse.duckdb").exists():
        sys.exit(f"No warehouse in {args.home}: run bench/national_scale.py first.")
    port = _free_port()
    env = {**os.environ, "OBSERVATOIRE_HOME": str(args.home)}
    # pages kept by an earlier run would be cache hits here: every run starts without them
    shutil.rmtree(args.home / "cache" / "pages", ignore_errors=True)
    processes = ["--processus", str(args.processus)] if args.processus else []
    server = subprocess.Popen(
        [sys.executable, "-m", "observatoire.cli", "serve", "--port", str(port),
         "--threads", str(args.threads), *processes],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                _json(base, "/api/openapi.json")
                break
            except OSError:
                time.sleep(0.2)
        contracts = _json(base, "/api/v1/marches?taille=1")["total"]
        ids = sample_ids(lambda path: _json(base, path), random.Random(args.seed))
        result = run(base, port, args.clients, args.seconds, args.seed, ids, args.think)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(json.dumps({"contracts": contracts, "server_threads": args.threads,
                      "server_processes": args.processus or "one per core",
                      "machine": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "load_average_after": os.getloadavg(),
                      **result}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
