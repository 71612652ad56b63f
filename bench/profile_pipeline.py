#!/usr/bin/env python3
"""Where the time of ``observatoire ingest`` and ``observatoire build`` goes.

A companion of ``national_scale.py`` (run that first: it leaves generated inputs and data homes
under ``bench/out/``). Two modes::

    # cProfile of the ingestion of one file into a throw-away data home: top functions
    .venv/bin/python bench/profile_pipeline.py ingest bench/out/decp-200000/2019/aife-0001.json

    # a build of an existing data home, timing every SQL statement it runs
    .venv/bin/python bench/profile_pipeline.py build --home bench/out/home-200000
    # the same for an incremental build (a file ingested into the home since its last build),
    # with the statements' count and time per build step
    .venv/bin/python bench/profile_pipeline.py build --incremental --by-step \
        --home bench/out/home-200000

``--git-ref REF`` profiles the code of a commit (as extracted by ``national_scale.py
--git-ref``, under ``bench/out/code-<sha>/src``) instead of the working tree.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import inspect
import pstats
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def use_code(ref: str | None) -> None:
    """Import ``observatoire`` from the snapshot of ``ref`` if given (before any import of it)."""
    if ref is None:
        return
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
                         capture_output=True, text=True, check=True).stdout.strip()
    src = OUT / f"code-{sha[:12]}" / "src"
    if not src.exists():
        raise SystemExit(f"{src} is missing: run national_scale.py --git-ref {ref} first")
    sys.path.insert(0, str(src))


class RssSampler(threading.Thread):
    """The process's resident memory, sampled every 20 ms: its peak since the last reset (the
    kernel's high-water mark only ever grows, so it cannot tell one statement from the next)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self._process = psutil.Process()

    def reset(self) -> None:
        self.peak = self._process.memory_info().rss

    def run(self) -> None:
        while True:
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.02)


SAMPLER = RssSampler()
#: The step of each statement of the log (its ``TimedConnection.step``), in the same order.
STEPS: list[str] = []


