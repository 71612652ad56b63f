"""``observatoire ingest``: land files unchanged, detect their format, parse them, log the load."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from observatoire.config import Settings
from observatoire.errors import InputFileError
from observatoire.landing import store
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
    """Ingest every file under ``paths``. Same content twice changes nothing."""
    settings.ensure_home()
    catalog = Catalog(settings.catalog_path)
    outcomes = []
    for path in iter_files(paths):
        outcome = ingest_file(settings, catalog, path, source)
        outcomes.append(outcome)
        if on_file:
            on_file(outcome)
    return outcomes


def ingest_file(
    settings: Settings, catalog: Catalog, path: Path, source: str | None
) -> IngestOutcome:
    started = time.perf_counter()
    sha = store.sha256_of(path)
    previous = catalog.find(sha)
    if previous is not None:
        return IngestOutcome(previous, new=False)
    landed = store.store(settings.landing_dir, path, sha)
    load = Load(
        sha256=sha,
        source=source or path.stem,
        file_name=path.name,
        original_path=str(path.resolve()),
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
    return IngestOutcome(catalog.add(load), new=True)


def _count_reference_rows(
    landed: Path, det: Detected, path: Path, load: Load, work_dir: Path
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
        load.errors = [
            {
                "code": "reference_illisible",
                "message": f"Référentiel illisible : {exc}.",
                "where": str(path),
                "hint": "Vérifiez le séparateur et l'encodage (UTF-8) du fichier.",
            }
        ]
        return 0, "rejected"
    return int(row[0]) if row else 0, "loaded"
