"""A large PES Dépense file read in parts side by side, one process per part.

The file is cut between bordereaux (right after a ``</Bordereau>`` of its ``PES_DepenseAller``),
so that no bordereau, pièce or line is shared by two parts. Each part is parsed as a document
of its own: the first is the file's start closed after its last bordereau; the others are the
file's prologue up to the root's start tag, ``<PES_DepenseAller>``, their bytes, and (but for
the last) the closing tags. A part's process reads it with the same :class:`DepenseReader` and
writes its rows to a temporary Arrow file; this process then puts the parts together in file
order: positions and line numbers shifted by what the earlier parts held, findings in the same
order and capped the same way, the file-wide counts (tiers, pièces without DGP, cancellations
without attachment) and end-of-file findings made once from the parts' sums.

Whatever the parts cannot tell alone makes the file be read in one go instead, so that the
result is always the one of a single read: a part that does not parse (a truncated file, or a
cut that fell in a comment), a bordereau met in two parts (``PES_DUPLICATE_BATCH``), a header
met again after the first part, or a bare carriage return (the line numbers would differ).
"""

from __future__ import annotations

import dataclasses
import io
import re
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, BinaryIO, cast

import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from observatoire.accounting.pes_common import (
    BatchCheck,
    PesResult,
    Reporter,
    RowWriter,
    v,
    where_of,
)
from observatoire.accounting.result import BatchSink, Finding
from observatoire.accounting.staging import PAYMENT_LINES

#: Below this size a file is read in one go (starting the processes would cost more).
SPLIT_FROM_BYTES = 64 * 1024 * 1024
#: Elements that only the first part may meet (the file's header).
HEADER = frozenset({"Enveloppe", "EnTetePES", "EnTeteDepense"})
_BATCH_END = b"</Bordereau>"
_ROOT = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?PES_Aller)[\s>]")


@dataclass(frozen=True)
class Part:
    """Bytes ``start``–``end`` of the file (``end`` None: to its end), read after ``prefix``
    and before ``suffix``."""

    index: int
    start: int
    end: int | None
    prefix: bytes
    suffix: bytes
    #: The header's values, for the parts after the first (which do not contain it).
    buyer_id: str | None = None
    budget_code: str | None = None


@dataclass
class PartRead:
    """What one part gave: counts, findings (line numbers of the part), the reader's
    file-wide tallies, and where its rows are."""

    rows_path: str
    rows: int
    newlines: int
    lone_cr: bool
    result: PesResult
    seen: dict[str, int]
    met: set[str]
    batch_keys: set[tuple[int | None, str | None, str | None]]
    tiers: set[tuple[str | None, ...]]
    position: int
    no_dgp: int
    first_no_dgp: int | None
    no_tiers: int
    unlinked_cancellations: list[str]
    recette_pieces: int
    attachments: int
    #: CPU seconds the part cost its process (start-up included for a process's first
    #: part), for the benchmark.
    cpu: float = 0.0


def plan(path: Path, parts: int) -> list[Part] | None:
    """Where to cut the file into about ``parts`` parts of equal size; None when it cannot be
    cut (one bordereau, no ``PES_DepenseAller``, an encoding that is not ASCII-compatible).

    The file is searched by reads of bounded size, not through a memory map: the pages of a
    map that a search touched count in the process's resident memory (5 GB at 10 million
    lines), while pages read into a buffer stay in the system's cache."""
    with path.open("rb") as fh:
        begin = _find(fh, b"<PES_DepenseAller", 0)
        end = _find(fh, b"</PES_DepenseAller>", begin) if begin >= 0 else -1
        if begin < 0 or end < begin:
            return None
        fh.seek(0)
        head = fh.read(begin)
        root = _ROOT.search(head)
        if root is None:
            return None
        root_end = head.find(b">", root.end() - 1)
        if root_end < 0:
            return None
        cuts: list[int] = []
        for i in range(1, parts):
            at = _find(fh, _BATCH_END, max(begin + (end - begin) * i // parts,
                                           cuts[-1] if cuts else begin))
            if at < 0 or at > end:
                break
            cut = at + len(_BATCH_END)
            if not cuts or cut > cuts[-1]:
                cuts.append(cut)
    if not cuts:
        return None
    # The header's values (buyer, budget) for the parts that do not contain it.
    try:
        header = etree.fromstring(head + b"</" + root.group(1) + b">",
                                  etree.XMLParser(resolve_entities=False, no_network=True,
                                                  huge_tree=True))
    except etree.XMLSyntaxError:
        return None
    found = [el for el in header if el.tag == "EnTetePES"]
    buyer, budget = (v(found[-1], "IdColl"), v(found[-1], "CodBud")) if found else (None, None)
    # Later parts start on line 1 of their own: their prologue has no line break.
    prefix = re.sub(rb"[\r\n]", b" ", head[:root_end + 1]) + b"<PES_DepenseAller>"
    close = b"</PES_DepenseAller></" + root.group(1) + b">"
    starts, stops = [0, *cuts], [*cuts, None]
    return [Part(i, start, stop, b"" if i == 0 else prefix, close if stop is not None else b"",
                 buyer, budget)
            for i, (start, stop) in enumerate(zip(starts, stops, strict=True))]


