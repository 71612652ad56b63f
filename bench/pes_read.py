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
4. **Split.** The same read with ``workers=2`` (``--workers``): the file cut between
   bordereaux and read in parts side by side, each in its own process (``pes_split``).
5. **Report.** Wall time, CPU time (user + system) and peak RSS (``wait4`` of each child, its
   own processes included) of each, the ratios reader / baseline (wall and CPU: on a shared
   machine the CPU ratio is the steadier), the CPU ratio without validation, lines per CPU
   second; for the split read, its CPU (all processes), its critical path (the reader's own CPU
   plus its slowest part: what the wall time would be on an idle machine with a core per
   part) and its wall time, each against the raw count. The raw count is one process: the
   split read's wall and critical path use two cores against its one. Flat memory means the
   reader's peak RSS does not grow with the number of lines.

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

#: One compiled XSLT (libxslt) per bordereau writes its lines' values (all those of the
#: reader's blocks here, and the line number) as delimited text, which pyarrow's CSV reader makes
#: an Arrow table: no Python object per element or line. ``CELL`` is the XPath of a value:
#: ``xslt`` takes the first of each name, a lower bound of that route; ``xslt-last`` the one the
#: reader keeps (last block, last value not blank; stripping would still be left to do). Neither
#: escapes the separators (noncharacters: XSLT 1.0 cannot write the control characters CSV
#: would want), which values could hold.
XSLT = """
import io
import pyarrow as pa, pyarrow.compute as pc, pyarrow.csv as csv
BLOCKS = {
    "BlocLignePiece/InfoLignePce": ("IdLigne", "Nature", "Fonction", "Facture", "ModRegl",
                                    "TVAIntraCom", "MtHT", "MtTVA", "MtFactHT", "LibVir1",
                                    "LibVir2"),
    "BlocLignePiece/RattachPiece": ("IdPceOrig", "IdLigneOrig", "ExerRat"),
    "BlocLignePiece/LiensIdent": ("IdMarche",),
    "Tiers/InfoTiers": ("RefTiers", "IdTiers", "NatIdTiers", "CatTiers", "NatJur", "Nom",
                        "ComplNom", "Prenom", "Civilite"),
}
FS, RS = "\\ufdd0", "\\ufdd1"
names = ["line", *(n for ns in BLOCKS.values() for n in ns), "_"]
cells = "".join(f'<xsl:value-of select="{CELL.format(b=b, n=n)}"/>{FS}'
                for b, ns in BLOCKS.items() for n in ns)
# Python's whitespace (str.strip) that XML allows: "a value that is not blank"
blank = "".join(f"&#{ord(c)};" for c in map(chr, range(0x110000))
                if c.isspace() and (c >= " " or c in "\\t\\n\\r"))
transform = etree.XSLT(etree.XML(
    '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
    'xmlns:saxon="http://icl.com/saxon" extension-element-prefixes="saxon">'
    '<xsl:output method="text" encoding="UTF-8"/>'
    f'<xsl:variable name="blank" select="\\'{blank}\\'"/><xsl:template match="/*">'
    '<xsl:for-each select="Piece/LigneDePiece"><xsl:value-of select="saxon:line-number()"/>'
    f'{FS}{cells}{RS}</xsl:for-each></xsl:template></xsl:stylesheet>'))
options = (csv.ReadOptions(column_names=names, use_threads=False),
           csv.ParseOptions(delimiter="\\x1f", quote_char=False),
           csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())))
for _, el in etree.iterparse(path, events=("end",), tag="Bordereau", huge_tree=True):
    text = bytes(transform(el)).replace(FS.encode(), b"\\x1f").replace(RS.encode(), b"\\n")
    free(el)
    table = csv.read_csv(io.BytesIO(text), *options)
    n += table.num_rows
    size += sum(pc.sum(pc.utf8_length(c)).as_py() or 0 for c in table.columns[1:])
"""

