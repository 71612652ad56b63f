#!/usr/bin/env python3
"""CPU time of the uncached explorer and its API, in process, over ``bench/load.py``'s draws.

What a request of the explorer costs the server, whatever the machine's load: the CPU time of
this process (its threads and DuckDB's included, ``time.process_time``) for each request sent
through Django's test client, uncached (each URL carries a parameter the pages ignore, ``n``,
so the page cache never answers). The requests are drawn as ``bench/load.py`` draws the
explorer's and the API's (one to three random filters: year, procedure, holder category,
département, free text, minimum amount, buyer name; a random sort, sometimes a page 2–20), in
the same proportions (30 : 12), plus the explorer's ``.json`` and ``.csv`` twins with
``--twins``. A few requests warm the process first (the warehouse opened, the templates read,
the facets' cube computed: what a server does once), untimed.

    .venv/bin/python bench/explorer_cpu.py --home bench/out/home-1000000 --requests 150

To compare two versions of the code in the same run (the machine's load moves between runs),
give their ``src`` folders: each round runs every version once in its own process, on the same
requests, and the rounds alternate the versions; the bodies of the answers are compared too
(a hash per request, a JSON answer's keys sorted: the same rows, counts and order)::

    git archive <commit> src | tar -x -C /tmp/before
    .venv/bin/python bench/explorer_cpu.py --home H --compare /tmp/before/src src --rounds 2

With ``--mix``, the requests are ``bench/load.py``'s whole mix instead (explorer, API, name
lists, suggestions, buyer, supplier and contract pages, indicators, barometer…), on
identifiers read through the API as it reads them, sent as it sends them: a URL drawn twice is
answered by the page cache the second time, as in the load test. ``--profile FILE`` writes a
cProfile (CPU time) of the timed requests.

It prints JSON: per kind of request, the mean and the percentiles of the CPU time and of the
wall time, and the mean CPU over all requests.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from load import _explorer_query, mix, sample_ids  # noqa: E402


def _unseen(path: str, n: object, name: str = "n") -> str:
    """``path`` with a parameter the pages ignore (``n``), so that the page cache never
    answers."""
    return path + ("&" if "?" in path else "?") + urllib.parse.urlencode({name: str(n)})


def mix_draws(seed: int, count: int, ids: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(kind, path) of ``count`` requests of ``bench/load.py``'s whole mix, as it sends them:
    a path drawn twice is served by the page cache the second time, as in the load test."""
    r = random.Random(seed)
    return [mix(r, ids) for _ in range(count)]


def draws(seed: int, count: int, twins: bool) -> list[tuple[str, str]]:
    """(kind, path) of ``count`` requests, as ``bench/load.py`` draws the explorer's and the
    API's (weights 30 : 12), and with ``twins`` the explorer's ``.json`` and ``.csv``."""
    r = random.Random(seed)
    kinds = ["explorateur", "API marchés"] + (["explorateur .json", "explorateur .csv"]
                                              if twins else [])
    weights = [30, 12] + ([6, 3] if twins else [])
    out = []
    for n in range(count):
        kind = r.choices(kinds, weights=weights)[0]
        query = _explorer_query(r)
        if kind == "API marchés":
            query.pop("tri", None)
            query["taille"] = "50"
        path = {"explorateur": "/marches/", "API marchés": "/api/v1/marches",
                "explorateur .json": "/marches.json",
                "explorateur .csv": "/marches.csv"}[kind]
        out.append((kind, _unseen(path + "?" + urllib.parse.urlencode(query), n)))
    return out


def _percentile(values: list[float], share: float) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(len(s) * share) - 1))]


