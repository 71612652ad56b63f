"""Content-addressed storage of source files: ``landing/<first two hex>/<sha256>``."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def landed_path(landing_dir: Path, sha256: str) -> Path:
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
