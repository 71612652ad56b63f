#!/usr/bin/env python3
"""Benchmark of the payments model (issue 16): read + model + rules + indicators against a raw
lxml count of the same PES file, and memory against size.

Run it from the project root with the project's virtual environment (``nice``: the machine
is shared)::

    nice -n 10 .venv/bin/python bench/payments_model.py          # 100,000 and 400,000 lines
    # the issue's size: 10,000,000 lines (5.3 GB of XML, generated under bench/out and
    # removed after), the split read only
    nice -n 10 .venv/bin/python bench/payments_model.py --lines 10000000 --no-one-process \
        --dir bench/out

What it does, in one run, for each size:

1. **Input.** The synthetic PES Dépense Aller of ``bench/pes_read.py`` (bordereaux of 500
   pièces of 1 to 3 lines, an ``IdMarche`` among 900 on one line in three), written under
   ``--dir`` (a temporary directory by default) and removed once read.
2. **Baseline.** The raw lxml ``iterparse`` count of ``pes_read.py``, in a child process.
3. **Ingest.** ``read_pes`` to Parquet (as ``pes_read.py``: XSD validation of every pièce,
   the file's sha256), in a child process, split in ``--workers`` parts read side by side
   (``pes_split``: what ``observatoire ingest`` does for a file of 64 MiB or more with
   ``OBSERVATOIRE_WORKERS`` = 2); unless ``--no-one-process``, also once in one process
   (the "one CPU ×" column: that read plus the model, against the raw count).
4. **Link and indicators.** In a child process, on a DuckDB file: 900 synthetic DECP
   contracts of the buyer (each held by the suppliers the generator gives it) and one
   synthetic PES Retour payment per line (made in SQL before the clock starts), DuckDB's
   ``memory_limit`` set (``--memory``, the build's default 1500MB), then ``build_payments``
   and ``payment_findings`` (the "link" columns: links, netting, delays, quality rules) and
   ``compute_payment_indicators`` (the "ind." columns). The child times these steps itself
   (process CPU, DuckDB's threads included; wall) and reports its peak RSS.
5. **Report.** Per size: the load average (1 minute, at the start and after the model), wall
   and CPU seconds of each step, the ingest's critical path (its own CPU plus its slowest
   part: its wall time on an idle machine with a core per part), peak RSS (the largest
   process of the ingest, of the model), the totals, and the ratios to the raw count: CPU ×
   (ingest + link + indicators, all processes and threads: what one core would take), path ×
   (the ingest's critical path plus the model's CPU: a bound of the elapsed time on an idle
   2-core machine) and wall × (as measured: inflated on a shared machine, where the raw count
   uses one core and the split read two).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pes_read import BASELINE, generate, read, run

MODEL = """
import sys, time
from pathlib import Path
import duckdb
from observatoire.model import payments
from observatoire.indicators.payments import compute_payment_indicators
folder = Path(sys.argv[1])
for old in ("bench.duckdb", "bench.duckdb.wal", "events.parquet"):  # a model run before
    (folder / old).unlink(missing_ok=True)
