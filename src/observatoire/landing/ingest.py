"""``observatoire ingest``: land files unchanged, detect their format, parse them, log the load."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import duckdb

from observatoire.config import Settings
from observatoire.errors import InputFileError
from observatoire.landing import archives, store
from observatoire.landing.archives import InputFile
from observatoire.landing.catalog import Catalog, Load
from observatoire.staging.detect import Detected, detect
from observatoire.staging.parse import parse_to_staging
from observatoire.staging.records import PARSER_VERSION
from observatoire.staging.reference_files import readable_copy, reference_relation


@dataclass
class IngestOutcome:
    """What happened to one file: ``new`` is False when the same content was already landed."""

    load: Load
    new: bool


#: Total size of new files above which they are parsed by several processes.
PARALLEL_FROM_BYTES = 16 * 1024 * 1024


def staging_path(settings: Settings, sha256: str) -> Path:
    return settings.staging_dir / f"v{PARSER_VERSION}" / f"{sha256}.parquet"


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files under the given paths, in a stable order; hidden files are skipped."""
    for path in paths:
        if not path.exists():
            raise InputFileError(
                "Ce chemin n'existe pas.",
                where=str(path),
                hint="Vérifiez l'orthographe du chemin, ou lancez la commande depuis le bon "
                "dossier.",
            )
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not any(p.startswith(".") for p in rel.parts):
                    yield child
        else:
            yield path


def ingest(
    settings: Settings,
    paths: Iterable[Path],
    source: str | None = None,
    on_file: Callable[[IngestOutcome], None] | None = None,
) -> list[IngestOutcome]:
    """Ingest every file under ``paths``. Same content twice changes nothing.

    New files are landed and parsed in parallel (``settings.workers`` processes); the load log is
    written by this process only, in the order of the paths, so load ids are stable.
    """
    settings.ensure_home()
    catalog = Catalog(settings.catalog_path)
    with archives.unpacking_folder(settings.work_dir) as folder:
        return _ingest(settings, catalog, paths, source, on_file, folder)


def _ingest(
    settings: Settings,
    catalog: Catalog,
    paths: Iterable[Path],
    source: str | None,
    on_file: Callable[[IngestOutcome], None] | None,
    folder: Path,
) -> list[IngestOutcome]:
    shas: list[str] = []
    outcomes: list[IngestOutcome | None] = []
    todo: list[tuple[int, InputFile, str]] = []
    for path in iter_files(paths):
        for item in archives.expand(path, folder):
            sha = store.sha256_of(item.path)
            previous = catalog.find(sha)
            if previous is None and sha not in shas:
                todo.append((len(outcomes), item, sha))
            shas.append(sha)
            known = IngestOutcome(previous, new=False) if previous else None
            outcomes.append(known)
            if known and on_file:
                on_file(known)
    jobs = [(settings, item, sha, source) for _, item, sha in todo]
    # Worker processes pay off only for large inputs (each one starts a fresh interpreter).
    workers = min(settings.workers, len(jobs))
    if workers > 1 and sum(item.path.stat().st_size for _, item, _ in todo) > PARALLEL_FROM_BYTES:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            loads = pool.map(_land_and_parse, *zip(*jobs, strict=True))
            _record(catalog, todo, loads, outcomes, on_file)
    else:
        _record(catalog, todo, (_land_and_parse(*job) for job in jobs), outcomes, on_file)
    for i, outcome in enumerate(outcomes):
        if outcome is None:  # same content as a file met earlier in this run
            found = catalog.find(shas[i])
            assert found is not None
            again = IngestOutcome(found, new=False)
            outcomes[i] = again
            if on_file:
                on_file(again)
    return [o for o in outcomes if o is not None]


def _record(
    catalog: Catalog,
    todo: list[tuple[int, InputFile, str]],
    loads: Iterable[Load],
    outcomes: list[IngestOutcome | None],
    on_file: Callable[[IngestOutcome], None] | None,
) -> None:
    for (slot, _, _), load in zip(todo, loads, strict=True):
        outcome = IngestOutcome(catalog.add(load), new=True)
        outcomes[slot] = outcome
        if on_file:
            on_file(outcome)