def measure(home: Path, requests: list[tuple[str, str]] | None, warm: int,
            seed: int = 17, count: int = 0, profile: Path | None = None) -> dict[str, Any]:
    """Send ``requests`` (None: ``count`` of ``bench/load.py``'s whole mix, on identifiers read
    through the API) through Django's test client in this process: CPU and wall time of
    each, and a hash of each body (the ignored ``n`` taken out of it). With ``profile``, a
    cProfile of the timed requests (CPU time) is written there."""
    os.environ["OBSERVATOIRE_HOME"] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatoire.web.settings")
    import django

    django.setup()
    from django.test import Client

    import observatoire

    shutil.rmtree(home / "cache" / "pages", ignore_errors=True)
    client = Client()
    if requests is None:
        ids = sample_ids(lambda path: json.loads(client.get(path).content), random.Random(seed))
        requests = mix_draws(seed, count, ids)
    for _kind, path in requests[:warm]:  # untimed: what a server does once
        client.get(_unseen(path, 1, "warm"))
    by_kind: dict[str, dict[str, list[float]]] = {}
    hashes = []
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    for kind, path in requests:
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(path)
        body = response.content
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code}")
        n = path.rsplit("&n=", 1)[1] if "&n=" in path else None
        if response["Content-Type"].startswith("application/json"):
            # the same data whatever the order of an object's keys (a facet's counts)
            body = json.dumps(json.loads(body), sort_keys=True).encode()
        if n is not None:
            body = body.replace(f"n={n}".encode(), b"")
        hashes.append(hashlib.sha256(body).hexdigest()[:16])
        times = by_kind.setdefault(kind, {"cpu": [], "wall": []})
        times["cpu"].append(cpu)
        times["wall"].append(wall)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    shutil.rmtree(home / "cache" / "pages", ignore_errors=True)
    every = [x for t in by_kind.values() for x in t["cpu"]]
    return {
        "code": str(Path(observatoire.__file__).parents[1]),
        "requests": len(requests),
        "cpu_mean_ms": round(statistics.fmean(every) * 1000, 1),
        "by_kind": {k: {"requests": len(t["cpu"]),
                        "cpu_mean_ms": round(statistics.fmean(t["cpu"]) * 1000, 1),
                        "cpu_median_ms": round(statistics.median(t["cpu"]) * 1000, 1),
                        "cpu_p95_ms": round(_percentile(t["cpu"], 0.95) * 1000, 1),
                        "wall_median_ms": round(statistics.median(t["wall"]) * 1000, 1),
                        "wall_p95_ms": round(_percentile(t["wall"], 0.95) * 1000, 1)}
                    for k, t in sorted(by_kind.items())},
        "hashes": hashes,
        "paths": [path for _kind, path in requests],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, default=ROOT / "bench" / "out" / "home-1000000")
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--warm", type=int, default=5, help="untimed requests first")
    parser.add_argument("--twins", action="store_true",
                        help="also the explorer's .json and .csv twins")
    parser.add_argument("--mix", action="store_true",
                        help="bench/load.py's whole mix instead of the explorer's requests")
    parser.add_argument("--profile", type=Path,
                        help="write a cProfile of the timed requests (CPU time) there")
    parser.add_argument("--compare", nargs="+", type=Path, metavar="SRC",
                        help="src folders of the versions to compare, in this order")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--hashes", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (args.home / "warehouse.duckdb").exists():
        sys.exit(f"No warehouse in {args.home}: run bench/national_scale.py first.")
    requests = None if args.mix else draws(args.seed, args.requests, args.twins)
    if not args.compare:
        result = measure(args.home, requests, args.warm, args.seed, args.requests,
                         args.profile)
        if not args.hashes:
            del result["hashes"], result["paths"]
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    runs: list[dict[str, Any]] = []
    for round_number in range(args.rounds):
        order = args.compare if round_number % 2 == 0 else args.compare[::-1]
        for src in order:
            command = [sys.executable, __file__, "--home", str(args.home), "--requests",
                       str(args.requests), "--seed", str(args.seed), "--warm", str(args.warm),
                       "--hashes"] + (["--twins"] if args.twins else []) + (
                           ["--mix"] if args.mix else [])
            env = {**os.environ, "PYTHONPATH": str(src.resolve())}
            out = subprocess.run(command, env=env, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{src}: {out.stderr[-3000:]}")
            run = json.loads(out.stdout)
            run["round"] = round_number + 1
            runs.append(run)
            print(f"round {round_number + 1}, {src}: {run['cpu_mean_ms']} ms of CPU a request",
                  file=sys.stderr)
    first = {src: next(r for r in runs if r["code"] == str(src.resolve()))
             for src in args.compare}
    reference = dict(first[args.compare[0]])
    for run in runs:
        if run.pop("paths") != reference["paths"]:
            sys.exit(f"{run['code']}: other requests than {reference['code']}'s")
        differ = [reference["paths"][i] for i, (a, b) in enumerate(
            zip(reference["hashes"], run.pop("hashes"), strict=True)) if a != b]
        run["bodies_differing_from_first"] = len(differ)
        run["differing_examples"] = differ[:5]
    print(json.dumps(runs, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
