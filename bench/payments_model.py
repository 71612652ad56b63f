#!/usr/bin/env python3
"""Benchmark of the payments model (issue 16): read + model + rules + indicators against a raw
lxml count of the same PES file, and memory against size.

Run it from the project root with the project's virtual environment::

    .venv/bin/python bench/payments_model.py                     # 100,000 and 400,000 lines
    .venv/bin/python bench/payments_model.py --lines 1000000

What it does, in one run, for each size:

1. **Input.** The synthetic PES Dépense Aller of ``bench/pes_read.py`` (bordereaux of 500
   pièces of 1 to 3 lines, an ``IdMarche`` among 900 on one line in three).
2. **Baseline.** The raw lxml ``iterparse`` count of ``pes_read.py``, in a child process.
3. **Reader.** ``read_pes`` to Parquet (as ``pes_read.py``), in a child process: once in one
   process, once split in ``--workers`` parts read side by side (``pes_split``; the model
   reads the latter's rows).
4. **Model.** In a child process, on a DuckDB file: 900 synthetic DECP contracts of the
   buyer (each held by the suppliers the generator gives it) and one synthetic PES Retour
   payment per line (made in SQL before the clock starts), DuckDB's ``memory_limit`` set
   (``--memory``, 1GB by default: it spills beyond), then ``build_payments``,
   ``payment_findings`` and ``compute_payment_indicators``. The child times these steps itself
   (process CPU, DuckDB's threads included) and reports its peak RSS.
5. **Report.** CPU seconds of each part, the ratios model / raw and (reader + model) / raw —
   the issue's target is ingest + link + indicators ≤ 3 × raw — in CPU (all processes and
   threads: what one core would take), then the split read's critical path (its own CPU plus
   its slowest part) plus the model's CPU against the raw count's CPU (a bound of the elapsed
   time on an idle 2-core machine: the model counted as if on one core; the raw count uses
   one core), then the wall times measured (inflated on a shared machine), and peak RSS.
"""

from __future__ import annotations

import argparse
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
        DATE '2026-01-01' AS estimated_end_date
    FROM range(900) t(i)\"\"\")
con.execute(\"\"\"CREATE TABLE contract_holders AS
    SELECT '12345678912345' || printf('2024M%05d', s % 900) AS uid,
        '9' || printf('%013d', s) AS holder_id, 'SIRET:9' || printf('%013d', s) AS supplier_key,
        true AS is_current
    FROM range(1, 5001) t(s)\"\"\")
# the references the indicators read (B02, E03): empty, as in a build without SIRENE and COG
con.execute("CREATE TABLE suppliers (supplier_key VARCHAR, siret VARCHAR, category VARCHAR, "
            "region_code VARCHAR, departement_code VARCHAR)")
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
indicators_start = time.process_time()
try:  # the territory (E03) arrived after some of the codes a run may compare
    compute_payment_indicators(con, [("region", "53")])
except TypeError:
    compute_payment_indicators(con)
indicators_cpu = time.process_time() - indicators_start
cpu, wall = time.process_time() - start, time.perf_counter() - wall
linked = con.execute("SELECT count(*) FILTER (WHERE contract_uid IS NOT NULL), count(*) "
                     "FROM payments").fetchone()
print(f"{cpu} {wall} {linked[0]} {linked[1]} {indicators_cpu}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--memory", default="1GB", help="DuckDB memory_limit of the model")
    parser.add_argument("--workers", type=int, default=2, help="processes of the split read")
    parser.add_argument("--before", metavar="SRC",
                        help="also read (one process) and model with the project's source at "
                             "SRC (e.g. an older commit's src/), in the same run")
    args = parser.parse_args()
    print(f"{'lines':>10} {'code':>6} {'raw s':>6} {'raw CPU':>7} {'read CPU':>8} "
          f"{'split CPU':>9} {'split path':>10} {'model CPU':>9} {'model s':>7} "
          f"{'model RSS':>9} {'model ×':>7} {'(read+model) CPU ×':>18} "
          f"{'(split+model) CPU ×':>19} {'(path+model CPU) ×':>18} {'wall ×':>6} "
          f"{'linked':>8} {'indicators CPU':>14}")
    codes = [("before", args.before), ("after", None)] if args.before else [("after", None)]
    with tempfile.TemporaryDirectory() as tmp:
        for lines in args.lines:
            folder = Path(tmp) / str(lines)
            folder.mkdir()
            path = folder / "pes.xml"
            generate(path, lines)
            raw_s, raw_cpu, _, counted = run(BASELINE, str(path))
            reads = {code: read(path, folder / f"one-{code}", True, 1, src)
                     for code, src in codes}
            split = read(path, folder / "out", True, args.workers)
            assert int(counted) == split["lines"] == lines, (counted, lines)
            assert all(r["lines"] == lines for r in reads.values())
            path.unlink()
            for code, src in codes:  # the model of each code on the same rows
                _, _, model_rss, out = run(MODEL, str(folder), args.memory, src=src)
                cpu_text, wall_text, linked, rows, indicators_cpu = out.splitlines()[-1].split()
                model_cpu, model_s = float(cpu_text), float(wall_text)
                assert int(rows) == lines, (rows, lines)
                one = reads[code]
                if code == "before":
                    split_cpu = split_path = split_total = "—"
                    path_ratio = wall_ratio = "—"
                else:
                    split_cpu, split_path = f"{split['cpu']:.2f}", f"{split['path']:.2f}"
                    split_total = f"{(split['cpu'] + model_cpu) / raw_cpu:.1f}"
                    path_ratio = f"{(split['path'] + model_cpu) / raw_cpu:.1f}"
                    wall_ratio = f"{(split['wall'] + model_s) / raw_s:.1f}"
                print(f"{lines:>10,} {code:>6} {raw_s:>6.2f} {raw_cpu:>7.2f} "
                      f"{one['cpu']:>8.2f} {split_cpu:>9} {split_path:>10} {model_cpu:>9.2f} "
                      f"{model_s:>7.2f} {model_rss / 1e6:>9.0f} {model_cpu / raw_cpu:>7.1f} "
                      f"{(one['cpu'] + model_cpu) / raw_cpu:>18.1f} {split_total:>19} "
                      f"{path_ratio:>18} {wall_ratio:>6} {int(linked):>8,} "
                      f"{float(indicators_cpu):>14.2f}", flush=True)


if __name__ == "__main__":
    main()
