"""What an accounting reader returns: the staging tables of one file, its findings, and the
counts that show nothing was lost (records in = kept + set aside).

Findings use the project's severity vocabulary (``bloquant``, ``avertissement``,
``information``) and its naming of codes, the one of the quality rules' ids: upper-case English
words, prefixed by the reader (``PES_…``, ``CHORUS_…``, ``CHORUS_PRO_…``, ``EXPORT_…``); the
messages are in French. Each says what, where (file, line, column), why, and what to do. A record
set aside keeps its raw text in its finding, so that nothing read is dropped unsaid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa


@dataclass(frozen=True)
class Finding:
    """One thing a reader noticed, in French for the user."""

    code: str  # stable identifier, e.g. CHORUS_LINE_SET_ASIDE
    severity: str  # bloquant | avertissement | information
    message: str
    where: str
    hint: str
    line: int | None = None
    column: str | None = None  # CSV column, or XML element (PES)
    raw_value: str | None = None
    #: The record concerned, in words (PES: « bordereau n° …, pièce n° …, ligne n° … »).
    record: str | None = None
    #: Technical detail for whoever debugs the file (PES: the schema validator's own message).
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "where": self.where,
            "hint": self.hint,
            "line": self.line,
            "column": self.column,
            "raw_value": self.raw_value,
            "record": self.record,
            "detail": self.detail,
        }


@dataclass
class ReadResult:
    """One file read: its format, staging tables by name, findings and counts."""

    path: Path
    file_hash: str
    format: str  # machine id, e.g. chorus-dp
    label: str  # French description of the layout
    tables: dict[str, pa.Table] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    #: Data records met after the header (blank lines are not records).
    records_in: int = 0
    kept: int = 0
    set_aside: int = 0

    @property
    def reconciles(self) -> bool:
        """Records in = kept + set aside."""
        return self.records_in == self.kept + self.set_aside

    @property
    def status(self) -> str:
        """loaded, partial (some records set aside) or rejected (none kept)."""
        if self.records_in and not self.kept:
            return "rejected"
        return "partial" if self.set_aside else "loaded"

    def counts(self) -> dict[str, int]:
        return {"records_in": self.records_in, "kept": self.kept, "set_aside": self.set_aside}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


#: Where a reader may hand its rows batch by batch instead of holding them: (table, batch).
BatchSink = Callable[[str, pa.RecordBatch], None]


class TableBuilder:
    """Collects the rows of one staging table into Arrow batches as they come.

    Without a sink the batches make the result's table (a big file is held as columns, not as
    millions of Python dicts); with one, each batch goes to the sink as soon as it is full and
    memory stays flat whatever the file's size.
    """

    BATCH = 20_000

    def __init__(self, name: str, schema: pa.Schema, sink: BatchSink | None = None) -> None:
        self.name = name
        self.schema = schema
        self.sink = sink
        #: Rows as dicts (``append``) or as tuples in the schema's column order
        #: (``append_values``), never both in one builder.
        self.rows: list[Any] = []
        self.batches: list[pa.RecordBatch] = []

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.BATCH:
            self.flush()

    def append_values(self, values: tuple[Any, ...]) -> None:
        """A row as a tuple of the schema's columns in order: no dict per row, and the batch is
        built column by column (about twice as fast as from dicts, for the hottest readers)."""
        self.rows.append(values)
        if len(self.rows) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        if isinstance(self.rows[0], tuple):
            columns = zip(*self.rows, strict=True)
            batch = pa.RecordBatch.from_arrays(
                [pa.array(column, type=f.type) for column, f in zip(columns, self.schema,
                                                                     strict=True)],
                schema=self.schema)
        else:
            batch = pa.RecordBatch.from_pylist(self.rows, schema=self.schema)
        self.rows = []
        if self.sink is None:
            self.batches.append(batch)
        else:
            self.sink(self.name, batch)

    def finish(self, result: ReadResult) -> None:
        """The last batch out; without a sink, the table into ``result.tables``."""
        self.flush()
        if self.sink is None:
            result.tables[self.name] = pa.Table.from_batches(self.batches, schema=self.schema)
