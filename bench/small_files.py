#!/usr/bin/env python3
"""Many small files: ``observatoire ingest`` of the same records as ~10,000 files vs as ~20.

Run it from the project root with the project's virtual environment::

    .venv/bin/python bench/small_files.py --records 100000

What it does, in one run:

1. **Input.** The generator of ``bench/national_scale.py`` (real demo records, replicated with
   new identifiers) writes the same ``--records`` records twice: in about ``--many`` files (the
   national per-publication layout: a few records a file) and in about ``--few`` files.
2. **Raw baseline.** Reading every byte of each folder (open, read, close): what the file system
   costs for so many files, whatever the parser.
3. **Ingest.** ``observatoire ingest --json`` of each folder into a fresh data home, as a
   subprocess of the installed CLI running this tree's code (pool start-up included),
   ``--repeats`` times alternately;
   the fastest run of each counts. Checked every time: one load-log line per file, every record
   counted, every file loaded, the sources (one per flow, not one per file).
4. **Same content twice.** The many-file folder ingested again into its data home: nothing new.
5. **Report.** Seconds, CPU seconds (the CLI and its workers: less sensitive to other work on
   a shared machine), per-file cost, the ratio many/few (target <= 1.5) and the raw ratio;
   JSON under ``--out``. ``--git-ref REF`` also ingests the first ``--ref-files`` small files
   with the code of another commit (e.g. ``main``), for a before/after per-file cost;
   ``--against REF`` ingests both layouts with REF's code too, alternately with the working
   tree's, for before/after ratios measured in the same run; ``--code REF`` measures REF's code
   instead of the working tree's (so that the tree can change while a run goes on). The load
   average is read before and after every ingest and reported (its range).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from national_scale import (  # the sibling script, put on the path just above
    CLI,
    ROOT,
    child_env,
    generate,
    run_measured,
    snapshot,
)

TARGET_RATIO = 1.5


def layouts(folder: Path) -> list[Path]:
    """The generated folders (one per DECP layout), without the generator's manifest."""
    return sorted(p for p in folder.iterdir() if p.is_dir())


def files_of(folder: Path) -> list[Path]:
    return sorted(p for layout in layouts(folder) for p in layout.rglob("*.json"))


def raw_read(folder: Path) -> float:
    started = time.perf_counter()
    for path in files_of(folder):
        with path.open("rb") as fh:
            while fh.read(1 << 20):
                pass
    return time.perf_counter() - started


def ingest(folder: Path, home: Path, threads: int, log: Path,
           code: Path | None = None) -> dict[str, Any]:
    """One ``observatoire ingest`` of ``folder`` into ``home``; its figures and checks."""
    # The installed CLI imports the main checkout's code unless told otherwise: this tree's.
    env = child_env(home, threads, "1500MB", code or ROOT / "src")
    load_before = os.getloadavg()[0]
    run = run_measured([str(CLI), "ingest", "--json", *map(str, layouts(folder))], env, log)
    if run.returncode:
        raise SystemExit(f"ingest failed (exit {run.returncode}), see {log}")
    load_after = os.getloadavg()[0]
    loads = json.loads(run.output[run.output.index("["):])
    with sqlite3.connect(home / "catalog.sqlite") as con:
        logged = con.execute("SELECT count(*), sum(records) FROM loads").fetchone()
    return {"seconds": run.seconds, "cpu_seconds": run.cpu_seconds, "peak": run.peak,
            "files": len(loads), "new": sum(ld["new"] for ld in loads),
            "records": sum(ld["records"] for ld in loads),
            "statuses": sorted({ld["status"] for ld in loads}),
            "sources": sorted({ld["source"] for ld in loads}),
            "logged_loads": logged[0], "logged_records": logged[1],
            "load_average": [load_before, load_after]}


def check(name: str, got: dict[str, Any], files: int, records: int) -> None:
    problems = []
    if got["files"] != files or got["logged_loads"] != files:
        problems.append(f"{got['files']} outcomes, {got['logged_loads']} load-log lines for "
                        f"{files} files")
    if got["records"] != records or got["logged_records"] != records:
        problems.append(f"{got['records']:,} records for {records:,}")
    if got["statuses"] != ["loaded"]:
        problems.append(f"statuses {got['statuses']}")
    if problems:
        raise SystemExit(f"{name}: " + "; ".join(problems))


