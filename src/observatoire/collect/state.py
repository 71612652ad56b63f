"""The collector's memory, in the catalog's SQLite file beside the load log.

``collect_sources``: per source, the last attempt, success and error and the next due time.
``collect_cursors``: per source and remote resource, the validators of the last whole download
(ETag, Last-Modified, size, sha256): what the next conditional request sends.
``collect_built``: the newest load id a successful build of the collector has seen, so that a
round whose build could not run (another build held the lock) is built by the next round.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS collect_sources (
    source_id     TEXT PRIMARY KEY,
    last_attempt  TEXT,
    last_success  TEXT,
    last_error    TEXT,
    last_error_at TEXT,
    next_due      TEXT
);
CREATE TABLE IF NOT EXISTS collect_cursors (
    source_id     TEXT NOT NULL,
    resource      TEXT NOT NULL,   -- the URL pulled
    etag          TEXT,
    last_modified TEXT,
    size_bytes    INTEGER,
    sha256        TEXT,
    fetched_at    TEXT,
    PRIMARY KEY (source_id, resource)
);
CREATE TABLE IF NOT EXISTS collect_built (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    load_id       INTEGER NOT NULL
);
"""


@dataclass
class Cursor:
    etag: str | None = None
    last_modified: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    fetched_at: str | None = None


class State:
    """Read and write the collector's tables. Every statement is parameterised."""

    def __init__(self, catalog_path: Path) -> None:
        self.path = catalog_path
        with self._connect() as con:
            con.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30)
        con.row_factory = sqlite3.Row
        try:
            with con:
                yield con
        finally:
            con.close()

    def sources(self) -> dict[str, dict[str, Any]]:
        with self._connect() as con:
            rows = con.execute("SELECT * FROM collect_sources").fetchall()
        return {r["source_id"]: dict(r) for r in rows}

    def attempted(self, source_id: str, at: str, next_due: str, error: str | None) -> None:
        with self._connect() as con:
            con.execute("INSERT OR IGNORE INTO collect_sources (source_id) VALUES (?)",
                        (source_id,))
            if error is None:
                con.execute("UPDATE collect_sources SET last_attempt = ?, last_success = ?, "
                            "next_due = ? WHERE source_id = ?", (at, at, next_due, source_id))
            else:
                con.execute("UPDATE collect_sources SET last_attempt = ?, last_error = ?, "
                            "last_error_at = ?, next_due = ? WHERE source_id = ?",
                            (at, error, at, next_due, source_id))

    def cursor(self, source_id: str, resource: str) -> Cursor:
        with self._connect() as con:
            row = con.execute("SELECT etag, last_modified, size_bytes, sha256, fetched_at "
                              "FROM collect_cursors WHERE source_id = ? AND resource = ?",
                              (source_id, resource)).fetchone()
        return Cursor(**dict(row)) if row else Cursor()

    def save_cursor(self, source_id: str, resource: str, cursor: Cursor) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO collect_cursors (source_id, resource, etag, last_modified, "
                "size_bytes, sha256, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (source_id, resource) DO UPDATE SET etag = excluded.etag, "
                "last_modified = excluded.last_modified, size_bytes = excluded.size_bytes, "
                "sha256 = excluded.sha256, fetched_at = excluded.fetched_at",
                (source_id, resource, cursor.etag, cursor.last_modified, cursor.size_bytes,
                 cursor.sha256, cursor.fetched_at))

    def cursors(self, source_id: str) -> list[dict[str, Any]]:
        with self._connect() as con:
            rows = con.execute("SELECT * FROM collect_cursors WHERE source_id = ? "
                               "ORDER BY resource", (source_id,)).fetchall()
        return [dict(r) for r in rows]

    def built_through(self) -> int:
        with self._connect() as con:
            row = con.execute("SELECT load_id FROM collect_built WHERE id = 1").fetchone()
        return int(row[0]) if row else 0

    def set_built_through(self, load_id: int) -> None:
        with self._connect() as con:
            con.execute("INSERT INTO collect_built (id, load_id) VALUES (1, ?) "
                        "ON CONFLICT (id) DO UPDATE SET load_id = excluded.load_id", (load_id,))
