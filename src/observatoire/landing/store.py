"""Content-addressed storage of source files.

Two layouts, both read everywhere: a landed file of its own, ``landing/<first two hex>/<sha256>``
(large files, files landed one at a time, and every file of a data home made before packs), and
the small files of a worker's batch in a pack (:mod:`observatoire.landing.packs`), found through
the catalog's ``packed`` index. :func:`landed_copy` gives a path to either.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from observatoire.landing import packs
from observatoire.landing.packs import Packed

if TYPE_CHECKING:
    from observatoire.config import Settings

CHUNK = 1 << 20
#: Under the work folder: packed files copied out for a reader that needs a path.
UNPACKED = "unpacked"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def landed_path(landing_dir: Path, sha256: str) -> Path:
    """Where a file landed on its own is (it may be in a pack instead: :func:`landed_copy`)."""
    return landing_dir / sha256[:2] / sha256


def store(landing_dir: Path, source: Path, sha256: str) -> Path:
    """Copy ``source`` into the landing area unless it is already there; return its landed path.

    The copy goes through a temporary name and an atomic rename, so a landed file is always whole.
    """
    target = landed_path(landing_dir, sha256)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{sha256}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)
    return target


def landed_copy(settings: Settings, sha256: str, shown: str = "",
                entry: Packed | None = None) -> Path | None:
    """A path to the landed bytes of a file: its landed file, or, when it is in a pack, a
    copy taken out of the pack (checked against its hash) into the work folder, taken again
    at each call (the caller may remove it); None when neither exists. ``entry``: its pack
    entry when the caller already read the index (:meth:`Catalog.packed`); ``shown``: its
    name in messages."""
    own = landed_path(settings.landing_dir, sha256)
    if own.exists():
        return own
    if entry is None:
        from observatoire.landing.catalog import Catalog

        entry = Catalog(settings.catalog_path).packed([sha256]).get(sha256)
        if entry is None:
            return None
    out = settings.work_dir / UNPACKED / sha256[:2] / sha256
    data = packs.read(settings.landing_dir, entry, shown)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{sha256}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    return out