class TimedConnection:
    """A DuckDB connection that logs each ``execute`` / ``executemany``: its duration, the CPU
    time of the process meanwhile (all DuckDB threads) and the process's peak resident memory
    while it ran (sampled, MB)."""

    #: Print each statement as it ends (``--stream``), not only the summary at the end.
    stream = False

    #: The label of the build step running (``build(on_step=…)``), for ``--by-step``.
    step = "(avant les étapes)"

    def __init__(self, con: Any, log: list[tuple[float, float, float, str]]) -> None:
        self._con = con
        self._log = log

    def _timed(self, method: str, sql: str, *args: Any) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        SAMPLER.reset()
        try:
            result = getattr(self._con, method)(sql, *args)
        except Exception:
            print(f"FAILED after {time.perf_counter() - started:.1f} s "
                  f"(resident peak {SAMPLER.peak / 1e6:,.0f} MB): {' '.join(sql.split())[:300]}")
            raise
        peak_mb = SAMPLER.peak / 1e6
        entry = (time.perf_counter() - started, time.process_time() - cpu, peak_mb,
                 " ".join(sql.split())[:100])
        self._log.append(entry)
        STEPS.append(TimedConnection.step)
        if self.stream:
            print(f"  {entry[0]:>7.1f} s {entry[1]:>6.1f} s CPU {peak_mb:>7,.0f} MB  {entry[3]}",
                  flush=True)
        return result

    def execute(self, sql: str, *args: Any) -> Any:
        return self._timed("execute", sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        return self._timed("executemany", sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _on_step(label: str) -> None:
    TimedConnection.step = label


def profile_build(home: Path, top: int, incremental: bool = False,
                  by_step: bool = False) -> None:
    import duckdb

    from observatoire.config import Settings
    from observatoire.landing.catalog import Catalog

    if importlib.util.find_spec("observatoire.build") is not None:
        from observatoire.build import build
    else:  # a commit before the declared pipeline (--git-ref)
        from observatoire.model.build import build  # type: ignore[no-redef]

    log: list[tuple[float, float, float, str]] = []
    connect = duckdb.connect

    def timed_connect(*args: Any, **kwargs: Any) -> Any:
        return TimedConnection(connect(*args, **kwargs), log)

    duckdb.connect = timed_connect  # type: ignore[assignment]
    settings = Settings.from_env(home)
    started, started_cpu = time.perf_counter(), time.process_time()
    SAMPLER.start()
    # the complete build (the reference), when this code can build incrementally, unless
    # ``incremental``: the build ``observatoire build`` runs (incremental when it can be)
    complete = "complete" in inspect.signature(build).parameters and not incremental
    steps = {"on_step": _on_step} if "on_step" in inspect.signature(build).parameters else {}
    summary = (build(settings, complete=True, **steps) if complete
               else build(settings, **steps))
    ended, ended_cpu = time.perf_counter(), time.process_time()
    print(f"Build of {home}: {ended - started:.1f} s ({ended_cpu - started_cpu:.1f} s CPU), "
          f"{summary.tables.get('contracts', 0):,} contracts, "
          f"{getattr(summary, 'mode', 'complet')}")
    # the step timings the build wrote into the build log of the catalog
    steps = (Catalog(settings.catalog_path).build_steps(summary.build_id)
             if hasattr(Catalog, "build_steps") else [])
    if not steps:
        print("  (no step timings: this code's build log does not record them)")
    for s in steps:
        rows = "" if s["rows"] is None else f"  {s['rows']:>12,} rows"
        print(f"  step {s['label']:<52} {s['seconds']:>7.1f} s  {s['cpu_seconds']:>7.1f} s CPU"
              f"{rows}")
    if by_step:
        # statements per step (the checkpoint and the end of the build under the last step)
        grouped: dict[str, list[float]] = {}
        for (seconds, cpu, _, _), label in zip(log, STEPS, strict=True):
            count, wall, spent = grouped.get(label, [0, 0.0, 0.0])
            grouped[label] = [count + 1, wall + seconds, spent + cpu]
        print("Statements per step (count, wall ms, CPU ms):")
        for label, (count, wall, spent) in grouped.items():
            print(f"  {int(count):>5} {wall * 1000:>9.1f} {spent * 1000:>9.1f}  {label}")
    print(f"Top {top} SQL statements ({sum(s for s, _, _, _ in log):.1f} s in execute; "
          "wall, CPU, cores used):")
    for seconds, cpu, _, sql in sorted(log, reverse=True)[:top]:
        print(f"  {seconds:>7.1f} s {cpu:>6.1f} s {cpu / max(seconds, 1e-9):>4.1f}  {sql}")
    print(f"Top {top} statements by peak resident memory while they ran (sampled):")
    for seconds, _, peak_mb, sql in sorted(log, key=lambda e: e[2], reverse=True)[:top]:
        print(f"  {peak_mb:>7,.0f} MB  ({seconds:.1f} s)  {sql}")


def profile_ingest(path: Path, top: int) -> None:
    from observatoire.config import Settings
    from observatoire.connectors.ingest import ingest

    home = OUT / "profile-ingest-home"
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings.from_env(home)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    outcomes = ingest(settings, [path])
    profiler.disable()
    seconds = time.perf_counter() - started
    records = sum(o.load.records for o in outcomes)
    print(f"Ingest of {path}: {seconds:.1f} s under cProfile, {records:,} records")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--git-ref", help="profile the snapshot of this commit")
    parser.add_argument("--top", type=int, default=25, help="lines to show (default 25)")
    sub = parser.add_subparsers(dest="mode", required=True)
    ing = sub.add_parser("ingest", help="cProfile the ingestion of one file")
    ing.add_argument("path", type=Path)
    bld = sub.add_parser("build", help="time every SQL statement of a build")
    bld.add_argument("--home", type=Path, required=True, help="an ingested data home")
    bld.add_argument("--incremental", action="store_true",
                     help="the build as `observatoire build` runs it (incremental when it can "
                     "be: ingest a file into the home first), not `build --complet`")
    bld.add_argument("--by-step", action="store_true",
                     help="the statements' count, wall and CPU milliseconds per build step")
    bld.add_argument("--stream", action="store_true",
                     help="print each statement as it ends (wall, CPU, resident peak)")
    args = parser.parse_args(argv)
    use_code(args.git_ref)
    if args.mode == "ingest":
        profile_ingest(args.path.resolve(), args.top)
    else:
        TimedConnection.stream = args.stream
        profile_build(args.home.resolve(), args.top, args.incremental, args.by_step)


if __name__ == "__main__":
    main()
