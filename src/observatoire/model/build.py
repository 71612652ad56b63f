"""``observatoire build``: a new warehouse from the landed files, swapped in atomically.

The build writes ``warehouse.build-<id>.duckdb`` beside the warehouse in service and renames it
over ``warehouse.duckdb`` only once it is complete and checkpointed. A build that fails or is
killed leaves the previous warehouse untouched (and its leftover file is removed next time).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from stdnum.fr import siret as stdnum_siret

from observatoire import __version__
from observatoire.config import Settings
from observatoire.egalim import service as egalim_service
from observatoire.errors import ObservatoireError, storage_error
from observatoire.indicators import history as indicator_history
from observatoire.indicators import targets as changed_targets
from observatoire.indicators.profile import load_profile
from observatoire.indicators.service import compute_into
from observatoire.landing.catalog import Catalog, Load, superseded
from observatoire.landing.ingest import restage
from observatoire.model import clean, contracts
from observatoire.model import directorates as model_directorates
from observatoire.model import search as model_search
from observatoire.model.reference import build_reference_tables
from observatoire.quality import history as quality_history
from observatoire.quality.enums import enum_rows
from observatoire.quality.findings import SET_ASIDE, findings_sql, rules_rows
from observatoire.sqlquote import literal, literal_list
from observatoire.staging.records import PARSER_VERSION, SCHEMA
from observatoire.stewardship import apply as corrections
from observatoire.stewardship.store import (
    Decisions,
    StaleCorrection,
    audit_profile_targets,
    decisions,
    mark_stale,
)
from observatoire.warehouse import SCHEMA_VERSION, insert_rows, scalar, table_counts

#: Intermediate tables dropped once the model is built. They are TEMP tables, held in DuckDB's
#: memory (spilled to the work folder beyond the limit): compressing them into the warehouse file
#: cost more than the statements that computed them.
WORK_TABLES = [
    "records",
    "record_flags_work",
    "record_identity_work",
    "record_rank_work",
    "set_aside_work",
    "duplicates_work",
    "modifications_work",
    "findings_records_work",
    "findings_model_work",
]


@dataclass
class BuildSummary:
    build_id: int
    seconds: float
    tables: dict[str, int] = field(default_factory=dict)
    reconciled: bool = True
    #: Corrections this build found stale (their source value changed), now to review.
    stale_corrections: int = 0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load_table(con: duckdb.DuckDBPyConnection, loads: list[Load]) -> None:
    con.execute("""CREATE TABLE loads (load_id INTEGER, sha256 VARCHAR, source VARCHAR,
        file_name VARCHAR, original_path VARCHAR, size_bytes BIGINT, kind VARCHAR, format VARCHAR,
        format_label VARCHAR, records BIGINT, marches BIGINT, concessions BIGINT, status VARCHAR,
        error_count INTEGER, loaded_at TIMESTAMP, duration_s DOUBLE, superseded_by INTEGER)""")
    replaced = superseded(loads)
    if loads:
        con.executemany(
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    ld.load_id,
                    ld.sha256,
                    ld.source,
                    ld.file_name,
                    ld.original_path,
                    ld.size_bytes,
                    ld.kind,
                    ld.format,
                    ld.format_label,
                    ld.records,
                    ld.marches,
                    ld.concessions,
                    ld.status,
                    len(ld.errors),
                    ld.loaded_at.replace("+00:00", ""),
                    ld.duration_s,
                    replaced.get(ld.load_id or 0),
                )
                for ld in loads
            ],
        )


def _siret_checks(con: duckdb.DuckDBPyConnection) -> None:
    """Luhn check (with La Poste's exception) of every distinct SIRET, by python-stdnum."""
    sirets = [row[0] for row in con.sql(contracts.IDENTIFIERS).fetchall()]
    con.execute("CREATE TABLE siret_checks (siret VARCHAR, valid BOOLEAN)")
    if sirets:
        arrow = pa.table({"siret": sirets, "valid": [stdnum_siret.is_valid(s) for s in sirets]})
        con.register("siret_checks_arrow", arrow)
        con.execute("INSERT INTO siret_checks SELECT * FROM siret_checks_arrow ORDER BY siret")
        con.unregister("siret_checks_arrow")


def _fingerprint(loads: list[Load]) -> str:
    digest = hashlib.sha256()
    for load in sorted(loads, key=lambda ld: ld.sha256):
        digest.update(f"{load.sha256}:{load.status}\n".encode())
    return digest.hexdigest()


def _steps(
    settings: Settings, loads: list[Load], build_id: int, started_at: str,
    history_changes: list[tuple[Any, ...]], stale: list[StaleCorrection],
    quality_changes: quality_history.QualityChanges,
) -> list[tuple[str, Callable[[duckdb.DuckDBPyConnection], Any]]]:
    # Read the profile first: a mistake in it stops the build before any work.
    profile = load_profile(settings.profile)

    def staged(con: duckdb.DuckDBPyConnection) -> None:
        # A view, not a copy: each statement reads from the Parquet files only the columns it
        # needs (raw_json, kept there for provenance, is never read by the build).
        files = restage(settings, loads)
        if not files:
            files = [settings.staging_dir / "empty.parquet"]
            pq.write_table(SCHEMA.empty_table(), files[0])
        con.execute("CREATE VIEW staged_source AS SELECT * FROM "
                    f"read_parquet({literal_list(files)})")

    # What people decided, read once from the application database: the corrections and the
    # mappings in force (CPV domains here, Egalim articles and labels in the Egalim step).
    decided: list[Decisions] = []

    def corrected(con: duckdb.DuckDBPyConnection) -> None:
        # People's corrections and mappings from the application database, applied on the raw
        # values (observatoire.stewardship.apply): `staged` is `staged_source` corrected (once
        # the records step has matched them to their records).
        decided.append(decisions(settings))
        corrections.load(con, decided[0])

    def excluded(con: duckdb.DuckDBPyConnection) -> None:
        corrections.exclude(con)

    def corrections_published(con: duckdb.DuckDBPyConnection) -> None:
        stale.extend(corrections.publish(con))

    def references(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "CREATE TABLE ref_enum_values (field VARCHAR, key VARCHAR, canonical VARCHAR, "
            "obsolete BOOLEAN)"
        )
        insert_rows(con, "ref_enum_values", enum_rows())
        con.execute(
            "CREATE TABLE quality_rules (rule_id VARCHAR, severity VARCHAR, field VARCHAR, "
            "title VARCHAR, explanation VARCHAR, hint VARCHAR, source VARCHAR)"
        )
        insert_rows(con, "quality_rules", rules_rows())
        build_reference_tables(con, loads, settings.landing_dir, settings.work_dir / "reference")

    def records(con: duckdb.DuckDBPyConnection) -> None:
        # which records the corrections are on (their published identity needs the reference
        # tables), so that `staged` carries their corrected values
        corrections.match(con)
        con.execute(clean.RECORDS)
        con.execute(clean.RECORD_HOLDERS)
        con.execute(contracts.RECORD_FLAGS)
        _siret_checks(con)

    def record_findings(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(findings_sql("findings_records_work", {"record", "holder"}))
        con.execute(SET_ASIDE)

    def model(con: duckdb.DuckDBPyConnection) -> None:
        for sql in (
            contracts.IDENTITY,
            *corrections.PUBLISHED_IDENTITY,
            *contracts.IDENTITY_APPLIED,
            contracts.RANK,
            contracts.DUPLICATES,
            contracts.SOURCE_RECORDS,
            contracts.MODIFICATIONS,
            contracts.CONTRACT_VERSIONS,
            contracts.CONTRACT_HOLDERS,
            contracts.SUBCONTRACTS,
            contracts.CONCESSION_EXECUTION,
            contracts.SUPPLIERS,  # before contracts, which list their holders' categories
            contracts.CONTRACTS,
            contracts.BUYERS,
            contracts.OVERLAP,
            contracts.RECONCILIATION,
        ):
            con.execute(sql)

    def model_findings(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(findings_sql("findings_model_work",
                                 {"identity", "version", "subcontract", "duplicate"}))
        # A finding's id is a digest of what it says (record, rule, field, values): the same
        # finding keeps its id from one build to the next, and no global sort is needed. The
        # provenance comes from records (source_records copies it from there: one join, not two).
        con.execute(f"""CREATE TABLE findings AS
            SELECT md5(concat_ws('|', f.record_key, f.rule_id, f.field,
                                 COALESCE(f.raw_value, '∅'), COALESCE(f.value, '∅'))) AS finding_id,
                f.rule_id, f.severity, f.field, f.record_key, r.file_hash, r.position, r.line,
                r.load_id, r.file_name, f.uid, r.buyer_siret, f.raw_value, f.value,
                CAST(NULL AS VARCHAR) AS directorate_id,
                {quality_history.FOLLOW_KEY} AS follow_key
            FROM (SELECT * FROM findings_records_work
                  UNION ALL SELECT * FROM findings_model_work) f
            JOIN records r ON r.record_key = f.record_key""")

    def finish(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("ALTER TABLE contract_versions DROP COLUMN contract_notification_date")
        # In staging order (file, record, holder), which record_holders keeps: no sort needed.
        con.execute("CREATE TABLE source_record_holders AS SELECT * FROM record_holders")
        con.execute("DROP TABLE record_holders")
        con.execute("DROP VIEW IF EXISTS staged")
        con.execute("DROP VIEW IF EXISTS staged_source")
        for table in WORK_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute("DROP MACRO IF EXISTS enum_key")

    def egalim(con: duckdb.DuckDBPyConnection) -> None:
        egalim_service.build_into(con, settings, profile, loads, decided[0].mappings)

    def indicators(con: duckdb.DuckDBPyConnection) -> None:
        recorded_at = started_at.replace("+00:00", "")
        history_changes.extend(compute_into(con, settings, profile, build_id, recorded_at,
                                            decided[0].target_changes))

    def directorates(con: duckdb.DuckDBPyConnection) -> None:
        # after the indicators: the purchase domain is theirs (profile + decided mappings)
        model_directorates.assign(con, profile)

    def quality_snapshot(con: duckdb.DuckDBPyConnection) -> None:
        # compared with the warehouse still in service; committed once this one replaces it
        staged_changes = quality_history.stage(
            con, settings.catalog_path, settings.warehouse_path, build_id,
            started_at.replace("+00:00", ""), profile.id)
        quality_changes.builds.extend(staged_changes.builds)
        quality_changes.rows.extend(staged_changes.rows)

    return [
        ("Lecture des fichiers déposés", staged),
        ("Corrections des gestionnaires (redressements)", corrected),
        ("Référentiels (CPV, géographie, SIRENE)", references),
        ("Nettoyage des enregistrements", records),
        ("Règles de qualité", record_findings),
        ("Marchés exclus par les gestionnaires", excluded),
        ("Modèle : marchés, versions, titulaires, acheteurs", model),
        ("Constats sur le modèle", model_findings),
        ("Recherche : noms officiels et index des noms", model_search.build),
        ("Valeurs corrigées et valeurs publiées", corrections_published),
        ("Finalisation", finish),
        ("Egalim : achats alimentaires des cantines", egalim),
        ("Indicateurs du SPASER", indicators),
        ("Directions des marchés", directorates),
        ("Historique de la qualité des données", quality_snapshot),
    ]


def _audit_profile_targets(settings: Settings, build_id: int, started_at: str) -> None:
    """Targets changed in the profile's files since the last build of this profile: one audit
    event (once this build's warehouse is in service), then the new snapshot in the catalog."""
    profile = load_profile(settings.profile)
    now = changed_targets.snapshot(profile)
    before = changed_targets.last_snapshot(settings.catalog_path, profile.id)
    if before == now:
        return
    if before is not None:
        changes = changed_targets.differences(before, now)
        if not audit_profile_targets(settings, profile.id, build_id, changes):
            return
    changed_targets.record_snapshot(settings.catalog_path, profile.id, build_id,
                                    started_at.replace("+00:00", ""), now)


def discard(tmp: Path) -> None:
    """Remove a warehouse file that will not be put in service (and its WAL)."""
    tmp.unlink(missing_ok=True)
    Path(str(tmp) + ".wal").unlink(missing_ok=True)


def connect_for_writing(path: Path, settings: Settings) -> duckdb.DuckDBPyConnection:
    """A connection to a warehouse being written, with the configured memory, threads, spill."""
    con = duckdb.connect(str(path))
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


def memory_error(settings: Settings) -> ObservatoireError:
    """What to tell the user when DuckDB runs out of its memory limit."""
    return ObservatoireError(
        f"La mémoire allouée à DuckDB ({settings.memory_limit}) ne suffit pas pour "
        "construire l'entrepôt, même en débordant sur le disque.",
        where=str(settings.work_dir),
        hint="Augmentez OBSERVATOIRE_MEMORY_LIMIT (par exemple 1500MB) ou libérez de la "
        "place sur le disque du dossier de données.",
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
                Catalog(settings.catalog_path).mark_interrupted(_now())
                remove_leftovers(settings)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    except OSError:  # a home this process may only read: shown as the catalog says
        return


def build(settings: Settings, on_step: Callable[[str], None] | None = None) -> BuildSummary:
    settings.ensure_home()
    with build_lock(settings):
        return _build(settings, on_step)


def _build(settings: Settings, on_step: Callable[[str], None] | None) -> BuildSummary:
    catalog = Catalog(settings.catalog_path)
    remove_leftovers(settings)
    catalog.mark_interrupted(_now())
    all_loads = catalog.loads()
    replaced = superseded(all_loads)
    loads = [ld for ld in all_loads if ld.load_id not in replaced]
    started_at = _now()
    build_id = catalog.start_build(started_at)
    tmp = settings.home / f"warehouse.build-{build_id}.duckdb"
    t0 = time.perf_counter()
    stale: list[StaleCorrection] = []
    quality_changes = quality_history.QualityChanges()
    try:
        con = connect_for_writing(tmp, settings)
        try:
            for statement in clean.MACROS.split(";"):
                if statement.strip():
                    con.execute(statement)
            _load_table(con, all_loads)
            history_changes: list[tuple[Any, ...]] = []
            for label, step in _steps(settings, loads, build_id, started_at, history_changes,
                                      stale, quality_changes):
                if on_step:
                    on_step(label)
                step(con)
            finished_at = _now()
            tables = table_counts(con)
            reconciled = bool(
                scalar(con, "SELECT COALESCE(bool_and(balanced), true) FROM reconciliation")
            )
            con.execute("""CREATE TABLE build_info (build_id INTEGER, started_at TIMESTAMP,
                finished_at TIMESTAMP, parser_version VARCHAR, software_version VARCHAR,
                input_fingerprint VARCHAR, reconciled BOOLEAN, schema_version INTEGER)""")
            con.execute(
                "INSERT INTO build_info VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    build_id,
                    started_at.replace("+00:00", ""),
                    finished_at.replace("+00:00", ""),
                    PARSER_VERSION,
                    __version__,
                    _fingerprint(loads),
                    reconciled,
                    SCHEMA_VERSION,
                ],
            )
            con.execute("CHECKPOINT")
        finally:
            con.close()
        swap_in(tmp, settings)
        indicator_history.commit(settings.catalog_path, history_changes)
        quality_history.commit(settings.catalog_path, quality_changes)
        mark_stale(settings, stale, build_id)
        _audit_profile_targets(settings, build_id, started_at)
    except duckdb.OutOfMemoryException as exc:
        discard(tmp)
        catalog.finish_build(build_id, _now(), "failed", f"{type(exc).__name__}: {exc}", {})
        # DuckDB says "out of memory" too when the disk it spills to is full
        raise (storage_error(exc, settings.home) or memory_error(settings)) from exc
    except BaseException as exc:
        discard(tmp)
        catalog.finish_build(build_id, _now(), "failed", f"{type(exc).__name__}: {exc}", {})
        raise
    seconds = round(time.perf_counter() - t0, 2)
    summary = BuildSummary(build_id, seconds, tables, reconciled, len(stale))
    catalog.finish_build(
        build_id,
        finished_at,
        "succeeded",
        None,
        {"seconds": seconds, "tables": tables, "reconciled": reconciled},
    )
    return summary