con = duckdb.connect(str(folder / "bench.duckdb"))  # no SIRENE reference: none masked
con.execute("SET enable_progress_bar = false")
con.execute(f"SET memory_limit = '{sys.argv[2]}'")
con.execute(\"\"\"CREATE TABLE contracts AS
    SELECT '12345678912345' || printf('2024M%05d', i) AS uid,
        '12345678912345' || printf('2024M%05d', i) AS consultation_uid,
        '12345678912345' AS buyer_siret, 1e6 AS amount, false AS advance_granted,
        CAST(NULL AS DOUBLE) AS advance_rate, DATE '2023-01-01' AS notification_date,
        DATE '2026-01-01' AS estimated_end_date, CAST(NULL AS VARCHAR) AS directorate_id
    FROM range(900) t(i)\"\"\")
con.execute(\"\"\"CREATE TABLE contract_holders AS
    SELECT '12345678912345' || printf('2024M%05d', s % 900) AS uid,
        '9' || printf('%013d', s) AS holder_id, 'SIRET:9' || printf('%013d', s) AS supplier_key,
        true AS is_current
    FROM range(1, 5001) t(s)\"\"\")
# the references the indicators read (B02, E03, buyers' places): empty (no SIRENE, no COG)
con.execute("CREATE TABLE suppliers (supplier_key VARCHAR, siret VARCHAR, category VARCHAR, "
            "region_code VARCHAR, departement_code VARCHAR)")
con.execute("CREATE TABLE buyers (buyer_siret VARCHAR, departement_code VARCHAR, "
            "region_code VARCHAR)")
con.execute("CREATE TABLE ref_sirene_categories (siren VARCHAR, category VARCHAR, "
            "is_diffusible BOOLEAN)")
con.execute("CREATE TABLE ref_sirene_establishments (siret VARCHAR, commune_code VARCHAR, "
            "is_diffusible BOOLEAN)")
con.execute("CREATE TABLE ref_communes (commune_code VARCHAR, departement_code VARCHAR, "
            "region_code VARCHAR)")
lines = str(folder / "out" / "payment_lines.parquet")
import pyarrow as pa
from observatoire.accounting.staging import PAYMENT_EVENTS
con.register("events_shape", pa.Table.from_batches([], schema=PAYMENT_EVENTS))
con.execute("CREATE TABLE events AS SELECT * FROM events_shape")
con.execute(f\"\"\"INSERT INTO events BY NAME SELECT file_hash, position, line,
        'pes_retour' AS flow, buyer_id, fiscal_year, batch_id, piece_id, line_id,
        '05' AS state, DATE '2024-03-01' + CAST(hash(piece_id) % 60 AS INTEGER) AS payment_date,
        amount_ht AS amount_paid, 'P' || piece_id AS payment_id
    FROM read_parquet('{lines}')\"\"\")
con.execute(f"COPY events TO '{folder / 'events.parquet'}' (FORMAT parquet)")
payments.attach_staging(con, {"payment_lines": [Path(lines)],
                              "payment_events": [folder / "events.parquet"]})
start, wall = time.process_time(), time.perf_counter()
payments.build_payments(con)
payments.payment_findings(con)
indicators_start, indicators_wall = time.process_time(), time.perf_counter()
try:  # the territory (E03) arrived after some of the codes a run may compare
    compute_payment_indicators(con, [("region", "53")])
except TypeError:
    compute_payment_indicators(con)
indicators_cpu = time.process_time() - indicators_start
indicators_wall = time.perf_counter() - indicators_wall
cpu, wall = time.process_time() - start, time.perf_counter() - wall
linked = con.execute("SELECT count(*) FILTER (WHERE contract_uid IS NOT NULL), count(*) "
                     "FROM payments").fetchone()
print(f"{cpu} {wall} {linked[0]} {linked[1]} {indicators_cpu} {indicators_wall}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--memory", default="1500MB",
                        help="DuckDB memory_limit of the model (the build's default: 1500MB)")
    parser.add_argument("--workers", type=int, default=2, help="processes of the split read")
    parser.add_argument("--no-one-process", action="store_true",
                        help="skip the one-process read (the split read alone: 10M lines)")
    parser.add_argument("--dir", type=Path, help="where to generate the files (default: a "
                        "temporary directory); each size's folder is removed after it")
    parser.add_argument("--before", metavar="SRC",
                        help="also read (one process, unless --no-one-process) and model with "
                             "the project's source at SRC (e.g. an older commit's src/), in the "
                             "same run; the split read (ingest columns) is this tree's for both")
    parser.add_argument("--staged", type=Path, nargs="+", metavar="FOLDER",
                        help="the model alone (link and indicators, of each code) on the staged "
                             "rows a run kept with --keep (FOLDER/out/payment_lines.parquet), "
                             "against the raw count of --raw-cpu seconds")
    parser.add_argument("--raw-cpu", type=float, help="with --staged: the raw count's CPU seconds "
                        "measured when those rows were read")
    parser.add_argument("--keep", action="store_true",
                        help="keep each size's staged rows (its folder under --dir) for --staged")
    args = parser.parse_args()
    codes = [("before", args.before), ("after", None)] if args.before else [("after", None)]
    if args.staged:
        print(f"{'folder':>30} {'code':>6} {'load':>9} {'link s':>6} {'link CPU':>8} "
              f"{'ind. s':>6} {'ind. CPU':>8} {'model RSS':>9} {'model CPU × raw':>15}")
        for folder in args.staged:
            for code, src in codes:
                load = os.getloadavg()[0]
                _, _, model_rss, out = run(MODEL, str(folder), args.memory, src=src)
                cpu, wall, _, _, ind_cpu, ind_s = map(float, out.splitlines()[-1].split())
                ratio = f"{cpu / args.raw_cpu:.2f}" if args.raw_cpu else "—"
                print(f"{str(folder)[-30:]:>30} {code:>6} {load:>4.1f}–{os.getloadavg()[0]:<4.1f} "
                      f"{wall - ind_s:>6.2f} {cpu - ind_cpu:>8.2f} {ind_s:>6.2f} {ind_cpu:>8.2f} "
                      f"{model_rss / 1e6:>9.0f} {ratio:>15}", flush=True)
        return
    print(f"{'lines':>10} {'code':>6} {'MB':>5} {'load':>9} {'raw s':>6} {'raw CPU':>7} "
          f"{'read CPU':>8} {'ingest s':>8} {'ingest CPU':>10} {'ingest path':>11} "
          f"{'ingest RSS':>10} {'link s':>6} {'link CPU':>8} {'ind. s':>6} {'ind. CPU':>8} "
          f"{'model RSS':>9} {'total s':>7} {'total CPU':>9} {'CPU ×':>5} {'path ×':>6} "
          f"{'wall ×':>6} {'one CPU ×':>9} {'linked':>9}")
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=args.dir)
    for lines in args.lines:
        folder = Path(tmp) / str(lines)
        folder.mkdir()
        path = folder / "pes.xml"
        generate(path, lines)
        megabytes = path.stat().st_size / 1e6
        load = [os.getloadavg()[0]]
        raw_s, raw_cpu, _, counted = run(BASELINE, str(path))
        reads = {} if args.no_one_process else {
            code: read(path, folder / f"one-{code}", True, 1, src) for code, src in codes}
        split = read(path, folder / "out", True, args.workers)
        assert int(counted) == split["lines"] == lines, (counted, lines)
        assert all(r["lines"] == lines for r in reads.values())
        path.unlink()
        for code, src in codes:  # the model of each code on the same rows
            _, _, model_rss, out = run(MODEL, str(folder), args.memory, src=src)
            load.append(os.getloadavg()[0])
            (cpu_text, wall_text, linked, rows, ind_cpu_text,
             ind_wall_text) = out.splitlines()[-1].split()
            model_cpu, model_s = float(cpu_text), float(wall_text)
            ind_cpu, ind_s = float(ind_cpu_text), float(ind_wall_text)
            assert int(rows) == lines, (rows, lines)
            one = reads.get(code)
            one_cpu = f"{one['cpu']:.2f}" if one else "—"
            one_ratio = f"{(one['cpu'] + model_cpu) / raw_cpu:.1f}" if one else "—"
            total_cpu, total_s = split["cpu"] + model_cpu, split["wall"] + model_s
            print(f"{lines:>10,} {code:>6} {megabytes:>5.0f} "
                  f"{min(load):>4.1f}–{max(load):<4.1f} {raw_s:>6.2f} {raw_cpu:>7.2f} "
                  f"{one_cpu:>8} {split['wall']:>8.2f} {split['cpu']:>10.2f} "
                  f"{split['path']:>11.2f} {split['rss'] / 1e6:>10.0f} "
                  f"{model_s - ind_s:>6.2f} {model_cpu - ind_cpu:>8.2f} {ind_s:>6.2f} "
                  f"{ind_cpu:>8.2f} {model_rss / 1e6:>9.0f} {total_s:>7.2f} "
                  f"{total_cpu:>9.2f} {total_cpu / raw_cpu:>5.1f} "
                  f"{(split['path'] + model_cpu) / raw_cpu:>6.1f} "
                  f"{total_s / raw_s:>6.1f} {one_ratio:>9} {int(linked):>9,}", flush=True)
        if not args.keep:
            shutil.rmtree(folder)

    if args.keep:
        print(f"staged rows kept under {tmp}/<lines>")
    else:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