def _land_and_parse(settings: Settings, item: InputFile, sha: str, source: str | None) -> Load:
    """Land one new file and parse it into staging (runs in a worker process)."""
    started = time.perf_counter()
    landed = store.store(settings.landing_dir, item.path, sha)
    path = item.shown  # the file as the user knows it (an archive's member: "x.zip › y.json")
    load = Load(
        sha256=sha,
        source=source or Path(item.name).stem,
        file_name=item.name,
        original_path=path if item.path != Path(path) else str(item.path.resolve()),
        size_bytes=landed.stat().st_size,
        kind="unknown",
        format=None,
        format_label=None,
        records=0,
        marches=0,
        concessions=0,
        status="rejected",
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=0.0,
        parser_version=None,
    )
    try:
        det = detect(landed)
    except InputFileError as exc:
        load.errors = [
            {
                "code": "format_non_reconnu",
                "message": exc.message,
                # Name the file as the user gave it, not its landed copy.
                "where": (exc.where or str(landed)).replace(str(landed), str(path)),
                "hint": exc.hint,
            }
        ]
    else:
        load.kind, load.format, load.format_label = det.kind, det.format, det.label
        load.encoding, load.delimiter = det.encoding, det.delimiter
        if det.kind == "decp":
            result = parse_to_staging(
                landed, det, sha, staging_path(settings, sha), settings.batch_size
            )
            load.records, load.marches, load.concessions = (
                result.records,
                result.marches,
                result.concessions,
            )
            load.errors = [
                {**e, "where": e["where"].replace(str(landed), str(path))} for e in result.errors
            ]
            load.status = result.status
            load.parser_version = PARSER_VERSION
        else:
            load.records, load.status = _count_reference_rows(
                landed, det, path, load, settings.work_dir / "reference"
            )
    load.duration_s = round(time.perf_counter() - started, 3)
    return load


def _count_reference_rows(
    landed: Path, det: Detected, path: str, load: Load, work_dir: Path
) -> tuple[int, str]:
    try:
        readable = readable_copy(landed, det, work_dir)
        con = duckdb.connect()
        row = con.execute(
            # The relation is built from our own landed path, quoted by reference_relation.
            f"SELECT count(*) FROM {reference_relation(readable, det)}"  # noqa: S608
        ).fetchone()
        con.close()
    except duckdb.Error as exc:
        # DuckDB's own text is English: keep only the line it names, if any.
        line = re.search(r"[Ll]ine:? (\d+)", str(exc))
        load.errors = [
            {
                "code": "reference_illisible",
                "message": "Référentiel illisible : ses lignes ne peuvent pas être découpées en "
                "colonnes (séparateur, guillemets ou encodage)"
                + (f", à partir de la ligne {line[1]}." if line else "."),
                "where": path + (f", ligne {line[1]}" if line else ""),
                "hint": "Vérifiez le séparateur et l'encodage (UTF-8) du fichier.",
            }
        ]
        return 0, "rejected"
    return int(row[0]) if row else 0, "loaded"


def restage(settings: Settings, loads: list[Load]) -> list[Path]:
    """Staging files of the usable DECP loads; those missing (or from an older parser version)
    are parsed again from their landed file, in parallel for large inputs."""
    usable = [ld for ld in loads if ld.kind == "decp" and ld.status in ("loaded", "partial")]
    missing = [ld for ld in usable if not staging_path(settings, ld.sha256).exists()]
    jobs = [(settings, ld.sha256) for ld in missing]
    size = sum(ld.size_bytes for ld in missing)
    if min(settings.workers, len(jobs)) > 1 and size > PARALLEL_FROM_BYTES:
        with ProcessPoolExecutor(
            min(settings.workers, len(jobs)), mp_context=get_context("spawn")
        ) as pool:
            list(pool.map(_restage_one, *zip(*jobs, strict=True)))
    else:
        for job in jobs:
            _restage_one(*job)
    return [staging_path(settings, ld.sha256) for ld in usable]


def _restage_one(settings: Settings, sha: str) -> None:
    landed = store.landed_path(settings.landing_dir, sha)
    parse_to_staging(landed, detect(landed), sha, staging_path(settings, sha), settings.batch_size)
