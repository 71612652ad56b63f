"""``observatoire build``: a new warehouse from the landed files, by the declared pipeline.

The stages contribute their steps (``<stage>/steps.py``); :func:`core_steps` lists them, a
source kind may add its own (``contributed``), and :mod:`observatoire.pipeline` orders and runs
them, timing each one into the build log of the catalog. The warehouse is written beside the
one in service and swapped in whole (:mod:`observatoire.warehouse_writer`). What a build hands
to people once its warehouse is in service (indicator and quality history, corrections found
stale, changed targets) is committed after the swap, never before.

This module is the one place that knows every stage: no stage imports it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from observatoire import __version__
from observatoire import pipeline as pl
from observatoire.config import Settings
from observatoire.connectors import registry
from observatoire.errors import storage_error
from observatoire.indicators import history as indicator_history
from observatoire.indicators import steps as indicator_steps
from observatoire.indicators import targets as changed_targets
from observatoire.indicators.profile import Profile, load_profile
from observatoire.landing import steps as landing_steps
from observatoire.landing.catalog import Catalog, Load, superseded
from observatoire.lookups import STEPS as lookup_steps
from observatoire.model import steps as model_steps
from observatoire.quality import history as quality_history
from observatoire.quality import steps as quality_steps
from observatoire.sqlquote import identifier
from observatoire.staging.records import PARSER_VERSION
from observatoire.stewardship import steps as stewardship_steps
from observatoire.stewardship.store import (
    Decisions,
    audit_profile_targets,
    decisions,
    mark_stale,
    target_changes,
)
from observatoire.warehouse import SCHEMA_VERSION, open_warehouse, scalar, table_counts
from observatoire.warehouse_writer import (
    build_lock,
    connect_for_writing,
    discard,
    memory_error,
    now,
    remove_leftovers,
    swap_in,
)

#: The order the stages' steps are given in. The runner keeps it wherever what they read and
#: write allows (the writers of one table run in this order: the first makes it).
CORE_ORDER = (
    "modele.macros",
    "depot.chargements",
    "staging.decp",
    "gestion.corrections",
    "modele.referentiels",
    "referentiels.fichiers",
    "gestion.rattachement",
    "modele.enregistrements",
    "qualite.enregistrements",
    "gestion.exclusions",
    "modele.identite",
    "gestion.identite",
    "modele.marches",
    "modele.index",
    "qualite.modele",
    "modele.recherche",
    "gestion.publication",
    "modele.finalisation",
    "site.index",
    "egalim.lignes",
    "egalim.matrices",
    "egalim.resultats",
    "paiements.depot",
    "paiements.modele",
    "paiements.qualite",
    "modele.directions",
    "paiements.indicateurs",  # B03/B04 are broken down by the directorates
    "indicateurs",
    "qualite.historique",
)


def core_steps() -> list[pl.Step]:
    """Every stage's steps and those the registered source kinds contribute
    (:func:`observatoire.connectors.registry.steps`), in :data:`CORE_ORDER`; a kind's step
    that order does not name comes after, placed by the runner by what it reads and writes."""
    by_name = {s.name: s for s in (*landing_steps.STEPS, *stewardship_steps.STEPS,
                                   *model_steps.STEPS, *quality_steps.STEPS,
                                   *indicator_steps.STEPS, *lookup_steps, *registry.steps())}
    return [by_name[name] for name in CORE_ORDER] + [
        step for name, step in by_name.items() if name not in CORE_ORDER]


@dataclass
class BuildSummary:
    build_id: int
    seconds: float
    tables: dict[str, int] = field(default_factory=dict)
    reconciled: bool = True
    #: Corrections this build found stale (their source value changed), now to review.
    stale_corrections: int = 0
    #: How long each step took, in the order they ran (also in the build log).
    steps: list[pl.Timing] = field(default_factory=list)
    #: ``incremental`` or ``complet``, and why (in French: shown by ``build`` and ``status``).
    mode: str = "complet"
    mode_reason: str = ""


def _fingerprint(loads: list[Load]) -> str:
    digest = hashlib.sha256()
    for load in sorted(loads, key=lambda ld: ld.sha256):
        digest.update(f"{load.sha256}:{load.status}\n".encode())
    return digest.hexdigest()


def _audit_profile_targets(settings: Settings, profile: Profile, build_id: int,
                           started_at: str) -> None:
    """Targets changed in the profile's files since the last build of this profile: one audit
    event (once this build's warehouse is in service), then the new snapshot in the catalog."""
    current = changed_targets.snapshot(profile)
    before = changed_targets.last_snapshot(settings.catalog_path, profile.id)
    if before == current:
        return
    if before is not None:
        changes = changed_targets.differences(before, current)
        if not audit_profile_targets(settings, profile.id, build_id, changes):
            return
    changed_targets.record_snapshot(settings.catalog_path, profile.id, build_id,
                                    started_at.replace("+00:00", ""), current)


def build(settings: Settings, on_step: Callable[[str], None] | None = None,
          contributed: Sequence[pl.Step] = (), *, complete: bool = False) -> BuildSummary:
    """Build a new warehouse and put it in service. ``contributed``: steps a source kind adds
    to the core ones (:func:`core_steps`); the runner places them by what they read and write.

    The build is incremental when it can be (:mod:`observatoire.build_incremental`: only the
    contracts the new or superseded files touch are recomputed, on a copy of the warehouse in
    service), else complete; ``complete`` forces the complete build, the reference."""
    steps = [*core_steps(), *contributed]
    pl.order(steps)  # a mistake in the declarations stops here, before any work
    settings.ensure_home()
    with build_lock(settings):
        return _build(settings, on_step, steps, complete)


def _canonical(value: Any) -> Any:
    """``value`` as JSON that does not depend on the process (sets and dicts sorted: the order
    of a set of strings changes from one process to the next)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return sorted(([_canonical(k), _canonical(v)] for k, v in value.items()), key=repr)
    if isinstance(value, (set, frozenset)):
        return sorted((_canonical(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def profile_fingerprint(profile: Profile) -> str:
    """A digest of the profile as the build reads it (a change makes the next build complete)."""
    return hashlib.sha256(json.dumps(_canonical(profile)).encode()).hexdigest()


def decisions_fingerprint(decided: Decisions) -> str:
    """A digest of what people decided (corrections, mappings, targets changed)."""
    text = json.dumps([decided.corrections, decided.mappings, decided.target_changes],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _build(settings: Settings, on_step: Callable[[str], None] | None,
           steps: list[pl.Step], complete: bool) -> BuildSummary:
    from observatoire import build_incremental

    catalog = Catalog(settings.catalog_path)
    remove_leftovers(settings)
    catalog.mark_interrupted(now())
    all_loads = catalog.loads()
    replaced = superseded(all_loads)
    loads = [ld for ld in all_loads if ld.load_id not in replaced]
    started_at = now()
    build_id = catalog.start_build(started_at)
    tmp = settings.home / f"warehouse.build-{build_id}.duckdb"
    t0 = time.perf_counter()
    try:
        # Read the profile first: a mistake in it stops the build before any work.
        profile = load_profile(settings.profile)
        decided = decisions(settings)
        fingerprints = {"profile_fingerprint": profile_fingerprint(profile),
                        "decisions_fingerprint": decisions_fingerprint(decided)}
        plan = build_incremental.Plan("complet", "construction complète demandée (--complet)")
        if not complete:
            plan = build_incremental.plan(settings, catalog, all_loads, fingerprints)
        ctx: pl.BuildContext | None = None
        if plan.mode == "incremental":
            try:
                ctx, timings = build_incremental.run(settings, plan, profile, decided, steps,
                                                     build_id, started_at, tmp, loads,
                                                     all_loads, on_step)
                # once it succeeded (a fallback logs the full build)
                catalog.record_steps(build_id, timings)
            except build_incremental.Fallback as why:
                discard(tmp)
                plan = build_incremental.Plan("complet", str(why))
        if ctx is None:
            con = connect_for_writing(tmp, settings)
            try:
                ctx = pl.BuildContext(con, settings, profile, loads, build_id, started_at,
                                      all_loads=all_loads, shared={pl.DECISIONS: decided})
                timings = pl.run(ctx, steps, on_step=on_step,
                                 on_timing=lambda timing: catalog.record_step(build_id, timing))
            except BaseException:
                con.close()
                raise
        con = ctx.con
        try:
            finished_at = now()
            tables = table_counts(con)
            reconciled = bool(
                scalar(con, "SELECT COALESCE(bool_and(balanced), true) FROM reconciliation")
            )
            con.execute("DROP TABLE IF EXISTS build_info")
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
        indicator_history.commit(settings.catalog_path,
                                 ctx.shared.get(indicator_steps.HISTORY, []))
        quality_history.commit(settings.catalog_path, ctx.shared.get(
            quality_steps.CHANGES, quality_history.QualityChanges()))
        stale = ctx.shared.get(stewardship_steps.STALE, [])
        mark_stale(settings, stale, build_id)
        _audit_profile_targets(settings, profile, build_id, started_at)
    except duckdb.OutOfMemoryException as exc:
        discard(tmp)
        catalog.finish_build(build_id, now(), "failed", f"{type(exc).__name__}: {exc}", {})
        # DuckDB says "out of memory" too when the disk it spills to is full
        raise (storage_error(exc, settings.home) or memory_error(settings)) from exc
    except BaseException as exc:
        discard(tmp)
        catalog.finish_build(build_id, now(), "failed", f"{type(exc).__name__}: {exc}", {})
        raise
    seconds = round(time.perf_counter() - t0, 2)
    summary = BuildSummary(build_id, seconds, tables, reconciled, len(stale), timings,
                           plan.mode, plan.reason)
    catalog.finish_build(
        build_id,
        finished_at,
        "succeeded",
        None,
        {"seconds": seconds, "tables": tables, "reconciled": reconciled, "mode": plan.mode,
         "mode_reason": plan.reason, **fingerprints},
    )
    return summary


@dataclass
class IndicatorRun:
    profile: Profile
    results: int
    seconds: float
    history_changes: int
    #: The steps run again: the directorate and indicator steps and those that read what they
    #: write.
    steps: list[pl.Timing] = field(default_factory=list)


def recompute_indicators(settings: Settings) -> IndicatorRun:
    """``observatoire indicators``: the directorate and indicator steps and what follows them,
    run again on the warehouse in service.

    The warehouse is copied, the steps run on the copy (what they write dropped first), and it
    replaces the one in service atomically, as a build does: readers never see half-computed
    results. Steps that record the build itself (its quality snapshot) are not run again.
    """
    profile = load_profile(settings.profile)
    if not settings.warehouse_path.exists():
        open_warehouse(settings)  # raises the clear "no warehouse yet" error
    # Before the lock: an unreachable database stops here. Only the targets are read: the
    # corrections and mappings were applied by the build, whose tables are kept.
    decided = Decisions(corrections=[], mappings=[], target_changes=target_changes(settings))
    # from the directorates: they read the profile too, and the indicators read them
    steps = pl.following(core_steps(), model_steps.DIRECTORATES)
    written = {r for s in steps for r in s.writes}
    inputs = {r for s in steps for r in s.reads} - written
    settings.ensure_home()
    t0 = time.perf_counter()
    with build_lock(settings):
        tmp = settings.home / "warehouse.build-indicators.duckdb"
        discard(tmp)
        shutil.copyfile(settings.warehouse_path, tmp)
        try:
            con = connect_for_writing(tmp, settings)
            try:
                for table in sorted(pl.tables(written)):
                    con.execute(f"DROP TABLE IF EXISTS {identifier(table)}")
                build_id = int(scalar(con, "SELECT max(build_id) FROM build_info"))
                ctx = pl.BuildContext(con, settings, profile, [], build_id, now(),
                                      shared={pl.DECISIONS: decided})
                timings = pl.run(ctx, steps, inputs=inputs | {pl.DECISIONS})
                results = int(scalar(con, "SELECT count(*) FROM indicator_results"))
                con.execute("CHECKPOINT")
            finally:
                con.close()
            swap_in(tmp, settings)
        except duckdb.OutOfMemoryException as exc:
            discard(tmp)
            raise memory_error(settings) from exc
        except BaseException:
            discard(tmp)
            raise
    history_rows = ctx.shared.get(indicator_steps.HISTORY, [])
    indicator_history.commit(settings.catalog_path, history_rows)
    return IndicatorRun(profile, results, round(time.perf_counter() - t0, 2), len(history_rows),
                        timings)
