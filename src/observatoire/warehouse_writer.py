"""The warehouse's life on the write side: one writer at a time, a new file swapped in whole.

A build (or a recomputation) writes ``warehouse.build-<id>.duckdb`` beside the warehouse in
service, under the data home's build lock, and renames it over ``warehouse.duckdb`` only once it
is complete and checkpointed. A build that fails leaves the warehouse in service untouched and
removes its file; a killed one leaves a file that the next build (or a status report, which
recognises the build as interrupted) removes. :mod:`observatoire.warehouse` is the read side.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from observatoire.config import Settings
from observatoire.errors import ObservatoireError
from observatoire.landing.catalog import Catalog
from observatoire.sqlquote import literal


def now() -> str:
    """The present moment as the build log writes it (ISO, UTC, seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def discard(tmp: Path) -> None:
    """Remove a warehouse file that will not be put in service (and its WAL)."""
    tmp.unlink(missing_ok=True)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)


def connect_for_writing(path: Path, settings: Settings) -> duckdb.DuckDBPyConnection:
    """A connection to a warehouse being written, with the configured memory, threads, spill.

    Its commits are not synced to disk: the file is a build's own until :func:`swap_in` syncs
    it, whole, before putting it in service, and a build that stops before leaves a file that
    is discarded. (Each statement commits: a sync each cost a small build more than its SQL.)
    """
    con = duckdb.connect(str(path))
    con.execute("SET fsync_mode = 'NONE'")
    con.execute(f"SET memory_limit = {literal(settings.memory_limit)}")
    if settings.threads:
        con.execute(f"SET threads = {int(settings.threads)}")
    con.execute(f"SET temp_directory = {literal(settings.work_dir / 'duckdb')}")
    return con


def swap_in(tmp: Path, settings: Settings) -> None:
    """Put a complete, checkpointed warehouse file in service in one rename."""
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, settings.warehouse_path)
    # the rename itself is durable once the folder is synced (POSIX; a no-op elsewhere)
    if hasattr(os, "O_DIRECTORY"):
        folder = os.open(settings.warehouse_path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _doubled(limit: str) -> str:
    """Twice a memory size as ``OBSERVATOIRE_MEMORY_LIMIT`` takes it: the example of the hint
    must be above the limit that did not suffice."""
    size = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B)\s*", limit, re.IGNORECASE)
    return f"{float(size[1]) * 2:g}{size[2]}" if size else "le double"


def memory_error(settings: Settings) -> ObservatoireError:
    """What to tell the user when DuckDB runs out of its memory limit."""
    return ObservatoireError(
        f"La mémoire allouée à DuckDB ({settings.memory_limit}) ne suffit pas pour "
        "construire l'entrepôt, même en débordant sur le disque.",
        where=str(settings.work_dir),
        hint=f"Augmentez OBSERVATOIRE_MEMORY_LIMIT (par exemple {_doubled(settings.memory_limit)}"
        ") ou libérez de la place sur le disque du dossier de données.",
    )


def remove_leftovers(settings: Settings) -> None:
    """Delete the files of builds that were killed before they could clean up."""
    for leftover in settings.home.glob("warehouse.build-*.duckdb*"):
        leftover.unlink(missing_ok=True)


def _take(lock: Any, patience: float = 2.0) -> None:
    """Take the lock, waiting ``patience`` seconds at most: a status report holds it for a
    few milliseconds (:func:`recognise_interrupted`), a build for minutes."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


@contextmanager
def build_lock(settings: Settings) -> Iterator[None]:
    """One build at a time per data home. The lock is the kernel's (flock): it ends with the
    process that holds it, killed or not, so a lock is never stale; the file names the
    process, for the message to whoever waits."""
    with (settings.home / "build.lock").open("a+") as lock:
        try:
            _take(lock)
        except BlockingIOError as exc:
            lock.seek(0)
            holder = lock.read().strip()
            raise ObservatoireError(
                "Une construction de l'entrepôt est déjà en cours dans ce dossier de données"
                + (f" (processus {holder})." if holder.isdigit() else "."),
                where=str(settings.home),
                hint="Attendez qu'elle se termine, puis relancez.",
            ) from exc
        try:
            lock.truncate(0)
            lock.write(str(os.getpid()))
            lock.flush()
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock, fcntl.LOCK_UN)


def recognise_interrupted(settings: Settings) -> None:
    """Builds the catalog still shows running while no process holds the build lock were
    killed: mark them interrupted now, not at the next build (until which they read
    « en cours »). Checked under the lock, so that a build starting meanwhile is not marked."""
    if not settings.catalog_path.exists():
        return
    try:
        with (settings.home / "build.lock").open("a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a build is running
            try:
                Catalog(settings.catalog_path).mark_interrupted(now())
                remove_leftovers(settings)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    except OSError:  # a home this process may only read: shown as the catalog says
        return
