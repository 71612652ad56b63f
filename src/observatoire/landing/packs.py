"""Packs: the small files landed together by a worker's batch, in one file.

A folder of 10,000 small publications used to become 10,000 landed files, and creating and
renaming a file costs the kernel more than parsing a 20-record file. A worker's batch now lands
its small files into one pack instead, ``landing/packs/<first two hex>/<sha256 of the pack>.tar``:

- a plain, uncompressed POSIX tar archive (any ``tar`` lists and extracts it), whose members are
  the files' exact bytes, each named by its own SHA-256, with fixed headers (mode 0444, owner 0,
  time 0): the same files in the same order give the same bytes, hence the same name;
- written under a temporary name, synced to disk and renamed: a pack in place is whole;
- indexed in the catalog (``packed``: content hash → pack, offset, length), written in the same
  transaction as the files' load-log lines, so that a file is logged only once its bytes are
  safely landed. A run stopped in between leaves an unreferenced pack: its files are landed
  again by the next run (no loss, no double load).

Every read checks the bytes against their content hash: a truncated or altered pack is said so,
never parsed.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from observatoire.errors import ConfigError

#: Files below this size, landed by a worker's batch, go into a pack (larger ones keep a landed
#: file of their own: their parse costs far more than a file creation, and DuckDB reads them
#: in place).
PACKED_BELOW = 1024 * 1024
#: A pack is closed once it holds this many bytes, and another one started.
PACK_BYTES = 64 * 1024 * 1024
FOLDER = "packs"
SUFFIX = ".tar"
BLOCK = tarfile.BLOCKSIZE  # 512
_COUNTER = itertools.count()


class DamagedLanding(ConfigError):
    """The landed bytes of a file are missing, cut short or altered."""


@dataclass(frozen=True)
class Packed:
    """Where the bytes of one landed file are: ``pack`` (path under the landing folder),
    ``offset`` and ``length`` in it."""

    sha256: str
    pack: str
    offset: int
    length: int


def _header(sha256: str, length: int) -> bytes:
    info = tarfile.TarInfo(sha256)
    info.size, info.mode, info.mtime, info.type = length, 0o444, 0, tarfile.REGTYPE
    info.uname = info.gname = ""
    header = info.tobuf(tarfile.USTAR_FORMAT, "ascii", "strict")
    assert len(header) == BLOCK
    return header


class PackWriter:
    """The packs of one worker's batch. :meth:`add` appends a file's bytes; :meth:`close`
    finishes the pack being written and gives where every file added is."""

    def __init__(self, landing_dir: Path, max_bytes: int = PACK_BYTES, *,
                 sync: bool = True) -> None:
        self.landing_dir = landing_dir
        self.max_bytes = max_bytes
        self.sync = sync  # False only to measure what the syncs cost (bench/landing_copy.py)
        self._done: list[Packed] = []
        self._open: list[tuple[str, int, int]] = []  # (sha256, offset, length) of the open pack
        self._fh: io.BufferedWriter | None = None
        self._tmp: Path | None = None
        self._digest = hashlib.sha256()
        self._size = 0

    def add(self, sha256: str, data: bytes) -> None:
        if self._tmp is None:
            folder = self.landing_dir / FOLDER
            folder.mkdir(parents=True, exist_ok=True)
            self._tmp = folder / f".{os.getpid()}.{next(_COUNTER)}.tmp"
            self._fh = self._tmp.open("wb")
            self._digest = hashlib.sha256()
            self._size = 0
        pad = -len(data) % BLOCK
        chunk = b"".join((_header(sha256, len(data)), data, b"\0" * pad))
        self._write(chunk)
        self._open.append((sha256, self._size - len(chunk) + BLOCK, len(data)))
        if self._size >= self.max_bytes:
            self._finish()

    def _write(self, chunk: bytes) -> None:
        fh = self._fh
        assert fh is not None
        fh.write(chunk)
        self._digest.update(chunk)
        self._size += len(chunk)

    def _finish(self) -> None:
        if self._tmp is None:
            return
        self._write(b"\0" * (2 * BLOCK))  # tar's end of archive
        fh = self._fh
        assert fh is not None
        fh.flush()
        if self.sync:
            os.fsync(fh.fileno())
        fh.close()
        name = self._digest.hexdigest()
        rel = f"{FOLDER}/{name[:2]}/{name}{SUFFIX}"
        target = self.landing_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self._tmp, 0o444)
        os.replace(self._tmp, target)  # the same files again: the same bytes, the same name
        if self.sync:
            _sync_folder(target.parent)
        self._done.extend(Packed(sha, rel, offset, length) for sha, offset, length in self._open)
        self._open.clear()
        self._fh = self._tmp = None

    def close(self) -> list[Packed]:
        """Finish the open pack; every file added so far, with where its bytes are."""
        self._finish()
        done, self._done = self._done, []
        return done

    def abandon(self) -> None:
        """Drop the pack being written (the batch failed: its files were not logged)."""
        if self._tmp is not None:
            fh = self._fh
            assert fh is not None
            fh.close()
            self._tmp.unlink(missing_ok=True)
            self._fh = self._tmp = None
        self._open.clear()


def _sync_folder(folder: Path) -> None:
    """The rename itself reaches the disk before the catalog says the file is landed."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(landing_dir: Path, entry: Packed, shown: str = "") -> bytes:
    """The bytes of a packed file, checked against its content hash."""
    path = landing_dir / entry.pack
    try:
        with path.open("rb") as fh:
            fh.seek(entry.offset)
            data = fh.read(entry.length)
    except FileNotFoundError:
        raise DamagedLanding(
            "Le paquet qui contient la copie déposée de ce fichier est introuvable.",
            where=f"{shown or entry.sha256} (paquet {path})",
            hint="Restaurez le dossier « landing » du répertoire de données depuis une "
            "sauvegarde.",
        ) from None
    if len(data) != entry.length or hashlib.sha256(data).hexdigest() != entry.sha256:
        raise DamagedLanding(
            "La copie déposée de ce fichier est incomplète ou altérée dans son paquet "
            f"({len(data)} octets lus sur {entry.length}, empreinte différente).",
            where=f"{shown or entry.sha256} (paquet {path}, position {entry.offset})",
            hint="Restaurez le dossier « landing » du répertoire de données depuis une "
            "sauvegarde ; rien de ce fichier n'a été lu.",
        )
    return data


