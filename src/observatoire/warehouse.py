"""Access to the warehouse in service: read-only connections and small query helpers."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from observatoire.config import Settings
from observatoire.errors import WarehouseMissing
from observatoire.sqlquote import identifier

_OPEN: dict[str, tuple[tuple[int, int], duckdb.DuckDBPyConnection]] = {}
_LOCK = threading.Lock()
_LOG = logging.getLogger(__name__)


def _connect(path: Path, identity: tuple[int, int]) -> duckdb.DuckDBPyConnection:
    """Open this very file (this inode), read-only.

    DuckDB keeps one database per path in a process: connecting again to a path whose file a
    build has replaced would hand back the old database. A hard link named after the inode gives
    each warehouse file its own path; it is removed at once (the open file stays readable).
    """
    link = path.with_name(f".{path.stem}-reader-{identity[0]}-{identity[1]}{path.suffix}")
    try:
        os.link(path, link)
    except FileExistsError:
        pass
    except OSError:
        return duckdb.connect(str(path), read_only=True)
    try:
        return duckdb.connect(str(link), read_only=True)
    finally:
        link.unlink(missing_ok=True)


#: Version of the warehouse's tables and columns, written by the build (``build_info``). Bump it
#: when a table or column the read side uses changes: a warehouse built by an older version is
#: then refused with a clear message instead of failing on a missing column.
SCHEMA_VERSION = 7


def _check_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    found = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'build_info' "
        "AND column_name = 'schema_version'").fetchall()[0][0]
    version = (con.execute("SELECT max(schema_version) FROM build_info").fetchall()[0][0]
               if found else None)
    if version != SCHEMA_VERSION:
        raise WarehouseMissing(
            "L'entrepôt en service a été construit par une version antérieure de l'observatoire.",
            where=str(path),
            hint="Reconstruisez-le : observatoire build (les fichiers déposés sont réutilisés).",
        )


def open_warehouse(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-only cursor on the warehouse in service; close it when done.

    The database is opened once per process and file, so that a web server answers each request
    with a cursor instead of opening the file again. After a build swaps in a new file, the next
    call opens that one, while cursors already handed out finish on the old one.
    """
    return _database(settings)[1].cursor()


def open_identified(settings: Settings) -> tuple[duckdb.DuckDBPyConnection, tuple[int, int]]:
    """:func:`open_warehouse` with the identity (inode, modification time) of the file the
    cursor reads: what a cache of values read through it must be keyed by (a stat taken
    before or after opening may already name the next build's file)."""
    identity, con = _database(settings)
    return con.cursor(), identity


def _database(settings: Settings) -> tuple[tuple[int, int], duckdb.DuckDBPyConnection]:
    """The process's connection to the warehouse in service, opened if it is new, and the
    identity of its file."""
    path = settings.warehouse_path
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise WarehouseMissing(
            "Aucun entrepôt n'a encore été construit.",
            where=str(path),
            hint="Lancez « observatoire ingest CHEMIN » puis « observatoire build ».",
        ) from None
    identity = (stat.st_ino, stat.st_mtime_ns)
    with _LOCK:
        known = _OPEN.get(str(path))
        if known is None or known[0] != identity:
            con = _connect(path, identity)
            try:
                _check_schema(con, path)
            except WarehouseMissing:
                con.close()
                raise
            known = (identity, con)
            _OPEN[str(path)] = known
        return known


def follow(settings: Settings, stop: threading.Event, every: float = 0.05) -> threading.Thread:
    """Open each warehouse a build puts in service as soon as it is there, in a thread of the
    web server: the first request after a build finds it open (a stat every ``every`` seconds
    costs nothing; opening costs a request tens to hundreds of milliseconds)."""

    def run() -> None:
        while not stop.is_set():
            try:
                _database(settings)
            except WarehouseMissing:
                pass  # none yet, or one from an older version: requests say so
            except Exception:  # a file being replaced, say: the next look (or request) opens it
                _LOG.debug("entrepôt non ouvert d'avance", exc_info=True)
            stop.wait(every)

    thread = threading.Thread(target=run, name="ouverture-de-l-entrepot", daemon=True)
    thread.start()
    return thread


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    """The single value a query returns (None when it returns no row)."""
    row = con.execute(sql, params or []).fetchone()
    return row[0] if row else None


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Row count of every table, by name."""
    names = [n for (n,) in con.sql("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
    return dict(zip(names, count_rows(con, names), strict=True))


def count_rows(con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> list[int]:
    """Row count of each table, in one statement (a statement costs about a millisecond of
    fixed cost: a build counts its hundred tables after every step and at its end). ``tables``
    are names from the catalog or the code, quoted as identifiers."""
    if not tables:
        return []
    counts = " UNION ALL ".join(
        f"SELECT {i} AS i, count(*) AS n FROM {identifier(t)}"  # noqa: S608
        for i, t in enumerate(tables))
    by_position = dict(con.execute(f"SELECT i, n FROM ({counts})").fetchall())  # noqa: S608
    return [int(by_position[i]) for i in range(len(tables))]


def scope_sql(con: duckdb.DuckDBPyConnection, column: str = "c.buyer_siret") -> str:
    """SQL restricting contracts to the profile's scope: a profile limited to its own buyers
    (a Région and its mandataires) publishes only their contracts; ``TRUE`` otherwise. The
    clause is built from constants (the column) and a table of the warehouse, never from input.
    """
    row = con.execute("SELECT scope FROM indicator_profile").fetchone()
    if row is not None and row[0] == "profile_buyers":
        return f"left({column}, 9) IN (SELECT siren FROM profile_buyers)"  # noqa: S608
    return "TRUE"


def insert_rows(con: duckdb.DuckDBPyConnection, table: str,
                rows: Sequence[tuple[object, ...]]) -> None:
    """Insert Python rows in one statement, through Arrow: ``executemany`` runs one statement a
    row (about a millisecond each in DuckDB). DuckDB casts each column to the table's type.
    ``table`` is a name from the code, never input."""
    if not rows:
        return
    columns = {f"c{i}": pa.array(list(values)) for i, values in enumerate(zip(*rows, strict=True))}
    con.register("insert_rows_arrow", pa.table(columns))
    try:
        con.execute(f"INSERT INTO {identifier(table)} SELECT * FROM insert_rows_arrow")  # noqa: S608
    finally:
        con.unregister("insert_rows_arrow")
