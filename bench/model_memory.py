#!/usr/bin/env python3
"""What each statement of the model step holds in DuckDB's memory, on an ingested data home.

Runs the complete build's steps up to ``modele.marches`` (into a throw-away warehouse file),
then every statement of that step alone, polling ``duckdb_memory()`` every 50 ms: for each
statement its wall and CPU seconds, DuckDB's peak memory with its breakdown by tag (over 20 MB)
at that peak, the process's resident peak and the size of the spill folder. ``ALLOCATOR`` is the
memory of aggregate states (lists, structs, texts) that DuckDB does not spill; ``HASH_TABLE``,
``ORDER_BY``, ``COLUMN_DATA`` and ``IN_MEMORY_TABLE`` (temporary tables) can be::

    OBSERVATOIRE_THREADS=2 OBSERVATOIRE_MEMORY_LIMIT=1500MB PYTHONPATH=src \\
        .venv/bin/python bench/model_memory.py bench/out/home-1000000

``--all``: every statement of every step of the build, not only the model's (the steps before
the model are then sampled too, and the ones after it run).

The data home's warehouse in service and build log are left as they are (a throw-away
warehouse file is written beside them, then removed).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from observatoire import pipeline as pl
from observatoire.build import core_steps, decisions, load_profile, superseded
from observatoire.config import Settings
from observatoire.landing.catalog import Catalog
from observatoire.warehouse_writer import connect_for_writing, discard


class Sampler(threading.Thread):
    """DuckDB's memory by tag at its peak, and the process's resident peak, since reset()."""

    def __init__(self, con: Any) -> None:
        super().__init__(daemon=True)
        self.monitor = con.cursor()
        self.process = psutil.Process()
        self.stopped = False
        self.reset()

    def reset(self) -> None:
        self.peak, self.tags, self.rss = 0, {}, self.process.memory_info().rss

    def run(self) -> None:
        while not self.stopped:
            rows = self.monitor.execute(
                "SELECT tag, memory_usage_bytes FROM duckdb_memory()").fetchall()
            total = sum(size for _, size in rows)
            if total > self.peak:
                self.peak, self.tags = total, {tag: size for tag, size in rows if size > 20e6}
            self.rss = max(self.rss, self.process.memory_info().rss)
            time.sleep(0.05)


def main(home: Path, every_step: bool = False) -> None:
    settings = Settings.from_env(home)
    catalog = Catalog(settings.catalog_path)
    all_loads = catalog.loads()
    replaced = superseded(all_loads)
    tmp = settings.home / "warehouse.model-memory.duckdb"
    (settings.work_dir / "duckdb").mkdir(parents=True, exist_ok=True)  # DuckDB's spill folder
    con = connect_for_writing(tmp, settings)
    ctx = pl.BuildContext(con, settings, load_profile(settings.profile),
                          [ld for ld in all_loads if ld.load_id not in replaced], 0,
                          "2000-01-01T00:00:00", all_loads=all_loads,
                          shared={pl.DECISIONS: decisions(settings)})
    sampler = Sampler(con)
    spill = settings.work_dir / "duckdb"
    #: (resident peak, DuckDB peak, wall, CPU, statement) of every statement sampled
    seen: list[tuple[float, float, float, float, str]] = []

    class Timed:
        """The build's connection, timing and sampling each statement."""

        def execute(self, sql: str, *args: Any) -> Any:
            sampler.reset()
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return con.execute(sql, *args)
            finally:
                spilled = sum(f.stat().st_size for f in spill.glob("**/*") if f.is_file())
                tags = ", ".join(f"{t} {v / 1e6:,.0f}" for t, v in sampler.tags.items())
                seen.append((sampler.rss / 1e6, sampler.peak / 1e6,
                             time.perf_counter() - started, time.process_time() - cpu,
                             f"{' '.join(sql.split())[:80]}  ({tags})"))
                print(f"{time.perf_counter() - started:7.1f} s {time.process_time() - cpu:6.1f} s "
                      f"CPU  DuckDB {sampler.peak / 1e6:6,.0f} MB ({tags})  resident "
                      f"{sampler.rss / 1e6:6,.0f} MB  spilled {spilled / 1e6:6,.0f} MB  "
                      f"{' '.join(sql.split())[:80]}", flush=True)

        def __getattr__(self, name: str) -> Any:
            return getattr(con, name)

    try:
        if every_step:
            sampler.start()
            ctx.con = Timed()  # type: ignore[assignment]
        for step in pl.order(core_steps()):
            started, cpu = time.perf_counter(), time.process_time()
            if step.name == "modele.marches" and not every_step:
                sampler.start()
                ctx.con = Timed()  # type: ignore[assignment]
                step.run(ctx)
                break
            if every_step:
                print(f"step {step.name}", flush=True)
            step.run(ctx)
            print(f"step {step.name}: {time.perf_counter() - started:.1f} s, "
                  f"{time.process_time() - cpu:.1f} s CPU", flush=True)
    finally:
        sampler.stopped = True
        if sampler.is_alive():
            sampler.join()
        con.close()
        discard(tmp)
        print("Top 15 statements by resident peak (MB; DuckDB's peak, wall, CPU):")
        for rss, duck, wall, cpu_s, what in sorted(seen, reverse=True)[:15]:
            print(f"  {rss:7,.0f}  {duck:7,.0f}  {wall:7.1f} s {cpu_s:6.1f} s  {what}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), "--all" in sys.argv[2:])
