"""The one landing loop: every source kind's files are landed unchanged, recognised, parsed by
their kind's connector (:mod:`observatoire.connectors`) and logged in the load log.

``observatoire ingest`` (kinds recognised from content), ``observatoire egalim importer`` and
``observatoire egalim matrice`` (kinds named, with their options) and the collector all come in
here. The same content twice changes nothing (unless the kind parses a refused file again with
new options). Many files are parsed by one pool of worker processes, started once, each worker
taking its files by batches; the load log is written by this process only, in the order of the
paths (load ids are stable), a batch of lines per transaction.
"""

from __future__ import annotations

import gc
import hashlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from observatoire.config import Settings
from observatoire.connector import Landed
from observatoire.connectors import registry
from observatoire.connectors.decp import RECORDS
from observatoire.errors import InputFileError
from observatoire.landing import archives, packs, store
from observatoire.landing.archives import InputFile
from observatoire.landing.catalog import Catalog, Load, flow_name
from observatoire.landing.packs import Packed, PackWriter
from observatoire.staging.detect import Detected, detect


@dataclass
class IngestOutcome:
    """What happened to one file: ``new`` is False when the same content was already landed;
    ``report`` is the kind's own report of a new file (Egalim lines, matrices), if any."""

    load: Load
    new: bool
    report: Any = None


#: Worker processes pay off only for large inputs or many files (each one starts a fresh
#: interpreter, about a second): above this total size of new files…
PARALLEL_FROM_BYTES = 16 * 1024 * 1024
#: …or from this many new files.
PARALLEL_FROM_FILES = 64
#: Load-log lines written per transaction (one commit costs a disk sync).
CATALOG_BATCH = 500

def staging_path(settings: Settings, sha256: str) -> Path:
    """The staging file of a DECP load."""
    return RECORDS.path(settings, sha256)


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
    """Ingest every file under ``paths``, each recognised from its content."""
    return land(settings, paths, source=source, on_file=on_file)


def land(
    settings: Settings,
    paths: Iterable[Path],
    *,
    kind: str | None = None,
    options: Any = None,
    source: str | None = None,
    on_file: Callable[[IngestOutcome], None] | None = None,
) -> list[IngestOutcome]:
    """Land, parse and log every file under ``paths``: of the kind named (with its
    ``options``), or of the kind recognised from each file's content (``kind=None``).
    ``source`` defaults to each file's flow (:func:`flow_name`)."""
    settings.ensure_home()
    catalog = Catalog(settings.catalog_path)
    with archives.unpacking_folder(settings.work_dir) as folder:
        return _land(settings, catalog, paths, kind, options, source, on_file, folder)


@dataclass
class _Job:
    slot: int
    item: InputFile
    sha: str
    previous: Load | None  # parsed again: its load-log line is updated


