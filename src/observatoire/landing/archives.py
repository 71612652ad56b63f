"""Compressed inputs: a ``.gz`` file, or a ``.zip`` archive of DECP files, as national sources
publish them.

Each file inside is decompressed by streaming (chunk by chunk, memory does not grow with its size)
into the work folder, then landed and parsed like any other file: the landed copy is the
decompressed content, so the same file given plain or compressed is one load. Recognised by their
first bytes, never by their names.
"""

from __future__ import annotations

import gzip
import itertools
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
CHUNK = 1 << 20
_COUNTER = itertools.count()
#: A zip that holds these is an office document (XLSX, ODS…), left to the detection's message.
OFFICE_MEMBERS = ("[Content_Types].xml", "mimetype")


@dataclass(frozen=True)
class InputFile:
    """A file to land: where its bytes are, and how to name it to the user."""

    path: Path
    shown: str
    name: str


def plain(path: Path) -> InputFile:
    return InputFile(path, str(path), path.name)


def expand(path: Path, folder: Path) -> Iterator[InputFile]:
    """The files to land for ``path``: itself, or the files its archive holds (decompressed
    under ``folder``, which the caller removes once they are landed)."""
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic.startswith(GZIP_MAGIC):
        yield from _gunzip(path, folder / str(next(_COUNTER)))
    elif magic == ZIP_MAGIC:
        yield from _unzip(path, folder / str(next(_COUNTER)))
    else:
        yield plain(path)


def _gunzip(path: Path, folder: Path) -> Iterator[InputFile]:
    out = folder / path.name
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with gzip.open(path, "rb") as src, out.open("wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except (OSError, EOFError, zlib.error):
        # Truncated or not really gzip: landed as it is, the detection says what it is.
        out.unlink(missing_ok=True)
        yield plain(path)
        return
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    yield InputFile(out, str(path), name)


def _unzip(path: Path, folder: Path) -> Iterator[InputFile]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        yield plain(path)
        return
    with archive:
        names = archive.namelist()
        if any(n in OFFICE_MEMBERS for n in names):
            yield plain(path)
            return
        for n, info in enumerate(archive.infolist()):
            parts = Path(info.filename).parts
            hidden = any(p.startswith(".") or p == "__MACOSX" for p in parts)
            if info.is_dir() or hidden:
                continue
            out = folder / str(n) / Path(info.filename).name
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
                # A damaged member: what could be read is landed and parsed, and says so.
                pass
            yield InputFile(out, f"{path} › {info.filename}", Path(info.filename).name)


@contextmanager
def unpacking_folder(work_dir: Path) -> Iterator[Path]:
    """A folder of its own for one ingestion's decompressed copies (another ingestion may run
    at the same time), removed at the end: their content is in the landing folder by then."""
    work_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="archives-", dir=work_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
