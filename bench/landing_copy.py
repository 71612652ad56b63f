#!/usr/bin/env python3
"""The landing of many small files alone, in one process: each option, alternately.

    .venv/bin/python bench/landing_copy.py --files 2000 --repeats 5 FOLDER

FOLDER holds small files (e.g. ``bench/out/small-200000-many``, written by
``bench/small_files.py``). Each repeat lands the first ``--files`` of them into a fresh landing
folder with every option in turn, and times it (wall and CPU of this process, which includes
the kernel's work for it):

- ``own-file``: one landed file each, ``landing/<aa>/<sha256>`` (temporary name, copy, chmod,
  rename), as files landed alone still are;
- ``own-file-flat``: the same without the 256 sub-folders (what sharding costs or saves);
- ``own-file-fsync``: the same, each file synced to disk before its rename (the durability
  packs give, paid per file);
- ``pack``: the files' bytes read and checked against their hash, appended to packs
  (``landing/packs.py``: one file per batch, synced once);
- ``pack-nosync``: the same without the pack's fsync.

The content hashes are computed beforehand (the loop computes them before landing anyway).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from observatoire.landing import packs, store  # noqa: E402


def own_file(landing: Path, items: list[tuple[Path, str]]) -> None:
    for path, sha in items:
        store.store(landing, path, sha)


def own_file_flat(landing: Path, items: list[tuple[Path, str]]) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    for path, sha in items:
        target = landing / sha
        tmp = landing / f".{sha}.tmp"
        shutil.copyfile(path, tmp)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)


def own_file_fsync(landing: Path, items: list[tuple[Path, str]]) -> None:
    for path, sha in items:
        target = store.landed_path(landing, sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{sha}.tmp")
        with path.open("rb") as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst)
            dst.flush()
            os.fsync(dst.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)


def _pack(landing: Path, items: list[tuple[Path, str]], sync: bool) -> None:
    writer = packs.PackWriter(landing, sync=sync)
    for path, sha in items:
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
        writer.add(sha, data)
    writer.close()


OPTIONS: dict[str, Callable[[Path, list[tuple[Path, str]]], None]] = {
    "own-file": own_file,
    "own-file-flat": own_file_flat,
    "own-file-fsync": own_file_fsync,
    "pack": lambda landing, items: _pack(landing, items, True),
    "pack-nosync": lambda landing, items: _pack(landing, items, False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--options", default=",".join(OPTIONS))
    args = parser.parse_args()
    paths = sorted(p for p in args.folder.rglob("*.json"))[:args.files]
    items = [(p, store.sha256_of(p)) for p in paths]
    size = sum(p.stat().st_size for p in paths)
    names = args.options.split(",")
    print(f"{len(items):,} files, {size / 1e6:.1f} MB, {args.repeats} repeats, alternately")
    times: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    work = Path(tempfile.mkdtemp(prefix="landing-copy-", dir=ROOT / "bench" / "out"))
    try:
        for _ in range(args.repeats):
            for name in names:
                landing = work / name
                shutil.rmtree(landing, ignore_errors=True)
                wall, cpu = time.perf_counter(), time.process_time()
                OPTIONS[name](landing, items)
                times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
                shutil.rmtree(landing, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'option':<16} {'wall, median':>13} {'CPU, median':>12} {'CPU a file':>11}")
    for name in names:
        wall = statistics.median(t[0] for t in times[name])
        cpu = statistics.median(t[1] for t in times[name])
        print(f"{name:<16} {wall:>11.3f} s {cpu:>10.3f} s {1e6 * cpu / len(items):>8.0f} µs")


if __name__ == "__main__":
    main()