def _find(fh: BinaryIO, needle: bytes, start: int) -> int:
    """The offset of the first ``needle`` at or after ``start`` in ``fh``; -1 when none."""
    fh.seek(start)
    at, tail, over = start, b"", len(needle) - 1
    while data := fh.read(1 << 20):
        found = (tail + data[:over]).find(needle)  # across the previous read's end
        if found >= 0:
            return at - len(tail) + found
        found = data.find(needle)
        if found >= 0:
            return at + found
        tail = data[-over:]
        at += len(data)
    return -1


class _PartBytes(io.RawIOBase):
    """The bytes of one part, as lxml reads a file; counts the line breaks of the file's own
    bytes (a bare carriage return, which would shift line numbers, is noted)."""

    def __init__(self, path: Path, part: Part) -> None:
        super().__init__()
        self.fh = path.open("rb")
        self.fh.seek(part.start)
        self.left = None if part.end is None else part.end - part.start
        self.pending = [part.prefix, None, part.suffix]  # None: the file's bytes
        self.newlines = 0
        self.cr = self.crlf = 0
        self.cr_at_end = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = size if size and size > 0 else 1 << 16
        while self.pending:
            head = self.pending[0]
            if head is None:
                want = size if self.left is None else min(size, self.left)
                data = self.fh.read(want) if want else b""
                if data:
                    if self.left is not None:
                        self.left -= len(data)
                    self._count(data)
                    return data
                self.pending.pop(0)
                continue
            if head:
                self.pending[0] = head[size:]
                return head[:size]
            self.pending.pop(0)
        return b""

    def _count(self, data: bytes) -> None:
        self.newlines += data.count(b"\n")
        if self.cr_at_end and data.startswith(b"\n"):
            self.crlf += 1
        cr = data.count(b"\r")
        if cr:
            self.cr += cr
            self.crlf += data.count(b"\r\n")
        self.cr_at_end = data.endswith(b"\r")

    def close(self) -> None:
        self.fh.close()
        super().close()


#: CPU seconds this process had spent when its last part was read (a process may read two).
_CPU_BEFORE = 0.0


def read_part(path: Path, file_hash: str, validate: bool, encoding: str | None, part: Part,
              rows_path: str) -> PartRead:
    """Read one part (in a process of its own): rows to ``rows_path`` (Arrow IPC)."""
    from observatoire.accounting.pes import FORMATS, read_elements
    from observatoire.accounting.pes_depense import DepenseReader

    fmt, label = FORMATS["pes_depense"]
    result = PesResult(path, file_hash, fmt, label, flow="pes_depense")
    report = Reporter(result, validate)
    source = _PartBytes(path, part)
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.OSFile(rows_path, "wb") as out, \
            pa.ipc.new_file(out, PAYMENT_LINES, options=options) as ipc:
        writer = RowWriter("payment_lines", PAYMENT_LINES,
                           lambda _name, batch: ipc.write_batch(batch))
        reader = DepenseReader(result, report, writer)
        if part.index:
            reader.buyer_id, reader.budget_code = part.buyer_id, part.budget_code
        read_elements(path, "pes_depense", reader, report, encoding,
                      lambda: cast(BinaryIO, source))
        writer.finish(result)
    global _CPU_BEFORE  # per process: what its earlier parts cost
    cpu, _CPU_BEFORE = time.process_time() - _CPU_BEFORE, time.process_time()
    return PartRead(rows_path, writer.count, source.newlines, source.cr != source.crlf,
                    result, dict(report.seen), reader.met, reader.batch_keys, reader.tiers,
                    reader.position, reader.no_dgp, reader.first_no_dgp, reader.no_tiers,
                    reader.unlinked_cancellations, reader.recette_pieces, reader.attachments,
                    cpu)