#: Ways of reading the values of every line (``--extraction``): each parses the file, reads
#: every ``V`` of each line's elements and prints the line count and the total length of the
#: values read (the same for all: they read the same values). ``walk`` is the reader's own
#: (``pes_depense._line_blocks``: blocks then leaves, through lxml proxies).
EXTRACTION_COMMON = """
import sys, time
from lxml import etree
from observatoire.accounting.pes_depense import _line_blocks  # in all: same start-up
path = sys.argv[1]
LINE, PIECE = "LigneDePiece", "Piece"
def free(el):
    el.clear()
    parent = el.getparent()
    while el.getprevious() is not None:
        del parent[0]
def pieces():
    for _, el in etree.iterparse(path, events=("end",), tag=PIECE, huge_tree=True):
        yield el
        free(el)
n = size = 0
"""
EXTRACTION = {
    "walk": """
for piece in pieces():
    for line in piece.iterchildren(LINE):
        info, attach, links, tiers, _ = _line_blocks(line)
        n += 1
        size += sum(len(x) for d in (info, attach, links, tiers) for x in d.values())
""",
    # one C-level walk of the line's elements (which block a value is in is lost)
    "iter": """
for piece in pieces():
    for line in piece.iterchildren(LINE):
        n += 1
        size += sum(len(v) for e in line.iter() if (v := (e.get("V") or "").strip()))
""",
    # iterparse yielding the value elements themselves (tag= filter), freed at each pièce
    "tagged": """
WANT = ("IdLigne", "Nature", "Fonction", "Facture", "ModRegl", "TVAIntraCom", "MtHT", "MtTVA",
        "MtFactHT", "LibVir1", "LibVir2", "IdPceOrig", "IdLigneOrig", "ExerRat", "NatPceOrig",
        "IdMarche", "IdTiers", "NatIdTiers", "RefTiers", "CatTiers", "NatJur", "Nom",
        "ComplNom", "Prenom", "Civilite")
for _, el in etree.iterparse(path, events=("end",), tag=(*WANT, LINE, PIECE), huge_tree=True):
    if el.tag == LINE:
        n += 1
    elif el.tag == PIECE:
        free(el)
    elif v := (el.get("V") or "").strip():
        size += len(v)
""",
    # libxml2's SAX events into a Python target: no tree, no proxies (nothing to validate)
    "sax": """
class Target:
    inside = False
    def start(self, tag, attrib):
        global n, size
        if tag == LINE:
            self.inside = True
            n += 1
        elif self.inside and (v := (attrib.get("V") or "").strip()):
            size += len(v)
    def end(self, tag):
        if tag == LINE:
            self.inside = False
    def close(self):
        return None
parser = etree.XMLParser(target=Target(), huge_tree=True)
with open(path, "rb") as fh:
    while chunk := fh.read(1 << 20):
        parser.feed(chunk)
parser.close()
""",
    "xslt": 'CELL = "{b}/{n}/@V"\n' + XSLT,
    "xslt-last": 'CELL = "({b})[last()]/{n}[translate(@V, $blank, \'\')][last()]/@V"\n' + XSLT,
}

#: Ways of checking each pièce against the official schema (``--validation``): ``none`` only
#: parses; ``piece`` is the reader's (each finished pièce validated as a tree,
#: ``pes_schema.validate_part``); ``bordereau`` validates each finished bordereau in one call
#: (its ``BlocBordereau`` and its pièces); ``parsing`` has libxml2 validate the whole file against
#: PES_Aller.xsd while parsing it (``iterparse(schema=…)``: no second walk of the tree, but
#: its errors come without line or path, and only when the parse ends).
VALIDATION = """
import sys
from lxml import etree
from observatoire.accounting.pes_schema import (NS_DEPA, PES_V2, WRAPPER_NS, aller_schema,
                                                validate_part)
way = sys.argv[2]
schema = aller_schema()  # in all: same start-up
kwargs = {}
if way == "parsing":
    kwargs["schema"] = etree.XMLSchema(etree.parse(str(PES_V2 / "Rev0" / "PES_Aller.xsd")))
elif way == "bordereau":
    depense = (PES_V2 / "NS_Depense" / "r0" / "PES_DepenseAller.xsd").as_uri()
    schema = etree.XMLSchema(etree.XML(f'''<xs:schema targetNamespace="{WRAPPER_NS}"
      xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:depa="{NS_DEPA}">
      <xs:import namespace="{NS_DEPA}" schemaLocation="{depense}"/>
      <xs:element name="Bordereau"><xs:complexType><xs:sequence>
        <xs:element name="BlocBordereau" type="depa:TBlocBordereau" form="unqualified"/>
        <xs:element name="Piece" type="depa:TPiece" form="unqualified" maxOccurs="unbounded"/>
      </xs:sequence></xs:complexType></xs:element></xs:schema>'''))
n = 0
for _, el in etree.iterparse(sys.argv[1], events=("end",), huge_tree=True, **kwargs,
                             tag="Bordereau" if way == "bordereau" else "Piece"):
    if way in ("piece", "bordereau"):
        assert not validate_part(schema, WRAPPER_NS, el)
    n += 1
    el.clear()
    parent = el.getparent()
    while el.getprevious() is not None:
        del parent[0]
print(n)
"""

