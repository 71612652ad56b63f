#!/usr/bin/env python3
"""The indicator step of an incremental build, after a small file, on a copy of a data home.

Copies the data home ``HOME`` (left untouched) to ``--work``, ingests one new file into the
copy and runs ``observatoire build`` (incremental), then prints one JSON line: the build's mode,
whether the indicator step was patched or computed whole (and why), the step's CPU (user +
system of the process, DuckDB's threads included) and wall seconds, the whole build's, and the
load average. The settings come from the environment, as the CLI's (``OBSERVATOIRE_PROFILE``,
``OBSERVATOIRE_INDICATORS_PATCH_MIN_CONTRACTS``…). The file is either::

    # one record of the demo under a new id (the freshness benchmark's drop), demo's home
    OBSERVATOIRE_PROFILE=demonstration PYTHONPATH=src .venv/bin/python \\
        bench/indicator_increment.py HOME --one-record

    # the daily file of bench/incremental_scale.py (2,000 records, 500 of them changed) of
    # the input of bench/national_scale.py (its manifest gives the copy tags)
    PYTHONPATH=src .venv/bin/python bench/indicator_increment.py HOME \\
        --daily bench/out/decp-1000000

``--top N`` also lists the N dearest SQL statements of the indicator step (CPU).
``--complete-first`` builds the copy completely first (untimed): a home built by another
version of the code (one without ``indicator_groups``) is then one of this code. ``--check``
computes the indicator step again, complete, on a copy of the result and compares every
indicator table with ``EXCEPT ALL`` both ways (the differing rows are printed as counts).

To compare two versions of the code in one run, point ``PYTHONPATH`` at each one's ``src`` in
turn (``git archive main src | tar -x -C /tmp/main``), each with its own ``--work``.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from observatoire.indicators.compute import compute
from observatoire.indicators.profile import load_profile
from observatoire.indicators.service import TABLES
from observatoire.sqlquote import identifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

#: The freshness benchmark's record (GIP Maximilien, with an amount, a CPV and a place).
SOURCE = (ROOT / "demo" / "data" / "decp" / "v2"
          / "gip-maximilien_decp-13001845000028-2024-10-06-01.json")
RECORD = "D2F2023S0302702"
#: Tables the step computes from the model (the history and the targets changed aside).
COMPARED = tuple(t for t in TABLES if t not in ("indicator_history", "indicator_target_changes"))


def one_record(path: Path) -> None:
    published = json.loads(SOURCE.read_text(encoding="utf-8"))
    one = copy.deepcopy(next(r for r in published["marches"]["marche"] if r["id"] == RECORD))
    one["id"] = f"B{time.strftime('%H%M%S')}"
    one["dateNotification"], one["datePublicationDonnees"] = "2024-06-15", "2024-06-20"
    path.write_text(json.dumps({"marches": {"marche": [one]}}, ensure_ascii=False),
                    encoding="utf-8")


def daily(path: Path, decp: Path, records: int, changed: int) -> None:
    from incremental_scale import daily_file  # a sibling script

    replicas = json.loads((decp / "manifest.json").read_text(encoding="utf-8"))["replicas"]
    width = max(2, math.ceil(math.log(replicas + 1, 36)))  # the generator's copy tags
    daily_file(path, records, changed, width, replicas)


def differences(warehouse: Path, profile: str) -> dict[str, list[int]]:
    """Rows of each indicator table not in a complete computation's, and the other way."""
    with tempfile.TemporaryDirectory(dir=warehouse.parent) as tmp:
        copied = Path(tmp) / "warehouse.duckdb"
        shutil.copyfile(warehouse, copied)
        con = duckdb.connect(str(copied))
        con.execute("SET memory_limit = '1500MB'")
        for table in COMPARED:
            con.execute(f"ALTER TABLE {identifier(table)} RENAME TO "
                        + identifier(f"patched_{table}"))
        compute(con, load_profile(profile), date.today())
        out = {}
        for table in COMPARED:
            pair = (identifier(table), identifier(f"patched_{table}"))
            counts = [con.execute(f"SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL "  # noqa: S608
                                  f"SELECT * FROM {b})").fetchall()[0][0]
                      for a, b in (pair, pair[::-1])]
            if any(counts):
                out[table] = counts
        con.close()
    return out


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("home", type=Path, help="a built data home (left untouched)")
    parser.add_argument("--work", type=Path, required=True, help="the copy (replaced)")
    drop = parser.add_mutually_exclusive_group(required=True)
    drop.add_argument("--one-record", action="store_true")
    drop.add_argument("--daily", type=Path, help="the input of bench/national_scale.py")
    parser.add_argument("--records", type=int, default=2_000)
    parser.add_argument("--changed", type=int, default=500)
    parser.add_argument("--complete-first", action="store_true")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--top", type=int, default=0)
    args = parser.parse_args()
    if args.work.exists():
        shutil.rmtree(args.work)
    shutil.copytree(args.home, args.work, symlinks=True)
    settings = Settings.from_env(args.work)
    if args.complete_first:
        build(settings, complete=True)
    path = args.work / "fichier-du-jour" / "decp.json"
    path.parent.mkdir()
    if args.one_record:
        one_record(path)
    else:
        daily(path, args.daily, args.records, args.changed)
    ingest(settings, [path])
    messages = _Messages()
    logging.getLogger("observatoire.indicators").addHandler(messages)
    logging.getLogger("observatoire.indicators").setLevel(logging.INFO)
    log: list[tuple[float, float, float, str]] = []
    marks: list[tuple[str, int]] = []
    if args.top:
        from profile_pipeline import TimedConnection  # a sibling script

        connect = duckdb.connect
        duckdb.connect = lambda *a, **k: TimedConnection(connect(*a, **k), log)  # type: ignore
    summary = build(settings, on_step=lambda label: marks.append((label, len(log))))
    duckdb.connect = connect if args.top else duckdb.connect
    step = next(t for t in summary.steps if t.name == "indicateurs")
    result = {
        "mode": summary.mode, "mode_reason": summary.mode_reason,
        "indicators": [m for m in messages.messages if m.startswith("Indicateurs")],
        "indicator_step_cpu_s": step.cpu_seconds, "indicator_step_wall_s": step.seconds,
        "build_cpu_s": round(sum(t.cpu_seconds for t in summary.steps), 3),
        "build_wall_s": round(sum(t.seconds for t in summary.steps), 3),
        "load_average": os.getloadavg(),
    }
    if args.check:
        result["differences"] = differences(settings.warehouse_path, settings.profile)
    print(json.dumps(result, ensure_ascii=False))
    if args.top:
        starts = [n for label, n in marks] + [len(log)]
        first = next(k for k, (label, _) in enumerate(marks) if label == step.label)
        statements = log[starts[first]:starts[first + 1]]
        print(f"{len(statements)} statements, {sum(s[1] for s in statements):.3f} s CPU")
        kinds: dict[str, list[float]] = {}
        for _, cpu, _, sql in statements:
            kind = kinds.setdefault(" ".join(sql.split()[:4]), [0, 0.0])
            kind[0] += 1
            kind[1] += cpu
        for kind_sql, (count, cpu) in sorted(kinds.items(), key=lambda k: -k[1][1])[:args.top]:
            print(f"{cpu:7.3f} s CPU in {count:3d} × {kind_sql}")
        for seconds, cpu, _, sql in sorted(statements, key=lambda s: -s[1])[:args.top]:
            print(f"{cpu:7.3f} s CPU {seconds:7.3f} s  {sql}")


if __name__ == "__main__":
    main()