def _land(settings: Settings, catalog: Catalog, paths: Iterable[Path], kind: str | None,
          options: Any, source: str | None, on_file: Callable[[IngestOutcome], None] | None,
          folder: Path) -> list[IngestOutcome]:
    named = registry.connector(kind) if kind is not None else None
    expand = named.expand_archives if named is not None else True
    items = [item for path in iter_files(paths)
             for item in (archives.expand(path, folder) if expand else [archives.plain(path)])]
    shas = [store.sha256_of(item.path) for item in items]
    known = catalog.find_many(shas)
    outcomes: list[IngestOutcome | None] = []
    todo: list[_Job] = []
    queued: set[str] = set()
    for item, sha in zip(items, shas, strict=True):
        previous = known.get(sha)
        again = (previous is not None and named is not None and named.parse_again is not None
                 and named.parse_again(previous, options))
        if (previous is None or again) and sha not in queued:
            todo.append(_Job(len(outcomes), item, sha, previous if again else None))
            queued.add(sha)
            outcomes.append(None)
            continue
        if sha in queued:  # the same content as a file met earlier in this run
            outcomes.append(None)
            continue
        assert previous is not None
        done = IngestOutcome(previous, new=False)
        outcomes.append(done)
        if on_file:
            on_file(done)
    args = [(settings, kind, options, job.item, job.sha, source) for job in todo]
    workers = min(settings.workers, len(args))
    parallel = named.parallel if named is not None else True
    big = sum(job.item.path.stat().st_size for job in todo) > PARALLEL_FROM_BYTES
    if parallel and workers > 1 and (big or len(args) >= PARALLEL_FROM_FILES):
        # One pool for the whole run; each worker takes its files by batches (a few batches
        # per worker), so a small file costs its parse, not a process's start-up, and the
        # small files of a batch share their staging files.
        size = max(1, math.ceil(len(todo) / (workers * 4)))
        batches = [[(job.item, job.sha) for job in todo[i:i + size]]
                   for i in range(0, len(todo), size)]
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            parsed = pool.map(_land_and_parse_batch, [settings] * len(batches),
                              [kind] * len(batches), [options] * len(batches), batches,
                              [source] * len(batches))
            _record(catalog, todo, (r for batch in parsed for r in batch), outcomes, on_file)
    else:
        one_by_one = (_land_and_parse(*a) for a in args)
        _record(catalog, todo, ((load, report, [], []) for load, report, _ in one_by_one),
                outcomes, on_file)
    again_known: dict[str, Load] = {}
    for i, outcome in enumerate(outcomes):
        if outcome is None:  # the same content as a file met earlier in this run
            sha = shas[i]
            if sha not in again_known:
                found = catalog.find(sha)
                assert found is not None
                again_known[sha] = found
            outcomes[i] = repeat = IngestOutcome(again_known[sha], new=False)
            if on_file:
                on_file(repeat)
    return [o for o in outcomes if o is not None]


#: What a parse gives back: the load-log line, the kind's report, where its rows went when
#: they joined a batch file: [(staging table, path under staging/)], and where its bytes are
#: when it was landed in a pack ([] or [its pack entry]).
_Result = tuple[Load, Any, list[tuple[str, str]], list[Packed]]


def _record(catalog: Catalog, todo: list[_Job], results: Iterable[_Result],
            outcomes: list[IngestOutcome | None],
            on_file: Callable[[IngestOutcome], None] | None) -> None:
    """Log the parsed files, a batch per transaction (a file is logged once its parse is
    done: a run stopped in between lands it again next time, the same content, no loss)."""
    batch: list[tuple[_Job, Load, Any, list[tuple[str, str]], list[Packed]]] = []

    def flush() -> None:
        catalog.add_all([load for job, load, _, _, _ in batch if job.previous is None],
                        [(load.sha256, table, path)
                         for _, load, _, staged, _ in batch for table, path in staged],
                        [entry for *_, packed in batch for entry in packed])
        for job, load, report, _, _ in batch:
            if job.previous is not None:
                load.load_id = job.previous.load_id
                catalog.replace(load)
            outcomes[job.slot] = done = IngestOutcome(load, new=True, report=report)
            if on_file:
                on_file(done)
        batch.clear()

    started = time.monotonic()
    try:
        for job, (load, report, staged, packed) in zip(todo, results, strict=True):
            batch.append((job, load, report, staged, packed))
            # A batch per transaction, and progress shown at least every second.
            if len(batch) >= CATALOG_BATCH or time.monotonic() - started > 1.0:
                flush()
                started = time.monotonic()
    finally:  # what was parsed before a failure is logged all the same
        flush()


#: Input bytes of small files whose rows a worker keeps before writing them as one file.
BATCH_BYTES = 16 * 1024 * 1024