#: The whole reader in one process, rounds of: pièces validated one call each (the reader
#: before groups, forced by ``_bordereau_of`` finding no bordereau) then by groups, each with
#: and without the check; process CPU of each read (``--grouping``).
GROUPING = """
import sys, tempfile, time
from pathlib import Path
from observatoire.accounting import pes_depense
from observatoire.accounting.pes import ParquetSink, read_pes
from observatoire.accounting.pes_schema import aller_schema
aller_schema()  # compiled before the first read
grouped = pes_depense._bordereau_of
for _ in range(int(sys.argv[2])):
    for way in ("piece", "groups"):
        pes_depense._bordereau_of = grouped if way == "groups" else lambda el: None
        for validate in (True, False):
            with tempfile.TemporaryDirectory() as tmp, ParquetSink(Path(tmp)) as sink:
                start = time.process_time()
                read_pes(Path(sys.argv[1]), sink=sink, validate=validate)
                print(way, validate, time.process_time() - start, flush=True)
"""


def grouping(path: Path, repeats: int) -> None:
    """CPU of the reader validating its pièces one call each or by groups, ``repeats`` rounds
    in one process, against the raw count."""
    raw_cpu = run(BASELINE, str(path))[1]
    print(f"raw count {raw_cpu:.2f} s CPU")
    print(f"{'pièces':>8} {'check':>6} {'CPU s':>6} {'× raw':>6}")
    for line in run(GROUPING, str(path), str(repeats))[3].splitlines():
        way, validate, cpu = line.split()
        print(f"{way:>8} {validate == 'True'!s:>6} {float(cpu):>6.2f} "
              f"{float(cpu) / raw_cpu:>6.2f}")


def validation(path: Path, repeats: int) -> None:
    """CPU of each way of checking the pièces against the schema, against the raw count, and
    what the check adds to the parse alone, per line."""
    lines = int(run(BASELINE, str(path))[3])
    print(f"{'way':>9} {'CPU s':>6} {'× raw':>6} {'check µs/line':>13}")
    for _ in range(repeats):
        raw_cpu = run(BASELINE, str(path))[1]
        print(f"{'raw':>9} {raw_cpu:>6.2f} {1:>6.1f}")
        parse_cpu = 0.0
        for way in ("none", "piece", "bordereau", "parsing"):
            cpu = run(VALIDATION, str(path), way)[1]
            parse_cpu = parse_cpu or cpu
            print(f"{way:>9} {cpu:>6.2f} {cpu / raw_cpu:>6.1f} "
                  f"{(cpu - parse_cpu) / lines * 1e6:>13.2f}", flush=True)


def extraction(path: Path, repeats: int) -> None:
    """CPU of each way of reading the values, against the raw count, ``repeats`` times (each
    child imports the reader, so that start-ups are alike; the raw count does not: its
    ratio's denominator is the baseline of the other figures)."""
    print(f"{'way':>9} {'CPU s':>6} {'× raw':>6} {'values':>12}")
    for _ in range(repeats):
        _, raw_cpu, _, counted = run(BASELINE, str(path))
        print(f"{'raw':>9} {raw_cpu:>6.2f} {1:>6.1f}")
        for name, body in EXTRACTION.items():
            _, cpu, _, out = run(EXTRACTION_COMMON + body + "print(n, size)", str(path))
            lines, size = out.split()
            assert int(lines) == int(counted), (name, lines, counted)
            print(f"{name:>9} {cpu:>6.2f} {cpu / raw_cpu:>6.1f} {int(size):>12,}", flush=True)