def read_split(path: Path, result: PesResult, report: Reporter, encoding: str | None,
               sink: BatchSink | None, workers: int) -> bool:
    """Read ``path`` in parts side by side into ``result`` (and ``sink``); False, with
    ``result`` and ``sink`` untouched, when it must be read in one go instead."""
    parts = plan(path, workers)
    if parts is None:
        return False
    with tempfile.TemporaryDirectory(prefix="pes-parts-") as tmp:
        rows = [str(Path(tmp) / f"part-{p.index}.arrow") for p in parts]
        try:
            with ProcessPoolExecutor(min(workers, len(parts)),
                                     mp_context=get_context("spawn")) as pool:
                done = list(pool.map(read_part, [path] * len(parts),
                                     [result.file_hash] * len(parts),
                                     [report.validate] * len(parts), [encoding] * len(parts),
                                     parts, rows))
        except Exception:  # a process lost (memory…): one read says it all
            return False
        if not _mergeable(done):
            return False
        _merge(done, result, report, sink)
    result.parts = len(parts)
    result.parts_cpu = [part.cpu for part in done]
    return True


def _mergeable(done: list[PartRead]) -> bool:
    keys: set[Any] = set()
    for i, part in enumerate(done):
        if part.result.state is not None or part.lone_cr:
            return False  # broken XML (truncated file, odd cut) or bare CR: one read says it
        if i and part.met & HEADER:
            return False
        if keys & part.batch_keys:
            return False  # a bordereau met twice, in two parts
        keys |= part.batch_keys
    return True


def _merge(done: list[PartRead], result: PesResult, report: Reporter,
           sink: BatchSink | None) -> None:
    from observatoire.accounting.pes_depense import DepenseReader

    tally = DepenseReader(result, report, RowWriter("payment_lines", PAYMENT_LINES, sink))
    lines = position = kept_rows = 0
    batches: list[pa.RecordBatch] = []
    for part in done:
        got = part.result
        for finding in got.findings:
            if finding.code == "PES_SIGNED" and result.signed:
                continue  # said once per file
            report.keep(_shifted(finding, lines, result.path))
        for code, n in got.findings_not_listed.items():
            report.count_unlisted(code, n)
        result.signed |= got.signed
        result.revision = got.revision if "EnTeteDepense" in part.met else result.revision
        result.records_in += got.records_in
        result.kept += got.kept
        result.duplicates += got.duplicates
        result.set_aside += got.set_aside
        result.bordereaux += got.bordereaux
        result.pieces += got.pieces
        result.batches.extend(dataclasses.replace(b, line=b.line + lines) if lines else b
                              for b in got.batches)
        tally.tiers |= part.tiers
        tally.no_dgp += part.no_dgp
        if tally.first_no_dgp is None and part.first_no_dgp is not None:
            tally.first_no_dgp = part.first_no_dgp + lines
        tally.no_tiers += part.no_tiers
        tally.unlinked_cancellations.extend(part.unlinked_cancellations)
        tally.recette_pieces += part.recette_pieces
        tally.attachments += part.attachments
        with pa.OSFile(part.rows_path) as source:  # read into memory: the file goes
            for i in range((reader := pa.ipc.open_file(source)).num_record_batches):
                batch = _shift_rows(reader.get_batch(i), position, lines)
                kept_rows += batch.num_rows
                if sink is None:
                    batches.append(batch)
                else:
                    sink("payment_lines", batch)
        position += part.position
        lines += part.newlines
    tally.finish()
    result.rows["payment_lines"] = kept_rows
    if sink is None:
        result.tables["payment_lines"] = pa.Table.from_batches(batches, schema=PAYMENT_LINES)


def _shifted(finding: Finding, lines: int, path: Path) -> Finding:
    """A part's finding with its line in the file."""
    if not lines or finding.line is None:
        return finding
    line = finding.line + lines
    return dataclasses.replace(finding, line=line, where=where_of(path, line, finding.record))


def _shift_rows(batch: pa.RecordBatch, position: int, lines: int) -> pa.RecordBatch:
    """A part's rows with their position and line in the whole file."""
    columns = list(batch.columns)
    if position:
        at = PAYMENT_LINES.get_field_index("position")
        columns[at] = pc.add(columns[at], position)
    if lines:
        at = PAYMENT_LINES.get_field_index("line")
        columns[at] = pc.add(columns[at], lines)
    return pa.RecordBatch.from_arrays(columns, schema=PAYMENT_LINES)


__all__ = ["SPLIT_FROM_BYTES", "BatchCheck", "Part", "PartRead", "plan", "read_part",
           "read_split"]