def run(args: argparse.Namespace) -> dict[str, Any]:
    out = args.out.resolve()
    records = args.records
    many_dir = out / f"small-{records}-many"
    few_dir = out / f"small-{records}-few"
    generate(many_dir, records, max(1, records // args.many))
    generate(few_dir, records, max(1, records // args.few))
    many_files, few_files = len(files_of(many_dir)), len(files_of(few_dir))
    print(f"Input: {records:,} records as {many_files:,} files and as {few_files:,} files")
    raw = {"many": raw_read(many_dir), "few": raw_read(few_dir)}
    runs: dict[str, list[dict[str, Any]]] = {"many": [], "few": []}
    against = snapshot(args.against, out) if args.against else None
    tree = snapshot(args.code, out) if args.code else None
    if against is not None:
        runs.update({"ref-many": [], "ref-few": []})
    for i in range(args.repeats):
        for name, folder, files in (("many", many_dir, many_files),
                                    ("few", few_dir, few_files)):
            for label, code in (("", tree), ("ref-", against)):
                if label and against is None:
                    continue
                home = out / f"small-home-{label}{name}"
                shutil.rmtree(home, ignore_errors=True)
                print(f"Ingest {label}{name} ({files:,} files), run {i + 1}…", flush=True)
                got = ingest(folder, home, args.threads,
                             out / f"small-ingest-{label}{name}.log", code)
                check(name, got, files, records)
                runs[f"{label}{name}"].append(got)
    again = ingest(many_dir, out / "small-home-many", args.threads, out / "small-again.log",
                   tree)
    if again["new"] or again["logged_loads"] != many_files:
        raise SystemExit(f"second ingest: {again['new']} new files, "
                         f"{again['logged_loads']} load-log lines")
    best = {name: min(r["seconds"] for r in rs) for name, rs in runs.items()}
    cpu = {name: min(r["cpu_seconds"] for r in rs) for name, rs in runs.items()}
    result: dict[str, Any] = {
        "records": records, "files": {"many": many_files, "few": few_files},
        "threads": args.threads, "raw_read_seconds": raw, "runs": runs, "best": best,
        "ratio": best["many"] / best["few"], "cpu": cpu, "cpu_ratio": cpu["many"] / cpu["few"],
        "again_seconds": again["seconds"],
        "sources": runs["many"][0]["sources"], "code": args.code or "working tree",
        "load_average": [min(x for rs in runs.values() for r in rs for x in r["load_average"]),
                         max(x for rs in runs.values() for r in rs for x in r["load_average"])],
    }
    if against is not None:
        result["against"] = {
            "ref": args.against,
            "best": {n: min(r["seconds"] for r in runs[f"ref-{n}"]) for n in ("many", "few")},
            "cpu": {n: min(r["cpu_seconds"] for r in runs[f"ref-{n}"]) for n in ("many", "few")},
        }
    if args.git_ref:
        subset = out / f"small-{records}-subset-{args.ref_files}"
        if not subset.exists():
            subset.mkdir(parents=True)
            (subset / "2019").mkdir()
            for path in files_of(many_dir)[:args.ref_files]:
                shutil.copy(path, subset / "2019" / path.name)
        compared: dict[str, Any] = {"ref": args.git_ref, "files": args.ref_files}
        for label, code in (("ref", snapshot(args.git_ref, out)), ("tree", None)):
            home = out / f"small-home-subset-{label}"
            shutil.rmtree(home, ignore_errors=True)
            print(f"Ingest of {args.ref_files} small files with "
                  f"{args.git_ref if code else 'the working tree'}…", flush=True)
            compared[f"{label}_seconds"] = ingest(subset, home, args.threads,
                                                  out / f"small-subset-{label}.log",
                                                  code)["seconds"]
        result["compared"] = compared
    return result


def report(r: dict[str, Any]) -> None:
    many, few = r["files"]["many"], r["files"]["few"]
    print(f"\nSame {r['records']:,} records, {r['threads']} worker processes "
          f"(best of {len(r['runs']['many'])})")
    print(f"Raw read         {many:>6,} files {r['raw_read_seconds']['many']:7.2f} s   "
          f"{few:>3} files {r['raw_read_seconds']['few']:7.2f} s")
    print(f"Ingest           {many:>6,} files {r['best']['many']:7.2f} s   "
          f"{few:>3} files {r['best']['few']:7.2f} s")
    print(f"CPU (+ workers)  {many:>6,} files {r['cpu']['many']:7.2f} s   "
          f"{few:>3} files {r['cpu']['few']:7.2f} s   ratio {r['cpu_ratio']:.2f}")
    print(f"Per file         {1000 * r['best']['many'] / many:.1f} ms (many)   "
          f"sources of the many files: {', '.join(r['sources'])}")
    ok = r["ratio"] <= TARGET_RATIO
    print(f"Ratio many/few   {r['ratio']:.2f} (target <= {TARGET_RATIO}: "
          f"{'met' if ok else 'NOT met'})")
    print(f"Same content twice: {r['again_seconds']:.2f} s, nothing new")
    low, high = r["load_average"]
    print(f"Code measured: {r['code']}; load average (1 min) during the ingests: "
          f"{low:.1f}-{high:.1f}")
    if "against" in r:
        a = r["against"]
        print(f"Code of {a['ref']}, same run: {many:,} files {a['best']['many']:.2f} s, "
              f"{few} files {a['best']['few']:.2f} s, ratio "
              f"{a['best']['many'] / a['best']['few']:.2f}; CPU {a['cpu']['many']:.2f} s / "
              f"{a['cpu']['few']:.2f} s, ratio {a['cpu']['many'] / a['cpu']['few']:.2f}")
    if "compared" in r:
        c = r["compared"]
        print(f"{c['files']} small files, before/after: code of {c['ref']} "
              f"{c['ref_seconds']:.2f} s ({1000 * c['ref_seconds'] / c['files']:.0f} ms a "
              f"file), working tree {c['tree_seconds']:.2f} s "
              f"({1000 * c['tree_seconds'] / c['files']:.0f} ms a file)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--many", type=int, default=10_000, help="files of the small layout")
    parser.add_argument("--few", type=int, default=20, help="files of the large layout")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="worker processes of the ingest (default: all cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--git-ref", help="also ingest --ref-files small files with this commit")
    parser.add_argument("--ref-files", type=int, default=500)
    parser.add_argument("--against", help="also ingest both layouts with this commit's code, "
                        "alternately in the same run (before/after ratios)")
    parser.add_argument("--code", help="measure this commit's code instead of the working tree")
    args = parser.parse_args(argv)
    result = run(args)
    report(result)
    path = args.out.resolve() / f"small-files-{args.records}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"\nResults written to {path}")


if __name__ == "__main__":
    main()
