#!/usr/bin/env python3
"""Incremental build at national scale: a daily file of 2,000 records into a million contracts.

Run it from the project root::

    .venv/bin/python bench/incremental_scale.py --contracts 1000000

It reuses the input of ``bench/national_scale.py`` (``bench/out/decp-<N>/``, generated there
the same way when missing: copies of the real demo records), and in a fresh data home
``bench/out/incremental-home-<N>/``:

1. ingests the reference files (untimed) and the input, then runs ``observatoire build
   --complet`` (timed: the full build's time, the denominator);
2. writes a daily file of ``--daily`` records (default 2,000) in the 2019 list layout:
   ``--changed`` (default 500) records already in the input published again with another amount
   (same buyer, same id: the copy of replica 0, amount + 1,000 €), and the rest new contracts
   (copies of the real records under a copy tag the input does not use);
3. ingests it and runs ``observatoire build`` (timed: incremental, unless it says why not).

Target (issue 15): daily ingest + incremental build ≤ 10 % of the full build's time, both
measured in this run. Wall and CPU times (user + system, with the children) are given; the
step timings come from the build log (``build --json``). ``--check`` then runs ``build
--complet`` again and compares every table with ``EXCEPT ALL`` both ways (as
``tests/test_incremental.py`` does; slow at a million contracts). Results go to
``bench/out/incremental-<N>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import national_scale as ns  # noqa: E402


def daily_file(path: Path, records: int, changed: int, width: int, replicas: int) -> None:
    """The daily file (see the module): ``changed`` existing contracts, the rest new."""
    templates = [t for t in ns.load_templates() if t.layout == "2019"]
    out: list[Any] = []
    first = ns.base36(0, width)
    for template in templates:
        if len(out) == changed:
            break
        rec = orjson.loads(ns.make_copy(template, first, 0))
        amount = rec.get("montant")
        if rec.get("id") is None or not isinstance(amount, (int, float)) or amount <= 0:
            continue
        rec["montant"] = amount + 1000
        out.append(rec)
    new_tag = ns.base36(replicas, width)  # a copy number the input does not use
    days = (replicas * ns.DATE_STEP_DAYS) % ns.DATE_SPAN_DAYS
    for template in templates:
        if len(out) == records:
            break
        out.append(orjson.loads(ns.make_copy(template, new_tag, days)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps({"marches": out}))


def build_json(measured: ns.Measured) -> dict[str, Any]:
    text = measured.output
    return dict(json.loads(text[text.index("{"):]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contracts", type=int, default=1_000_000)
    parser.add_argument("--file-records", type=int, default=50_000)
    parser.add_argument("--daily", type=int, default=2_000)
    parser.add_argument("--changed", type=int, default=500)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--memory-limit", default="1500MB")
    parser.add_argument("--indicators-patch-min", type=int, default=None,
                        help="OBSERVATOIRE_INDICATORS_PATCH_MIN_CONTRACTS of the builds "
                        "(0: the indicator step always patched; default: the setting's)")
    parser.add_argument("--check", action="store_true",
                        help="then build --complet and compare every table")
    args = parser.parse_args()
    out = ROOT / "bench" / "out"
    folder = out / f"decp-{args.contracts}"
    manifest = ns.generate(folder, args.contracts, args.file_records)
    home = out / f"incremental-home-{args.contracts}"
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    env = ns.child_env(home, args.threads, args.memory_limit)
    env["PYTHONPATH"] = str(ROOT / "src")
    if args.indicators_patch_min is not None:
        env["OBSERVATOIRE_INDICATORS_PATCH_MIN_CONTRACTS"] = str(args.indicators_patch_min)
    cli = [sys.executable, "-m", "observatoire.cli"]
    logs = out / f"incremental-run-{args.contracts}"
    logs.mkdir(exist_ok=True)

    def step(name: str, *argv: str) -> ns.Measured:
        print(f"… {name}", flush=True)
        measured = ns.run_measured([*cli, *argv], env, logs / f"{name}.log")
        if measured.returncode:
            sys.exit(f"{name} failed: {ns.last_message(measured.output)}")
        return measured

    step("ingest-references", "ingest", str(ROOT / "demo" / "data" / "ref"))
    ingest_all = step("ingest", "ingest", *(str(folder / g) for g in ("2019", "2024")))
    full = step("build-complet", "build", "--complet", "--json")
    # the copy tags' width, as the generator chose it
    width = max(2, math.ceil(math.log(manifest["replicas"] + 1, 36)))
    daily = out / f"incremental-daily-{args.contracts}" / "quotidien-0001.json"
    daily_file(daily, args.daily, args.changed, width, manifest["replicas"])
    ingest_daily = step("ingest-daily", "ingest", str(daily))
    incremental = step("build-incremental", "build", "--json")
    full_json, inc_json = build_json(full), build_json(incremental)
    result: dict[str, Any] = {
        "contracts": args.contracts, "daily": args.daily, "changed": args.changed,
        "machine": ns.machine(),
        "ingest_all": {"wall": round(ingest_all.seconds, 2),
                       "cpu": round(ingest_all.cpu_seconds, 2)},
        "full_build": {"wall": round(full.seconds, 2), "cpu": round(full.cpu_seconds, 2),
                       "peak_mb": round(ns.mb(full.peak_rss))},
        "daily_ingest": {"wall": round(ingest_daily.seconds, 2),
                         "cpu": round(ingest_daily.cpu_seconds, 2)},
        "incremental_build": {"wall": round(incremental.seconds, 2),
                              "cpu": round(incremental.cpu_seconds, 2),
                              "peak_mb": round(ns.mb(incremental.peak_rss)),
                              "mode": inc_json.get("mode"),
                              "mode_reason": inc_json.get("mode_reason")},
        # per step: wall and CPU seconds (the build log's)
        "full_steps": {s["name"]: [s["seconds"], s["cpu_seconds"]] for s in full_json["steps"]},
        "incremental_steps": {s["name"]: [s["seconds"], s["cpu_seconds"]]
                              for s in inc_json["steps"]},
    }
    steps_cpu = {name: sum(s["cpu_seconds"] for s in doc["steps"]
                           if s["name"] != "indicateurs")
                 for name, doc in (("full", full_json), ("incremental", inc_json))}
    # what the indicator step, computed whole, leaves to the rest
    result["ratio_cpu_steps_without_indicators"] = round(
        steps_cpu["incremental"] / sum(s["cpu_seconds"] for s in full_json["steps"]), 3)
    in_service = ingest_daily.seconds + incremental.seconds
    in_service_cpu = ingest_daily.cpu_seconds + incremental.cpu_seconds
    result["ratio_wall"] = round(in_service / full.seconds, 3)
    result["ratio_cpu"] = round(in_service_cpu / full.cpu_seconds, 3)
    if args.check:
        warehouse = home / "warehouse.duckdb"
        kept = logs / "incremental.duckdb"
        shutil.copyfile(warehouse, kept)
        step("build-check", "build", "--complet", "--json")
        from tests.test_incremental import differences

        # the same data home: the complete build adds its own row to the builds' history
        found = differences(kept, warehouse)
        found.pop("quality_builds", None)
        found.pop("build_info", None)  # its build id
        result["differences_with_complete"] = found
        kept.unlink()
    (out / f"incremental-{args.contracts}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in ("full_steps", "machine")},
                     indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
