#!/usr/bin/env python3
"""Benchmark of the Chorus reader on a big demandes-de-paiement extract.

Run it from the project root with the project's virtual environment::

    .venv/bin/python bench/accounting_chorus.py                 # 500,000 lines
    .venv/bin/python bench/accounting_chorus.py --lines 2000000

What it does, in one run:

1. **Input.** Writes N lines in the layout of the national Chorus DP extract by cycling the 37
   **real** rows of ``tests/fixtures/accounting/chorus/dataetat_chorus_DP_…csv`` (each copy
   gets its own DP number), plus a 3-line preamble, in a temporary folder.
2. **Baseline.** The raw floor of any CSV reader in Python, in the same run: the ``csv``
   module reading the same file and counting its rows.
3. **Reader.** ``read_chorus`` of the file (detection, per-cell parsing of amounts, dates and
   numbers, findings, Arrow tables): wall time, CPU time, lines per second.
4. **Memory.** Each measure runs in a child process that reports its own peak RSS
   (``ru_maxrss``); the reader is also run on a quarter of the file, to see how the peak grows
   with the size: without a sink the reader holds the resulting tables (it grows with them);
   with a sink writing Parquet batch by batch it should stay flat.
5. **Report.** Prints the figures and the ratio reader / baseline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = (ROOT / "tests/fixtures/accounting/chorus"
          / "dataetat_chorus_DP_demandes_paiement_2024-09-26.csv")


def write_extract(path: Path, lines: int) -> None:
    header, *rows = SAMPLE.read_text(encoding="utf-8").splitlines()
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write("Extraction Chorus (banc d'essai)\nProgramme 0216\n\n")
        fh.write(header + "\n")
        for i in range(lines):
            cells = rows[i % len(rows)].split("|")
            cells[1] = f"{100_000_000 + i:010d}"  # ac_doc_no: one DP per line
            fh.write("|".join(cells) + "\n")


CHILD = {
    "baseline": """
import csv, sys
with open(sys.argv[1], encoding="utf-8", newline="") as fh:
    n = sum(1 for _ in csv.reader(fh, delimiter="|"))
print(n)
""",
    "reader": """
import sys
from pathlib import Path
from observatoire.accounting.chorus import read_chorus
r = read_chorus(Path(sys.argv[1]))
assert r.reconciles
print(r.kept)
""",
    "reader_parquet": """
import sys, tempfile
from pathlib import Path
import pyarrow.parquet as pq
from observatoire.accounting.chorus import read_chorus
writers = {}
out = Path(tempfile.mkdtemp())
def sink(name, batch):
    if name not in writers:
        writers[name] = pq.ParquetWriter(out / f"{name}.parquet", batch.schema)
    writers[name].write_batch(batch)
r = read_chorus(Path(sys.argv[1]), sink=sink)
for w in writers.values():
    w.close()
assert r.reconciles and not r.tables
print(r.kept)
""",
}


def measure(kind: str, path: Path) -> dict[str, float]:
    code = (
        "import resource, time, json, sys\n"
        "t0 = time.perf_counter(); c0 = time.process_time()\n"
        + CHILD[kind]
        + "\nprint(json.dumps({'wall': time.perf_counter() - t0, 'cpu': time.process_time() - c0,"
        " 'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True,
        cwd=ROOT,
    ).stdout.strip().splitlines()
    figures = json.loads(out[-1])
    figures["rows"] = float(out[-2])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=500_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "dp.csv", Path(tmp) / "dp_quart.csv"
        write_extract(big, args.lines)
        write_extract(small, args.lines // 4)
        size = big.stat().st_size / 1e6
        base = measure("baseline", big)
        read = measure("reader", big)
        quarter = measure("reader", small)
        streamed = measure("reader_parquet", big)
        streamed_quarter = measure("reader_parquet", small)
    print(f"file: {args.lines:,} lines, {size:.0f} MB")
    print(
        f"baseline csv.reader count: wall {base['wall']:.2f} s, CPU {base['cpu']:.2f} s, "
        f"peak RSS {base['rss_mb']:.0f} MB"
    )
    print(
        f"read_chorus: wall {read['wall']:.2f} s, CPU {read['cpu']:.2f} s, "
        f"{read['rows'] / read['wall']:,.0f} lines/s, peak RSS {read['rss_mb']:.0f} MB"
    )
    print(f"read_chorus on a quarter of the file: peak RSS {quarter['rss_mb']:.0f} MB")
    print(
        f"read_chorus with a Parquet sink: wall {streamed['wall']:.2f} s, CPU "
        f"{streamed['cpu']:.2f} s, peak RSS {streamed['rss_mb']:.0f} MB (a quarter of the "
        f"file: {streamed_quarter['rss_mb']:.0f} MB)"
    )
    print(
        f"ratio read_chorus / baseline: wall {read['wall'] / base['wall']:.1f}, "
        f"CPU {read['cpu'] / base['cpu']:.1f} (the machine is shared: CPU is the steadier)"
    )


if __name__ == "__main__":
    main()
