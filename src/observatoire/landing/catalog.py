"""The catalog: the load log and the build log, in a small SQLite file of the data home.

The load log is an input of the build (it says which landed files exist, where they came from and
when they were collected), so it lives beside the landing files, not in the derived warehouse.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from observatoire.landing.packs import Packed

if TYPE_CHECKING:
    from observatoire.pipeline import Timing

SCHEMA = """
CREATE TABLE IF NOT EXISTS loads (
    load_id        INTEGER PRIMARY KEY,
    sha256         TEXT NOT NULL UNIQUE,
    source         TEXT NOT NULL,
    file_name      TEXT NOT NULL,
    original_path  TEXT NOT NULL,
    size_bytes     INTEGER NOT NULL,
    kind           TEXT NOT NULL,       -- decp | reference | unknown
    format         TEXT,                -- machine id of the detected format
    format_label   TEXT,                -- French description of the detected format
    records        INTEGER NOT NULL DEFAULT 0,
    marches        INTEGER NOT NULL DEFAULT 0,
    concessions    INTEGER NOT NULL DEFAULT 0,
    status         TEXT NOT NULL,       -- loaded | partial | rejected
    errors         TEXT NOT NULL DEFAULT '[]',
    loaded_at      TEXT NOT NULL,
    duration_s     REAL NOT NULL,
    parser_version TEXT,
    encoding       TEXT,                -- how the file is read (Python codec name)
    delimiter      TEXT                 -- CSV delimiter
);
CREATE TABLE IF NOT EXISTS staging_batches (
    sha256         TEXT NOT NULL,       -- a landed file parsed among many small ones
    staging_table  TEXT NOT NULL,       -- the kind's staging table (connectors: StagingTable)
    path           TEXT NOT NULL,       -- the batch's Parquet file, under staging/
    PRIMARY KEY (sha256, staging_table)
);
CREATE TABLE IF NOT EXISTS packed (
    sha256         TEXT PRIMARY KEY,    -- a landed file whose bytes are in a pack (packs.py)
    pack           TEXT NOT NULL,       -- the pack, path under landing/ (packs/<aa>/<sha256>.tar)
    offset         INTEGER NOT NULL,    -- where the file's bytes start in the pack
    length         INTEGER NOT NULL     -- their length (the load's size_bytes)
);
CREATE TABLE IF NOT EXISTS builds (
    build_id     INTEGER PRIMARY KEY,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT NOT NULL,         -- running | succeeded | failed
    error        TEXT,
    summary      TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS build_steps (
    build_id     INTEGER NOT NULL,      -- builds.build_id
    position     INTEGER NOT NULL,      -- order in which the steps ran (1, 2, …)
    name         TEXT NOT NULL,         -- the step's stable name (modele.marches)
    label        TEXT NOT NULL,         -- its French label
    started_at   TEXT NOT NULL,         -- ISO, UTC, milliseconds
    seconds      REAL NOT NULL,         -- wall time
    cpu_seconds  REAL NOT NULL,         -- CPU time of the process (every thread)
    rows         INTEGER,               -- rows of the tables it wrote (NULL: none)
    PRIMARY KEY (build_id, position)
);
"""

#: What the build log says of each step (see ``build_steps``).
STEP_KEYS = ("name", "label", "started_at", "seconds", "cpu_seconds", "rows")


@dataclass
class Load:
    """One line of the load log."""

    sha256: str
    source: str
    file_name: str
    original_path: str
    size_bytes: int
    kind: str
    format: str | None
    format_label: str | None
    records: int
    marches: int
    concessions: int
    status: str
    loaded_at: str
    duration_s: float
    parser_version: str | None
    errors: list[dict[str, Any]] = field(default_factory=list)
    load_id: int | None = None
    encoding: str | None = None
    delimiter: str | None = None


class Catalog:
    """Access to the load and build logs. Every statement is parameterised."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._connect() as con:
            con.executescript(SCHEMA)
            # Catalogs made before these columns existed get them (nothing else changes).
            have = {row[1] for row in con.execute("PRAGMA table_info(loads)")}
            for column in ("encoding", "delimiter"):
                if column not in have:
                    con.execute(f"ALTER TABLE loads ADD COLUMN {column} TEXT")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30)
        con.row_factory = sqlite3.Row
        try:
            with con:
                yield con
        finally:
            con.close()

    def find(self, sha256: str) -> Load | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM loads WHERE sha256 = ?", (sha256,)).fetchone()
        return _row_to_load(row) if row else None

    def find_many(self, sha256s: list[str]) -> dict[str, Load]:
        """The loads of these contents that are in the log, by content hash."""
        found: dict[str, Load] = {}
        unique = sorted(set(sha256s))
        with self._connect() as con:
            for start in range(0, len(unique), 500):  # below SQLite's limit of parameters
                part = unique[start:start + 500]
                rows = con.execute(
                    # only placeholders are composed: the hashes are parameters
                    f"SELECT * FROM loads WHERE sha256 IN ({', '.join('?' * len(part))})",  # noqa: S608
                    part).fetchall()
                found.update((row["sha256"], _row_to_load(row)) for row in rows)
        return found

    def add(self, load: Load) -> Load:
        self.add_all([load])
        return load

    def add_all(self, loads: list[Load],
                batched: Iterable[tuple[str, str, str]] = (),
                packed: Iterable[Packed] = ()) -> None:
        """Log new loads in one transaction (one disk sync), in the order given, with where
        the rows of those parsed by batches are (sha256, staging table, path under staging/)
        and where the bytes of those landed in a pack are (a file landed twice keeps its
        first copy: the bytes are the same)."""
        batched, packed = list(batched), list(packed)
        if not loads and not batched and not packed:
            return
        with self._connect() as con:
            for load in loads:
                self._insert(con, load)
            con.executemany("INSERT OR REPLACE INTO staging_batches VALUES (?, ?, ?)", batched)
            con.executemany("INSERT OR IGNORE INTO packed VALUES (?, ?, ?, ?)",
                            [(p.sha256, p.pack, p.offset, p.length) for p in packed])

    def packed(self, sha256s: Iterable[str] | None = None) -> dict[str, Packed]:
        """Where the bytes of files landed in a pack are, by content hash (of ``sha256s``, or
        of every packed file); a file with a landed file of its own is not there."""
        with self._connect() as con:
            if sha256s is None:
                rows = con.execute("SELECT * FROM packed").fetchall()
            else:
                unique, rows = sorted(set(sha256s)), []
                for start in range(0, len(unique), 500):  # below SQLite's limit of parameters
                    part = unique[start:start + 500]
                    rows += con.execute(
                        # only placeholders are composed: the hashes are parameters
                        f"SELECT * FROM packed WHERE sha256 IN ({', '.join('?' * len(part))})",  # noqa: S608
                        part).fetchall()
        return {r["sha256"]: Packed(r["sha256"], r["pack"], r["offset"], r["length"])
                for r in rows}

    def staging_batches(self, table: str) -> dict[str, str]:
        """Files whose rows of ``table`` are in a batch file: {sha256: path under staging/}."""
        with self._connect() as con:
            rows = con.execute("SELECT sha256, path FROM staging_batches WHERE staging_table = ?",
                               (table,)).fetchall()
        return {row[0]: row[1] for row in rows}

    @staticmethod
    def _insert(con: sqlite3.Connection, load: Load) -> None:
        cur = con.execute(
            """INSERT INTO loads (sha256, source, file_name, original_path, size_bytes, kind,
                   format, format_label, records, marches, concessions, status, errors,
                   loaded_at, duration_s, parser_version, encoding, delimiter)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                load.sha256,
                load.source,
                load.file_name,
                load.original_path,
                load.size_bytes,
                load.kind,
                load.format,
                load.format_label,
                load.records,
                load.marches,
                load.concessions,
                load.status,
                json.dumps(load.errors, ensure_ascii=False),
                load.loaded_at,
                load.duration_s,
                load.parser_version,
                load.encoding,
                load.delimiter,
            ),
        )
        load.load_id = cur.lastrowid

    def replace(self, load: Load) -> None:
        """Record a new outcome for a file already logged (a refused file accepted again)."""
        with self._connect() as con:
            con.execute(
                """UPDATE loads SET source = ?, file_name = ?, original_path = ?, format = ?,
                       format_label = ?, records = ?, status = ?, errors = ?, loaded_at = ?,
                       duration_s = ?, encoding = ?, delimiter = ?
                   WHERE load_id = ?""",
                (load.source, load.file_name, load.original_path, load.format,
                 load.format_label, load.records, load.status,
                 json.dumps(load.errors, ensure_ascii=False), load.loaded_at, load.duration_s,
                 load.encoding, load.delimiter, load.load_id),
            )

    def loads(self) -> list[Load]:
        with self._connect() as con:
            rows = con.execute("SELECT * FROM loads ORDER BY load_id").fetchall()
        return [_row_to_load(r) for r in rows]

    def start_build(self, started_at: str) -> int:
        with self._connect() as con:
            cur = con.execute(
                "INSERT INTO builds (started_at, status) VALUES (?, 'running')", (started_at,)
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

    def finish_build(
        self,
        build_id: int,
        finished_at: str,
        status: str,
        error: str | None,
        summary: dict[str, Any],
    ) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE builds SET finished_at = ?, status = ?, error = ?, summary = ? "
                "WHERE build_id = ?",
                (finished_at, status, error, json.dumps(summary, ensure_ascii=False), build_id),
            )

    def mark_interrupted(self, finished_at: str) -> None:
        """Builds still marked running when no build holds the lock were killed."""
        with self._connect() as con:
            con.execute(
                "UPDATE builds SET status = 'failed', finished_at = ?, "
                "error = 'interrompue (processus arrêté avant la fin)' WHERE status = 'running'",
                (finished_at,),
            )

    def record_step(self, build_id: int, step: Timing) -> None:
        """A step of a build that ended (:class:`observatoire.pipeline.Timing`), written as it
        ends: a killed build keeps the steps it finished."""
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO build_steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (build_id, step.position, step.name, step.label, step.started_at,
                         step.seconds, step.cpu_seconds, step.rows))

    def record_steps(self, build_id: int, steps: Iterable[Timing]) -> None:
        """Steps of a build that ended, in one transaction (one commit, one disk sync: an
        incremental build records its steps once it succeeded, not as they end)."""
        with self._connect() as con:
            con.executemany("INSERT OR REPLACE INTO build_steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [(build_id, s.position, s.name, s.label, s.started_at, s.seconds,
                              s.cpu_seconds, s.rows) for s in steps])

    def build_steps(self, build_id: int) -> list[dict[str, Any]]:
        """The steps of a build, in the order they ran."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT name, label, started_at, seconds, cpu_seconds, rows FROM build_steps "
                "WHERE build_id = ? ORDER BY position", (build_id,)).fetchall()
        return [dict(r) for r in rows]

    def build_summary(self, build_id: int) -> dict[str, Any]:
        """What a build recorded when it ended (empty if it did not end, or is unknown)."""
        with self._connect() as con:
            row = con.execute("SELECT summary FROM builds WHERE build_id = ?",
                              (build_id,)).fetchone()
        return json.loads(row["summary"] or "{}") if row else {}

    def builds(self, limit: int = 10, *, steps: bool = False) -> list[dict[str, Any]]:
        """The latest builds, newest first; ``steps``: each with its ``steps`` (see
        :meth:`build_steps`), which the status report shows and the pages' footer does not."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT * FROM builds ORDER BY build_id DESC LIMIT ?", (limit,)
            ).fetchall()
            logged = con.execute(
                "SELECT build_id, name, label, started_at, seconds, cpu_seconds, rows "
                "FROM build_steps "
                "WHERE build_id IN (SELECT build_id FROM builds ORDER BY build_id DESC LIMIT ?) "
                "ORDER BY build_id, position", (limit,)).fetchall() if steps else []
        by_build: dict[int, list[dict[str, Any]]] = {}
        for s in logged:
            by_build.setdefault(s["build_id"], []).append({k: s[k] for k in STEP_KEYS})
        out = []
        for r in rows:
            d = dict(r)
            d["summary"] = json.loads(d["summary"] or "{}")
            if steps:
                d["steps"] = by_build.get(d["build_id"], [])
            out.append(d)
        return out


#: The per-publication part of a file name: trailing numbers (SIRET, date, sequence number).
_PUBLICATION = re.compile(r"(?:[-_. ]\d+)+$")


def flow_name(file_name: str) -> str:
    """The default source of a file: its flow, the file name without its extension and its
    per-publication part, so that the 10,000 files of one flow are one source
    (``megalis_decp-59920013600241-2024-07-09-01.json`` → ``megalis_decp``)."""
    stem = Path(file_name).stem
    return _PUBLICATION.sub("", stem) or stem


def _flow(load: Load) -> tuple[str, str]:
    """What versions of one file share: its source and its path. A load logged when the default
    source was the file's whole stem counts under its flow, so that a new version ingested
    since supersedes it."""
    legacy = load.source == Path(load.file_name).stem
    return (flow_name(load.file_name) if legacy else load.source, load.original_path)


def superseded(loads: list[Load]) -> dict[int, int]:
    """Loads replaced by a newer version of the same file: {old load id: newer load id}.

    A new version is new content ingested from the same path for the same source (a platform's
    file downloaded again). The old version stays landed and logged (history) but is no longer
    built. Files of other paths are never superseded: overlapping contracts between them are
    merged as duplicates instead.
    """
    latest: dict[tuple[str, str], int] = {}
    for load in loads:
        assert load.load_id is not None
        key = _flow(load)
        latest[key] = max(latest.get(key, 0), load.load_id)
    return {
        ld.load_id: latest[_flow(ld)]
        for ld in loads
        if ld.load_id is not None and ld.load_id != latest[_flow(ld)]
    }


def _row_to_load(row: sqlite3.Row) -> Load:
    d = dict(row)
    d["errors"] = json.loads(d["errors"] or "[]")
    return Load(**d)