def _land_and_parse_batch(settings: Settings, kind: str | None, options: Any,
                          items: list[tuple[InputFile, str]], source: str | None
                          ) -> list[_Result]:
    """Land and parse a batch of files in a worker process: its small files are landed into
    packs (:mod:`observatoire.landing.packs`) and their rows written together, one Parquet file
    per staging table (every ``BATCH_BYTES`` of input)."""
    results: list[_Result] = []
    packer = PackWriter(settings.landing_dir)
    collect: dict[str, list[dict[str, Any]]] = {}
    pending: list[_Result] = []  # files whose rows are in ``collect``
    held = 0

    def write() -> None:
        nonlocal held
        shas = sorted(load.sha256 for load, *_ in pending)
        name = hashlib.sha256("\n".join(shas).encode()).hexdigest()
        written: dict[str, str] = {}
        for table_name, rows in collect.items():
            table = registry.staging_table(table_name)
            written[table_name] = rel = f"{table.folder}/lots/{name}.parquet"
            out = settings.staging_dir / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".tmp")
            # One table, so one row group (a row group per small file costs ~5 ms each).
            pq.write_table(table.to_arrow(rows), tmp, compression="zstd")
            tmp.replace(out)
        for _, _, staged, _ in pending:
            staged[:] = [(t, written[t]) for t, _ in staged]
        collect.clear()
        pending.clear()
        held = 0

    # The rows held (up to BATCH_BYTES of input: a few hundred thousand objects, none in a
    # reference cycle) made Python's cyclic garbage collector walk them again and again: a
    # fifth of a small file's parse. It is paused for the batch and run once at its end.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for item, sha in items:
            load, report, collected = _land_and_parse(settings, kind, options, item, sha,
                                                      source, collect, packer)
            result: _Result = (load, report, [(t, "") for t in collected], [])
            results.append(result)
            if collected:
                pending.append(result)
                held += load.size_bytes
                if held >= BATCH_BYTES:
                    write()
        if pending:
            write()
        # The packs are whole and on disk before any of their files is logged.
        where = {entry.sha256: entry for entry in packer.close()}
        for load, _, _, packed in results:
            if load.sha256 in where:
                packed.append(where[load.sha256])
    except BaseException:
        packer.abandon()
        raise
    finally:
        if collecting:
            gc.enable()
        gc.collect()
    return results


