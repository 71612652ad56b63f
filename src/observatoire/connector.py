"""The connector contract: what a source kind declares to come in by the one landing loop.

A kind (DECP, a reference file, Egalim purchase lines, a supplier matrix, tomorrow a PES V2 or
Chorus flow) is one :class:`Connector`: how its files are recognised, how one file is parsed into
its versioned staging tables, the build steps it contributes, the warehouse tables it documents
and the indicator sources it makes available. The loop (:func:`observatoire.connectors.ingest.land`)
does the rest the same way for every kind: content hash, landing, load log, workers, "same
content twice changes nothing".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from observatoire.config import Settings
    from observatoire.landing.catalog import Load
    from observatoire.pipeline import Step
    from observatoire.staging.detect import Detected

#: Documented tables: name → (description, {column: description}), as in ``model/dictionary.py``.
Documented = Mapping[str, tuple[str, Mapping[str, str]]]


@dataclass(frozen=True)
class StagingTable:
    """One staging table of a kind: a Parquet file per landed file (or per batch of small files,
    under ``<folder>/lots/``, see ``Landed.collect``), under a folder that carries the table's
    version (a file staged by another version is parsed again, or refused, by the kind; never
    read as if it were current)."""

    name: str
    version: str
    #: Folder under the data home's ``staging/`` (existing data homes keep their layout).
    folder: str
    #: The Arrow schema of its rows, when the kind fixes one.
    schema: pa.Schema | None = None

    def path(self, settings: Settings, sha256: str) -> Path:
        return settings.staging_dir / self.folder / f"{sha256}.parquet"

    def to_arrow(self, rows: list[dict[str, Any]]) -> pa.Table:
        """Rows (dicts) as a table of this schema: read by pyarrow as one array of structs
        (each dict's values looked up by name in C++), half the cost of turning rows into
        columns in Python first, and several times less than its row-wise ``from_pylist``."""
        import pyarrow as pa

        assert self.schema is not None
        if not rows:
            return self.schema.empty_table()
        structs = pa.array(rows, type=pa.struct(list(self.schema)))
        return pa.Table.from_batches([pa.RecordBatch.from_struct_array(structs)], self.schema)


@dataclass
class Landed:
    """What the loop hands to a kind's ``parse``: one landed file and how the user knows it."""

    settings: Settings
    #: The landed copy (content-addressed, read-only); for a small file landed in a pack
    #: (:mod:`observatoire.landing.packs`), where the loop read it: the same bytes, checked
    #: against ``sha256``. Its name is not the content hash then: a kind that keeps something
    #: by file name keys it by ``sha256``.
    path: Path
    #: Where the loop read the file (the user's file, or an archive member decompressed in the
    #: work folder): the same bytes, for a kind whose report names the file as given.
    original: Path
    #: The file as the user gave it (an archive's member: "x.zip › y.json").
    shown: str
    sha256: str
    #: What the kind's detector found (None for a kind named explicitly that reads its own
    #: layout, such as Egalim purchase lines).
    detected: Detected | None
    #: The kind's own options (canteens, supplier…), as given to the loop.
    options: Any = None
    #: Offered by the loop when it parses many files by batches: a kind may append the rows of
    #: a small file here (by staging table name; a row is a dict of the table's columns)
    #: instead of writing a Parquet file of its own; the loop writes the batch's rows as one
    #: file per table (a file costs ~10 ms to create, more than a small file's rows) and
    #: records where each file's rows are. Only for a table with a ``schema``.
    collect: dict[str, list[dict[str, Any]]] | None = None


@dataclass
class Parsed:
    """What parsing one file gave: the figures of its load-log line, and the kind's own report
    (shown by its command; None when the load-log line says everything)."""

    status: str  # loaded | partial | rejected
    records: int = 0
    marches: int = 0
    concessions: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    format: str | None = None
    format_label: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    parser_version: str | None = None
    report: Any = None
    #: The staging tables whose rows went to ``Landed.collect`` (written by the loop).
    collected: tuple[str, ...] = ()


def no_steps() -> list[Step]:
    return []


def no_tables() -> Documented:
    return {}


@dataclass(frozen=True)
class Connector:
    """A source kind. ``kind`` is the load log's ``kind`` column: stable, never renamed."""

    kind: str
    #: French name of the kind, as shown to users.
    label: str
    #: Parse one landed file into the kind's staging tables (may run in a worker process: it
    #: must not rely on state of the calling process; its options must be picklable).
    parse: Callable[[Landed], Parsed]
    #: Recognise a file from its content: a :class:`Detected` when it is this kind's, None
    #: when it is not; an ``InputFileError`` (French message) when it is but cannot be read.
    #: None: the kind is never guessed, it is named (``observatoire egalim importer``).
    detect: Callable[[Path], Detected | None] | None = None
    staging: tuple[StagingTable, ...] = ()
    #: The build steps the kind contributes (read lazily: building them imports the stage).
    steps: Callable[[], list[Step]] = no_steps
    #: The warehouse tables it documents (lazily, for the same reason).
    tables: Callable[[], Documented] = no_tables
    #: Indicator sources (``source`` of an indicator in the profile) this kind makes available.
    indicator_sources: frozenset[str] = frozenset()
    #: Whether a file already in the load log is parsed again with these options (Egalim: a
    #: file refused as a whole, imported again with ``--partiel``). Default: never.
    parse_again: Callable[[Load, Any], bool] | None = None
    #: Compressed files (``.gz``, ``.zip``) are opened and their members landed one by one.
    expand_archives: bool = True
    #: Parsing may go to the pool of worker processes (large inputs, many small files).
    parallel: bool = True

    def staging_table(self, name: str) -> StagingTable:
        for table in self.staging:
            if table.name == name:
                return table
        raise KeyError(f"{self.kind} has no staging table {name}")