def members(landing_dir: Path, rel: str) -> Iterator[Packed]:
    """Every file of the pack ``rel`` (path under ``landing_dir``), read from its own headers,
    each checked against its content hash (:class:`DamagedLanding` at the first one cut short
    or altered)."""
    path = landing_dir / rel
    size = path.stat().st_size
    with path.open("rb") as fh:
        offset = 0
        while True:
            header = fh.read(BLOCK)
            if header == b"\0" * BLOCK:
                return
            if len(header) < BLOCK:
                raise DamagedLanding(
                    "Ce paquet de fichiers déposés s'arrête avant sa fin.",
                    where=f"{path}, position {offset}",
                    hint="Restaurez le dossier « landing » depuis une sauvegarde.")
            try:
                info = tarfile.TarInfo.frombuf(header, "ascii", "strict")
            except tarfile.HeaderError as exc:
                raise DamagedLanding(
                    "Ce paquet de fichiers déposés est altéré (en-tête illisible).",
                    where=f"{path}, position {offset}",
                    hint="Restaurez le dossier « landing » depuis une sauvegarde.") from exc
            entry = Packed(info.name, rel, offset + BLOCK, info.size)
            if entry.offset + entry.length > size:
                raise DamagedLanding(
                    "Ce paquet de fichiers déposés s'arrête avant la fin d'un fichier.",
                    where=f"{path}, fichier {info.name}",
                    hint="Restaurez le dossier « landing » depuis une sauvegarde.")
            read(landing_dir, entry)
            yield entry
            offset = entry.offset + entry.length + (-entry.length % BLOCK)
            fh.seek(offset)