def _land_and_parse(settings: Settings, kind: str | None, options: Any, item: InputFile,
                    sha: str, source: str | None,
                    collect: dict[str, list[dict[str, Any]]] | None = None,
                    packer: PackWriter | None = None,
                    ) -> tuple[Load, Any, tuple[str, ...]]:
    """Land one new file and parse it with its kind's connector (in a worker process for
    large inputs or many files); the kind's report comes back with its load-log line, and the
    staging tables whose rows went to ``collect``. With a ``packer`` (a worker's batch), a
    small file is landed into the batch's pack and parsed where it was read: the same bytes,
    checked against its hash."""
    started = time.perf_counter()
    shown = item.shown  # the file as the user knows it (an archive's member: "x.zip › y.json")
    size = item.path.stat().st_size
    changed = False
    if packer is not None and size < packs.PACKED_BELOW:
        data = item.path.read_bytes()
        changed = hashlib.sha256(data).hexdigest() != sha
        if not changed:
            packer.add(sha, data)
        landed, size = item.path, len(data)
    else:
        landed = store.store(settings.landing_dir, item.path, sha)
        size = landed.stat().st_size
    load = Load(
        sha256=sha,
        source=source or flow_name(item.name),
        file_name=item.name,
        original_path=shown if item.path != Path(shown) else str(item.path.resolve()),
        size_bytes=size,
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
    if changed:
        # Written to while it was being ingested: nothing of it is landed or parsed.
        load.errors = [{
            "code": "fichier_modifie",
            "message": "Le fichier a changé pendant son dépôt : il n'a été ni déposé ni lu.",
            "where": shown,
            "hint": "Déposez-le à nouveau une fois son écriture terminée.",
        }]
        load.duration_s = round(time.perf_counter() - started, 3)
        return load, None, ()
    det: Detected | None
    try:
        if kind is None:
            connector, det = registry.detect(landed)
        else:
            connector = registry.connector(kind)
            det = connector.detect(landed) if connector.detect is not None else None
    except InputFileError as exc:
        load.errors = [
            {
                "code": "format_non_reconnu",
                "message": exc.message,
                # Name the file as the user gave it, not its landed copy.
                "where": (exc.where or str(landed)).replace(str(landed), shown),
                "hint": exc.hint,
            }
        ]
        load.duration_s = round(time.perf_counter() - started, 3)
        return load, None, ()
    load.kind = connector.kind
    if det is not None:
        load.format, load.format_label = det.format, det.label
        load.encoding, load.delimiter = det.encoding, det.delimiter
    parsed = connector.parse(Landed(settings, landed, item.path, shown, sha, det, options,
                                    collect))
    load.status, load.records = parsed.status, parsed.records
    load.marches, load.concessions = parsed.marches, parsed.concessions
    load.errors, load.parser_version = parsed.errors, parsed.parser_version
    for name in ("format", "format_label", "encoding", "delimiter"):
        if getattr(parsed, name) is not None:
            setattr(load, name, getattr(parsed, name))
    load.duration_s = round(time.perf_counter() - started, 3)
    return load, parsed.report, parsed.collected


def restage(settings: Settings, loads: list[Load]) -> list[Path]:
    """Staging files of the usable DECP loads; those missing (or from an older parser version)
    are parsed again from their landed file (of its own or in a pack), in parallel for large
    inputs."""
    usable = [ld for ld in loads if ld.kind == "decp" and ld.status in ("loaded", "partial")]
    files = _staged_files(settings, usable)
    missing = [ld for ld in usable if staging_path(settings, ld.sha256) in files
               and not staging_path(settings, ld.sha256).exists()]
    packed = Catalog(settings.catalog_path).packed(ld.sha256 for ld in missing)
    jobs = [(settings, ld.sha256, ld.original_path, packed.get(ld.sha256)) for ld in missing]
    size = sum(ld.size_bytes for ld in missing)
    workers = min(settings.workers, len(jobs))
    if workers > 1 and (size > PARALLEL_FROM_BYTES or len(jobs) >= PARALLEL_FROM_FILES):
        chunk = max(1, math.ceil(len(jobs) / (workers * 8)))
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            list(pool.map(_restage_one, *zip(*jobs, strict=True), chunksize=chunk))
    else:
        for job in jobs:
            _restage_one(*job)
    return files


def _staged_files(settings: Settings, usable: list[Load]) -> list[Path]:
    """Where the rows of the usable DECP loads are: a batch file (many small files parsed
    together) when every file in it is still in force, else the file's own staging file (a
    batch holding a superseded file is not read: its other files are staged again alone)."""
    batched = {sha: rel for sha, rel in
               Catalog(settings.catalog_path).staging_batches(RECORDS.name).items()
               if rel.startswith(f"{RECORDS.folder}/")}  # of this parser version only
    members: dict[str, set[str]] = {}
    for sha, rel in batched.items():
        members.setdefault(rel, set()).add(sha)
    in_force = {ld.sha256 for ld in usable}
    files: list[Path] = []
    taken: set[str] = set()
    for load in usable:
        lot = batched.get(load.sha256)
        if lot is not None and members[lot] <= in_force and (settings.staging_dir / lot).exists():
            if lot not in taken:
                taken.add(lot)
                files.append(settings.staging_dir / lot)
            continue
        files.append(staging_path(settings, load.sha256))
    return files


def _restage_one(settings: Settings, sha: str, shown: str, entry: Packed | None) -> None:
    from observatoire.staging.parse import parse_to_staging

    landed = store.landed_copy(settings, sha, shown, entry)
    if landed is None:
        raise packs.DamagedLanding(
            "La copie déposée de ce fichier est introuvable : il ne peut pas être relu.",
            where=f"{shown} ({store.landed_path(settings.landing_dir, sha)})",
            hint="Restaurez le dossier « landing » du répertoire de données depuis une "
            "sauvegarde.")
    try:
        parse_to_staging(landed, detect(landed), sha, staging_path(settings, sha),
                         settings.batch_size)
    finally:
        if entry is not None and landed != store.landed_path(settings.landing_dir, sha):
            landed.unlink(missing_ok=True)  # a copy taken out of its pack for this parse