READER = """
import sys
from pathlib import Path
from observatoire.accounting.pes import ParquetSink, read_pes
workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
# split whatever the size (the reader splits from 64 MiB); workers left out when 1: older
# readers (a "before" source) lack it
split = {"workers": workers, "split_from_bytes": 0} if workers > 1 else {}
with ParquetSink(Path(sys.argv[2])) as sink:
    result = read_pes(Path(sys.argv[1]), sink=sink, validate=sys.argv[3] == "validate", **split)
assert result.reconciles and result.status == "loaded", (result.counts(), result.codes())
parts_cpu = getattr(result, "parts_cpu", [])
print(result.records_in, getattr(result, "parts", 1), max(parts_cpu, default=0.0),
      sum(parts_cpu))
"""


def run(code: str, *args: str, src: str | None = None) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system, the child's own processes included), peak RSS
    bytes (of the largest of them) and output of a child (``src``: the project's source it
    imports, instead of the inherited PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": src} if src else None
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            env=env)
    out = proc.stdout.read().decode().strip() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status:
        raise SystemExit(f"child failed ({status}): {out}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, out


def read(path: Path, out: Path, validate: bool, workers: int,
         src: str | None = None) -> dict[str, float]:
    """Run the reader in a child: wall, CPU (its part processes included), the critical path
    (the reader's own CPU plus its slowest part: the wall time on an idle machine with as
    many cores as parts), peak RSS, lines and parts."""
    wall, cpu, rss, out_text = run(READER, str(path), str(out),
                                   "validate" if validate else "no", str(workers), src=src)
    lines, parts, slowest, parts_cpu = out_text.split()
    return {"wall": wall, "cpu": cpu, "rss": rss, "lines": int(lines), "parts": int(parts),
            "path": cpu - float(parts_cpu) + float(slowest)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--workers", type=int, default=2,
                        help="processes of the split read (the last columns)")
    parser.add_argument("--extraction", type=int, metavar="REPEATS",
                        help="instead, compare ways of reading the values (lxml proxies, "
                             "iter, tag= filters, a SAX target, XSLT) on a file of the first "
                             "size")
    parser.add_argument("--validation", type=int, metavar="REPEATS",
                        help="instead, compare the schema check of each pièce (the reader's) "
                             "with libxml2's validation while parsing, on a file of the first "
                             "size")
    parser.add_argument("--grouping", type=int, metavar="REPEATS",
                        help="instead, the reader validating its pièces one call each or by "
                             "groups, in one process, on a file of the first size")
    args = parser.parse_args()
    if args.extraction or args.validation or args.grouping:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pes.xml"
            generate(path, args.lines[0])
            if args.extraction:
                extraction(path, args.extraction)
            elif args.validation:
                validation(path, args.validation)
            else:
                grouping(path, args.grouping)
        return
    print(f"{'lines':>10} {'MB':>5} {'raw s':>6} {'raw CPU':>7} {'raw RSS':>7} {'read s':>7} "
          f"{'read CPU':>8} {'read RSS':>8} {'wall ×':>6} {'CPU ×':>6} {'lines/CPU s':>11} "
          f"{'no-XSD CPU ×':>12} {'split s':>7} {'split CPU ×':>11} {'split path ×':>12} "
          f"{'split wall ×':>12} {'split RSS':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for lines in args.lines:
            path = Path(tmp) / f"pes-{lines}.xml"
            generate(path, lines)
            raw_s, raw_cpu, raw_rss, counted = run(BASELINE, str(path))
            one = read(path, Path(tmp) / f"out-{lines}", True, 1)
            fast = read(path, Path(tmp) / f"fast-{lines}", False, 1)
            split = read(path, Path(tmp) / f"split-{lines}", True, args.workers)
            assert int(counted) == one["lines"] == fast["lines"] == split["lines"] == lines
            print(f"{lines:>10,} {path.stat().st_size / 1e6:>5.0f} {raw_s:>6.2f} "
                  f"{raw_cpu:>7.2f} {raw_rss / 1e6:>7.0f} {one['wall']:>7.2f} "
                  f"{one['cpu']:>8.2f} {one['rss'] / 1e6:>8.0f} {one['wall'] / raw_s:>6.1f} "
                  f"{one['cpu'] / raw_cpu:>6.1f} {lines / one['cpu']:>11,.0f} "
                  f"{fast['cpu'] / raw_cpu:>12.1f} {split['wall']:>7.2f} "
                  f"{split['cpu'] / raw_cpu:>11.1f} {split['path'] / raw_cpu:>12.1f} "
                  f"{split['wall'] / raw_s:>12.1f} {split['rss'] / 1e6:>9.0f}")
            path.unlink()


if __name__ == "__main__":
    main()
