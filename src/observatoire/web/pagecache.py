"""Pages kept on disk until the warehouse changes, shared by every process of the server.

A page is computed once per warehouse file and URL, by whichever process is asked first, and
then served by all: each answer is a file under ``<data home>/cache/pages/<warehouse
identity>/``, written to a temporary name and renamed into place (a reader sees a whole file or
none). The identity is the warehouse file's inode and modification time, which a build
changes; when a process writes the first page of a new identity, the folders of the others
(older builds) are removed. The cache is bounded (``MAX_BYTES``): past it, the least recently
written pages go first.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

#: Room the pages of one build may take on disk.
MAX_BYTES = 512 * 1024 * 1024
#: Writes of a process between two looks at the cache's size.
CHECK_EVERY = 200

_writes = 0


def folder(home: Path, identity: str) -> Path:
    return home / "cache" / "pages" / identity


def _path(home: Path, identity: str, key: str) -> Path:
    return folder(home, identity) / key[:2] / key


def get(home: Path, identity: str, key: str) -> tuple[bytes, dict[str, Any]] | None:
    """The stored answer (body, its content type, status and headers), or None."""
    try:
        with _path(home, identity, key).open("rb") as fh:
            head = json.loads(fh.readline())
            return fh.read(), head
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def put(home: Path, identity: str, key: str, body: bytes, head: dict[str, Any]) -> None:
    """Store an answer for every process; a failure to write only loses the cache."""
    global _writes
    path = _path(home, identity, key)
    try:
        if not folder(home, identity).exists():
            _forget_other_builds(home, identity)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(json.dumps(head).encode() + b"\n")
            fh.write(body)
        os.replace(tmp, path)
    except OSError:
        return
    _writes += 1
    if _writes % CHECK_EVERY == 0:
        trim(folder(home, identity))


def _forget_other_builds(home: Path, identity: str) -> None:
    pages = home / "cache" / "pages"
    if pages.is_dir():
        for old in pages.iterdir():
            if old.name != identity:
                shutil.rmtree(old, ignore_errors=True)


def trim(root: Path, limit: int = MAX_BYTES) -> None:
    """Remove the oldest pages until the folder holds at most ``limit`` bytes (down to 80 %
    of it, so that this runs rarely)."""
    files = []
    total = 0
    for sub in os.scandir(root):
        if not sub.is_dir():
            continue
        for entry in os.scandir(sub.path):
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            files.append((stat.st_mtime_ns, stat.st_size, entry.path))
            total += stat.st_size
    if total <= limit:
        return
    files.sort()
    for _, size, path in files:
        if total <= limit * 0.8:
            break
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        total -= size
