#!/usr/bin/env python3
"""Benchmark of the PES Dépense reader: time against a raw lxml count, and memory against size.

Run it from the project root with the project's virtual environment::

    .venv/bin/python bench/pes_read.py                       # 100,000 and 400,000 lines
    .venv/bin/python bench/pes_read.py --lines 1000000 4000000

What it does, in one run, for each size:

1. **Input.** Generates a **synthetic** PES Dépense Aller (ISO-8859-1, like the DGFiP sample it
   copies the envelope of): bordereaux of 500 pièces, each pièce of 1 to 3 lines with their
   tiers (fictitious « FOURNISSEUR SYNTHETIQUE n » with 14-digit fake SIRETs), a DGP block on
   one pièce in two, an ``IdMarche`` on one line in three.
2. **Baseline.** A raw lxml ``iterparse`` of the file that counts the ``LigneDePiece`` elements
   and clears each pièce (the cheapest way to merely walk the file), in a child process.
3. **Reader.** ``read_pes`` of the same file with a ``ParquetSink`` (rows to Parquet as they
   come, XSD validation of every pièce included: the default), in a child process; then the
   same with ``validate=False``, to show what the schema check costs.
4. **Report.** Wall time, CPU time (user + system) and peak RSS (``wait4`` of each child) of
   both, the ratios reader / baseline (wall and CPU: on a shared machine the CPU ratio is the
   steadier), the CPU ratio without validation, and lines per CPU second. Flat memory means
   the reader's peak RSS does not grow with the number of lines.

The issue's target (10 million lines: ingest + link + indicators ≤ 3 × the raw count) covers
steps this reader does not do yet (link, indicators); the figures here are the reader's share.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAD = """<?xml version="1.0" encoding="ISO-8859-1"?>
<n:PES_Aller xmlns:n="http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller">
 <Enveloppe><Parametres><Version V="2"/><TypFic V="PESALR2"/><NomFic V="SYNTHETIQUE"/>\
</Parametres></Enveloppe>
 <EnTetePES><DteStr V="2024-06-09"/><IdPost V="034000"/><IdColl V="12345678912345"/>\
<CodCol V="123"/><CodBud V="12"/><LibelleColBud V="COMMUNE SYNTHETIQUE"/></EnTetePES>
 <PES_DepenseAller><EnTeteDepense><IdVer V="2"/></EnTeteDepense>
"""
TAIL = " </PES_DepenseAller>\n</n:PES_Aller>\n"


def generate(path: Path, lines: int, seed: int = 16) -> None:
    rng = random.Random(seed)
    written = piece = batch = 0
    with path.open("w", encoding="iso-8859-1") as out:
        out.write(HEAD)
        while written < lines:
            batch += 1
            pieces = []
            total = 0
            for _ in range(500):
                if written >= lines:
                    break
                piece += 1
                n = min(rng.randint(1, 3), lines - written)
                dgp = ('<DGP><Dgp V="true"/><DteDebDgp V="2024-03-01"/><DteFinDgp V="2024-03-31"/>'
                       '<DureeDgp V="30"/><CodIntMor V="01"/><TxIntMor V="8.00"/></DGP>'
                       if piece % 2 else "")
                body = []
                for line in range(1, n + 1):
                    cents = rng.randint(100, 5_000_000)
                    total += cents
                    supplier = rng.randint(1, 5000)
                    marche = (f'<LiensIdent><IdMarche V="2024M{supplier % 900:05d}"/></LiensIdent>'
                              if (piece + line) % 3 == 0 else "")
                    body.append(
                        f'<LigneDePiece><BlocLignePiece><InfoLignePce><IdLigne V="{line}"/>'
                        f'<Nature V="6068"/><Fonction V="020"/><Facture V="F{piece}-{line}"/>'
                        f'<ModRegl V="03"/><TVAIntraCom V="0"/>'
                        f'<MtHT V="{cents // 100}.{cents % 100:02d}"/></InfoLignePce>{marche}'
                        f'</BlocLignePiece><Tiers><InfoTiers><IdTiers V="9{supplier:013d}"/>'
                        f'<NatIdTiers V="01"/><RefTiers V="T{supplier}"/><CatTiers V="50"/>'
                        f'<NatJur V="03"/><Nom V="FOURNISSEUR SYNTHETIQUE {supplier}"/>'
                        f'</InfoTiers></Tiers></LigneDePiece>')
                    written += 1
                pieces.append(
                    f'<Piece><BlocPiece><InfoPce><IdPce V="{piece}"/><TypPce V="01"/>'
                    f'<NatPce V="01"/><Obj V="Achat synthétique {piece}"/></InfoPce>{dgp}'
                    f'</BlocPiece>{"".join(body)}</Piece>\n')
            out.write(
                f'  <Bordereau><BlocBordereau><Exer V="2024"/><IdBord V="{batch}"/>'
                f'<DteBordEm V="2024-03-01"/><TypBord V="01"/><NbrPce V="{len(pieces)}"/>'
                f'<MtBordHT V="{total // 100}.{total % 100:02d}"/></BlocBordereau>\n')
            out.writelines(pieces)
            out.write("  </Bordereau>\n")
        out.write(TAIL)


BASELINE = """
import sys
from lxml import etree
n = 0
for _, el in etree.iterparse(sys.argv[1], events=("end",), tag=("LigneDePiece", "Piece"),
                             huge_tree=True):
    if el.tag == "LigneDePiece":
        n += 1
    else:
        el.clear()
        parent = el.getparent()
        while el.getprevious() is not None:
            del parent[0]
print(n)
"""

READER = """
import sys
from pathlib import Path
from observatoire.accounting.pes import ParquetSink, read_pes
with ParquetSink(Path(sys.argv[2])) as sink:
    result = read_pes(Path(sys.argv[1]), sink=sink, validate=sys.argv[3] == "validate")
assert result.reconciles and result.status == "loaded", (result.counts(), result.codes())
print(result.records_in)
"""


def run(code: str, *args: str) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS bytes and output of a child."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE)
    out = proc.stdout.read().decode().strip() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status:
        raise SystemExit(f"child failed ({status}): {out}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000, 400_000])
    args = parser.parse_args()
    print(f"{'lines':>10} {'MB':>5} {'raw s':>6} {'raw CPU':>7} {'raw RSS':>7} {'read s':>7} "
          f"{'read CPU':>8} {'read RSS':>8} {'wall ×':>6} {'CPU ×':>6} {'lines/CPU s':>11} "
          f"{'no-XSD CPU ×':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for lines in args.lines:
            path = Path(tmp) / f"pes-{lines}.xml"
            generate(path, lines)
            raw_s, raw_cpu, raw_rss, counted = run(BASELINE, str(path))
            read_s, read_cpu, read_rss, read = run(READER, str(path),
                                                   str(Path(tmp) / f"out-{lines}"), "validate")
            _, fast_cpu, _, fast = run(READER, str(path), str(Path(tmp) / f"fast-{lines}"), "no")
            assert int(counted) == int(read) == int(fast) == lines, (counted, read, lines)
            print(f"{lines:>10,} {path.stat().st_size / 1e6:>5.0f} {raw_s:>6.2f} "
                  f"{raw_cpu:>7.2f} {raw_rss / 1e6:>7.0f} {read_s:>7.2f} {read_cpu:>8.2f} "
                  f"{read_rss / 1e6:>8.0f} {read_s / raw_s:>6.1f} {read_cpu / raw_cpu:>6.1f} "
                  f"{lines / read_cpu:>11,.0f} {fast_cpu / raw_cpu:>12.1f}")
            path.unlink()


if __name__ == "__main__":
    main()
