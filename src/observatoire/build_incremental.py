"""The incremental build: the warehouse in service, copied and patched for what new files touch.

Same SQL, scoped input (docs/architecture.md, "Incremental builds"):

1. :func:`plan` says whether the build can be incremental, or why not (first build, another
   parser, software or schema version, the profile or people's decisions changed, reference
   files landed, a load gone from the catalog…).
2. :func:`run` copies the warehouse in service to the new build's file. The *contract groups*
   touched are the published uids (buyer SIRET + id: :data:`model.increment.RECORD_INDEX`) of
   the records of the new files and of the files they supersede; every record of those groups,
   old and new (found through ``record_index``), is staged again.
3. The model's steps (:data:`SCOPED`) run unchanged on those records only, into a schema of
   their own (``scoped``), the rest of the warehouse visible behind it (references, loads).
4. Their rows replace those groups' rows in every per-record and per-contract table; buyers and
   suppliers of those records are recomputed by the model's own statements over the patched
   tables (:mod:`observatoire.model.increment`); the small aggregate tables are recomputed whole.
5. The later steps that read what changed run again on the patched warehouse: the indicator
   step patches its fact tables and results for the touched contracts
   (:mod:`observatoire.indicators.increment`, whose :func:`keep` sets them aside before the
   patch); the payments model and indicators run whole when what they read of the model
   changed, else keep their tables (:mod:`observatoire.model.payments_increment`); the
   directorates and the steps that record the build (quality history) run whole; the others
   (Egalim) keep their tables.

The file is then checkpointed and swapped in like a complete build's. When what the touched
records change reaches contracts outside their groups (a buyer or holder placed by what the
consolidated files publish: its place depends on every record of it), :class:`Fallback` makes
the build complete, saying why.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb

from observatoire import __version__
from observatoire import pipeline as pl
from observatoire.config import Settings
from observatoire.connectors.ingest import restage
from observatoire.indicators import increment as indicator_increment
from observatoire.indicators.profile import Profile
from observatoire.landing.catalog import Catalog, Load, superseded
from observatoire.model import contracts, increment, payments_increment, search
from observatoire.model.steps import PLACES, REFERENCES
from observatoire.quality import history as quality_history
from observatoire.sqlquote import identifier, literal, literal_list
from observatoire.staging.records import PARSER_VERSION
from observatoire.stewardship.apply import published_uid
from observatoire.stewardship.store import Decisions
from observatoire.warehouse import SCHEMA_VERSION
from observatoire.warehouse_writer import connect_for_writing

#: The steps run again on the records of the touched contract groups, in a schema of their own.
SCOPED = ("staging.decp", "gestion.corrections", "gestion.rattachement",
          "modele.enregistrements", "qualite.enregistrements", "gestion.exclusions",
          "modele.identite", "gestion.identite", "modele.marches", "modele.index",
          "qualite.modele", "modele.recherche", "gestion.publication", "modele.finalisation")
#: The step that makes the SQL functions: run once, first (the copy keeps tables, not them).
MACROS = "modele.macros"
#: Steps whose tables an incremental build keeps: unchanged when it is incremental (the plan
#: falls back when reference files land), or rewritten whole (the load log).
KEPT = ("depot.chargements", "modele.referentiels", "referentiels.fichiers")

#: The payments model's steps, and the payment indicators': run again only when what they read
#: of the DECP model changed (:mod:`observatoire.model.payments_increment`).
PAYMENT_MODEL = ("paiements.depot", "paiements.modele", "paiements.qualite")
PAYMENT_INDICATORS = "paiements.indicateurs"
#: ``ctx.shared`` key: whether this build keeps the payments model's tables.
PAYMENTS_KEPT = "shared:payments_kept"

#: Tables with one row per record (or per record's holder / finding): their rows of the old
#: records of the touched groups are replaced by the scoped run's.
PER_RECORD = ("source_records", "source_record_holders", "findings", "record_index")
#: Tables with rows per contract (uid): their rows of the touched groups are replaced.
PER_CONTRACT = ("contracts", "contract_versions", "contract_holders", "subcontracts",
                "concession_execution", "corrections_applied")
#: Tables recomputed for the keys concerned or whole (see :func:`_patch`).
RECOMPUTED = ("siret_checks", "buyers", "suppliers", "search_names", "cpv_search",
              "contract_search", "source_overlap", "reconciliation", "purchase_domain_overrides")
#: Tables of the scoped steps that are work tables, views or handed on (never patched).
NOT_KEPT = frozenset({"staged", "staged_source", "records", "record_holders"})

#: What the patch changed, for the later steps (:func:`_patch`).
PATCHED = ("patched_contracts_work", "patched_buyers_work", "patched_suppliers_work",
           quality_history.PATCHED_RECORDS, quality_history.PATCHED_CORRECTIONS)

_GROUP = increment.GROUP_OF_UID


class Fallback(Exception):
    """The build cannot be incremental: the message says why (French, shown to the user)."""


@dataclass
class Plan:
    mode: str  # incremental | complet
    reason: str
    new_loads: list[Load] = field(default_factory=list)
    #: Loads built in the warehouse in service and now superseded by a newer version.
    removed_load_ids: list[int] = field(default_factory=list)
    #: Their kinds.
    removed_kinds: set[str] = field(default_factory=set)


def plan(settings: Settings, catalog: Catalog, all_loads: list[Load],
         fingerprints: dict[str, str]) -> Plan:
    """Incremental when the warehouse in service was built from the same software, profile,
    decisions and references, and only DECP files (or files of kinds whose steps run whole)
    were added or superseded since; else complete, with the reason."""
    if not settings.warehouse_path.exists():
        return Plan("complet", "première construction (aucun entrepôt en service)")
    try:
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    except duckdb.Error:
        return Plan("complet", "l'entrepôt en service ne s'ouvre pas")
    try:
        tables = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if not {"build_info", "record_index", "loads"} <= tables:
            return Plan("complet", "l'entrepôt en service vient d'une version sans index des "
                        "enregistrements")
        info = con.execute("SELECT build_id, parser_version, software_version, schema_version "
                           "FROM build_info").fetchone()
        built = {(int(i), s) for i, s in con.execute(
            "SELECT load_id, superseded_by IS NULL FROM loads").fetchall()}
    finally:
        con.close()
    if info is None:
        return Plan("complet", "l'entrepôt en service ne dit pas comment il a été construit")
    build_id, parser, software, schema = info
    if (parser, software, schema) != (PARSER_VERSION, __version__, SCHEMA_VERSION):
        return Plan("complet", "version du logiciel, du lecteur ou du schéma changée depuis "
                    f"la construction n° {build_id}")
    previous = catalog.build_summary(build_id)
    if previous.get("profile_fingerprint") != fingerprints["profile_fingerprint"]:
        return Plan("complet", "profil de déploiement modifié (ou inconnu) depuis la "
                    f"construction n° {build_id}")
    if previous.get("decisions_fingerprint") != fingerprints["decisions_fingerprint"]:
        return Plan("complet", "décisions des gestionnaires (corrections, exclusions, "
                    f"correspondances, cibles) modifiées depuis la construction n° {build_id}")
    replaced = superseded(all_loads)
    now_in_force = {ld.load_id or 0 for ld in all_loads if ld.load_id not in replaced}
    built_ids = {i for i, _ in built}
    built_in_force = {i for i, in_force in built if in_force}
    by_id = {ld.load_id or 0: ld for ld in all_loads}
    if not built_ids <= set(by_id):
        return Plan("complet", "des chargements de l'entrepôt en service ne sont plus au "
                    "catalogue")
    if built_in_force - now_in_force - set(replaced):
        return Plan("complet", "des chargements de l'entrepôt en service ont changé d'état")
    new = [by_id[i] for i in sorted(now_in_force - built_in_force) if i is not None]
    removed = sorted(built_in_force & set(replaced))
    kinds = {ld.kind for ld in new} | {by_id[i].kind for i in removed}
    if "reference" in kinds:
        return Plan("complet", "nouveaux fichiers de référence (CPV, COG, SIRENE)")
    return Plan("incremental", f"{len(new)} fichier(s) nouveau(x), {len(removed)} remplacé(s) "
                f"depuis la construction n° {build_id}", new, removed,
                {by_id[i].kind for i in removed})


def _steps(steps: Sequence[pl.Step]) -> tuple[list[pl.Step], list[pl.Step]]:
    """The scoped steps and the later ones (run whole), checked: no later step may write what
    a scoped one reads, and every table a scoped step keeps must be patched by this module."""
    by_name = {s.name: s for s in steps}
    scoped = [by_name[n] for n in SCOPED]
    later = [s for s in steps if s.name not in {*SCOPED, *KEPT, MACROS}]
    read = {r for s in scoped for r in s.reads}
    for s in later:
        if s.writes & read:
            raise pl.PipelineError(f"step {s.name!r} writes what the model reads: the "
                                   "incremental build cannot run it after the model")
    handled = set(PER_RECORD) | set(PER_CONTRACT) | set(RECOMPUTED) | NOT_KEPT
    dropped = {r for s in scoped for r in s.drops}
    unhandled = pl.tables(r for s in scoped for r in s.writes) - handled - dropped
    unhandled = {t for t in unhandled if not t.endswith("_work")}
    if unhandled:
        raise pl.PipelineError("tables of the model the incremental build does not patch: "
                               + ", ".join(sorted(unhandled)))
    return scoped, later


def _affected(later: list[pl.Step], the_plan: Plan, kept: set[str]) -> list[pl.Step]:
    """The later steps to run again: those that read, directly or not, what the patch changed,
    those that record the build itself, and those that write what a step run again reads and
    the warehouse does not keep (``kept``: its tables and views; a stage's work tables are
    made again). When files of another kind than DECP landed, all of them (a stage reads its
    own kind's files from the loads, which no step declares)."""
    if any(ld.kind != "decp" for ld in the_plan.new_loads) or the_plan.removed_kinds - {"decp"}:
        return later
    ordered = pl.order(later, inputs={r for s in later for r in s.reads})
    chosen: set[str] = set()
    while True:
        changed = {*PER_RECORD, *PER_CONTRACT, *RECOMPUTED, "loads"}
        for step in ordered:
            if step.name in chosen or step.once_per_build or step.reads & changed:
                chosen.add(step.name)
                changed |= step.writes
        needed = {r for s in ordered if s.name in chosen for r in pl.tables(s.reads)} - kept
        more = {s.name for s in ordered if s.name not in chosen and s.writes & needed}
        if not more:
            return [s for s in ordered if s.name in chosen]
        chosen |= more


def run(settings: Settings, the_plan: Plan, profile: Profile, decided: Decisions,
        steps: Sequence[pl.Step], build_id: int, started_at: str, tmp: Path,
        loads: list[Load], all_loads: list[Load],
        on_step: Callable[[str], None] | None) -> tuple[pl.BuildContext, list[pl.Timing]]:
    """Copy the warehouse in service to ``tmp``, patch it (see the module); the context and
    timings of the steps run. The caller checkpoints and swaps it in, or falls back."""
    scoped_steps, later = _steps(steps)
    shutil.copyfile(settings.warehouse_path, tmp)
    con = connect_for_writing(tmp, settings)
    try:
        timings: list[pl.Timing] = []
        ctx = pl.BuildContext(con, settings, profile, loads, build_id, started_at,
                              all_loads=all_loads)

        def timed(name: str, label: str, work: Callable[[pl.BuildContext], None],
                  writes: frozenset[str] = frozenset()) -> None:
            step = pl.Step(name, label, work, writes=writes)
            for t in pl.run(ctx, [step], on_step=on_step):
                timings.append(replace(t, position=len(timings) + 1))

        by_name = {s.name: s for s in steps}
        by_name[MACROS].run(ctx)
        # the load log, whole
        con.execute("DROP TABLE loads")
        kept = by_name["depot.chargements"]
        timed(kept.name, kept.label, kept.run, kept.writes)
        timed("increment.perimetre", "Incrémental : marchés touchés par les nouveaux fichiers",
              lambda c: _scope(c, the_plan))
        groups = {g for (g,) in con.execute("SELECT contract_group FROM touched_groups_work "
                                            "WHERE contract_group IS NOT NULL").fetchall()}
        # the corrections of the touched contracts only: the others stay as they were applied
        ctx.shared[pl.DECISIONS] = Decisions(
            corrections=[c for c in decided.corrections if published_uid(c["uid"]) in groups],
            mappings=decided.mappings, target_changes=decided.target_changes)
        con.execute("CREATE SCHEMA scoped")
        con.execute("SET search_path = 'scoped,main'")
        scoped = [s if s.name != "staging.decp" else replace(s, run=_staged_scope)
                  for s in scoped_steps]
        ctx.shared[PLACES] = _places
        inputs = REFERENCES | {"ref_enum_values", "quality_rules", "loads", pl.MACROS}
        for t in pl.run(ctx, scoped, inputs=inputs, on_step=on_step):
            timings.append(replace(t, position=len(timings) + 1))
        con.execute("SET search_path = 'main'")
        del ctx.shared[PLACES]
        decp_only = the_plan.removed_kinds <= {"decp"} and all(
            ld.kind == "decp" for ld in the_plan.new_loads)
        if decp_only:  # Egalim facts kept
            indicator_increment.keep(ctx)  # the indicator tables, patched by their step
        timed("increment.fusion", "Incrémental : marchés recalculés remis dans l'entrepôt",
              _patch)
        views = {v for (v,) in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        stored = {t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() "
                                            "WHERE NOT temporary").fetchall()}
        recheck: set[str] = set()
        if decp_only and {*PAYMENT_MODEL, PAYMENT_INDICATORS} <= {s.name for s in later}:
            timed("increment.paiements", "Incrémental : paiements inchangés ?", _payments_kept)
            if ctx.shared[PAYMENTS_KEPT]:
                later = [_rechecked(s) if s.name == PAYMENT_INDICATORS else s
                         for s in later if s.name not in PAYMENT_MODEL]
                recheck = pl.tables(by_name[PAYMENT_INDICATORS].writes)
        later = _affected(later, the_plan, stored | views)
        for table in sorted(pl.tables(r for s in later for r in s.writes) - recheck):
            kind = "VIEW" if table in views else "TABLE"
            con.execute(f"DROP {kind} IF EXISTS {identifier(table)}")
        later_inputs = {r for s in later for r in s.reads} | {pl.DECISIONS}
        ctx.shared[pl.DECISIONS] = decided
        for t in pl.run(ctx, later, inputs=later_inputs, on_step=on_step):
            timings.append(replace(t, position=len(timings) + 1))
        payments_increment.finish(con)
        for work in PATCHED:
            con.execute(f"DROP TABLE IF EXISTS {work}")
    except BaseException:
        con.close()
        raise
    return ctx, timings


def _payments_kept(ctx: pl.BuildContext) -> None:
    """Whether the payments model's tables can be kept (``ctx.shared[PAYMENTS_KEPT]``): no
    accounting load changed (the caller's condition) and no patched contract is one it reads
    (:mod:`observatoire.model.payments_increment`)."""
    from observatoire.connectors.accounting import KIND, TABLES

    staged = [table.path(ctx.settings, load.sha256) for load in ctx.loads
              if load.kind == KIND and load.status in ("loaded", "partial")
              for table in TABLES
              if table.schema is not None and "buyer_id" in table.schema.names]
    ctx.shared[PAYMENTS_KEPT] = payments_increment.model_kept(
        ctx.con, [p for p in staged if p.exists()])


def _rechecked(step: pl.Step) -> pl.Step:
    """The payment indicators' step, run only when what it reads of the model (directorates
    assigned) may differ from the warehouse in service's; else its tables, not dropped, are
    kept."""
    def run(ctx: pl.BuildContext) -> None:
        if payments_increment.indicators_kept(ctx.con):
            return
        for table in sorted(pl.tables(step.writes)):
            ctx.con.execute(f"DROP TABLE IF EXISTS {identifier(table)}")
        step.run(ctx)

    return replace(step, run=run)


def _scope(ctx: pl.BuildContext, the_plan: Plan) -> None:
    """``touched_groups_work`` (the published uids touched), ``old_scope_work`` (the records of
    the warehouse in service to replace) and ``scope_records_work`` (the records to stage)."""
    con = ctx.con
    new_hashes = [ld.sha256 for ld in the_plan.new_loads
                  if ld.kind == "decp" and ld.status in ("loaded", "partial")]
    files = restage(ctx.settings, ctx.loads) if new_hashes else []
    con.execute("CREATE TEMP TABLE new_records_work (record_key VARCHAR, contract_group VARCHAR)")
    if files:
        # our own staging paths and hashes, quoted by literal_list
        con.execute(f"""INSERT INTO new_records_work
            SELECT file_hash || '#' || position, contract_uid(raw_id, raw_buyer_id)
            FROM read_parquet({literal_list(files)})
            WHERE file_hash IN ({_values(new_hashes)})""")
    removed = the_plan.removed_load_ids or [-1]
    con.execute("CREATE TEMP TABLE removed_loads_work (load_id INTEGER)")
    con.executemany("INSERT INTO removed_loads_work VALUES (?)", [(i,) for i in removed])
    con.execute("""CREATE TEMP TABLE touched_groups_work AS
        SELECT DISTINCT contract_group FROM (
            SELECT contract_group FROM new_records_work
            UNION ALL SELECT contract_group FROM record_index
            WHERE load_id IN (SELECT load_id FROM removed_loads_work))
        WHERE contract_group IS NOT NULL""")
    con.execute("""CREATE TEMP TABLE old_scope_work AS
        SELECT record_key, load_id FROM record_index
        WHERE contract_group IN (SELECT contract_group FROM touched_groups_work)
           OR load_id IN (SELECT load_id FROM removed_loads_work)""")
    con.execute("""CREATE TEMP TABLE scope_records_work AS
        SELECT record_key FROM old_scope_work
        WHERE load_id NOT IN (SELECT load_id FROM removed_loads_work)
        UNION SELECT record_key FROM new_records_work""")


def _values(texts: list[str]) -> str:
    """An SQL list of text literals (for ``IN``, which the Parquet reader pushes down)."""
    return ", ".join(literal(t) for t in texts)


def _staged_scope(ctx: pl.BuildContext) -> None:
    """``staged_source`` of the scoped run: the staged records of the touched groups only."""
    con = ctx.con
    files = restage(ctx.settings, ctx.loads)
    hashes = [h for (h,) in con.execute("""SELECT DISTINCT split_part(record_key, '#', 1)
        FROM scope_records_work ORDER BY 1""").fetchall()]
    if not files:  # no DECP file at all: as the complete build does
        from observatoire.connectors.decp import _staged

        _staged(replace(ctx, loads=[]))
        return
    # raw_json, the bulk of the staged files, is never read by the build
    # in the scoped schema, not TEMP: the corrections read it from a cursor of their own
    con.execute(f"""CREATE TABLE staged_scope_work AS
        SELECT * REPLACE (CAST(NULL AS VARCHAR) AS raw_json)
        FROM read_parquet({literal_list(files)})
        WHERE file_hash IN ({_values(hashes or [""])})
          AND file_hash || '#' || position IN (SELECT record_key FROM scope_records_work)""")
    con.execute("CREATE VIEW staged_source AS SELECT * FROM staged_scope_work")


def _places(ctx: pl.BuildContext) -> None:
    """Run by the scoped model step before the contracts (``model.steps.PLACES``): the buyers
    and holders of the old and new records (``touched_buyers_work``,
    ``touched_suppliers_work``), and their places computed over every record of theirs, in
    place of those the scoped run computed from the rebuilt records alone."""
    con = ctx.con
    # the contracts of the touched groups in the warehouse in service: their records' uids
    con.execute("""CREATE TEMP TABLE touched_uids_work AS
        SELECT DISTINCT uid FROM main.source_records
        WHERE record_key IN (SELECT record_key FROM old_scope_work) AND uid IS NOT NULL""")
    in_groups = "uid IN (SELECT uid FROM touched_uids_work)"
    key = increment.SUPPLIER_KEY
    con.execute("""CREATE TEMP TABLE touched_buyers_work AS
        SELECT DISTINCT buyer_siret FROM (
            SELECT buyer_siret FROM main.record_index
            WHERE record_key IN (SELECT record_key FROM old_scope_work)
            UNION ALL SELECT buyer_siret FROM temp.main.records)
        WHERE buyer_siret IS NOT NULL""")
    con.execute(f"""CREATE TEMP TABLE touched_suppliers_work AS
        SELECT DISTINCT supplier_key FROM (
            SELECT supplier_key FROM main.contract_holders WHERE {in_groups}
            UNION ALL SELECT supplier_key FROM scoped.contract_holders
            UNION ALL SELECT {key} FROM main.source_record_holders rh
            WHERE record_key IN (SELECT record_key FROM old_scope_work)
            UNION ALL SELECT {key} FROM temp.main.record_holders rh)
        WHERE supplier_key IS NOT NULL""")
    _parties(con, scoped=True)
    con.execute("""DELETE FROM temp.main.buyer_places_work
        WHERE buyer_siret IN (SELECT buyer_siret FROM touched_buyers_work)""")
    con.execute("""INSERT INTO temp.main.buyer_places_work SELECT * FROM g_buyer_places_work
        WHERE buyer_siret IN (SELECT buyer_siret FROM touched_buyers_work)""")
    con.execute("""DELETE FROM scoped.suppliers
        WHERE supplier_key IN (SELECT supplier_key FROM touched_suppliers_work)""")
    con.execute("INSERT INTO scoped.suppliers BY NAME SELECT * FROM g_suppliers")


def _parties(con: duckdb.DuckDBPyConnection, *, scoped: bool) -> None:
    """For the buyers and holders concerned, by the model's statements over all their records:
    during the scoped run, ``g_buyer_places_work`` and ``g_suppliers`` (what the rebuilt
    records and the others give: the places and holders a complete build has); after the
    patch, ``g_buyers`` (which sums their contracts)."""
    if scoped:
        for sql in increment.global_inputs():
            con.execute(sql)
        con.execute(increment.BUYER_PLACES)
        con.execute(increment.SUPPLIERS)
        for sql in increment.DROP_GLOBAL_INPUTS:
            con.execute(sql)
    else:
        for sql in increment.PATCHED_INPUTS:
            con.execute(sql)
        con.execute(increment.BUYERS)
        for sql in increment.DROP_PATCHED_INPUTS:
            con.execute(sql)


def _patch(ctx: pl.BuildContext) -> None:
    """The scoped run's rows in place of the touched groups' (see the module)."""
    con = ctx.con
    in_groups = "uid IN (SELECT uid FROM touched_uids_work)"
    # a correction may name a uid no contract has (stale): by its published uid
    corrections_in_groups = (f"{_GROUP.format(uid='uid')} IN "
                             "(SELECT contract_group FROM touched_groups_work)")
    con.execute("CREATE TEMP TABLE new_uids_work AS SELECT uid FROM scoped.contracts")
    # what the patch changes, for the later steps that keep their tables when it does not
    # concern them: the old and new rows' keys of the contracts, buyers and holders patched
    con.execute(f"""CREATE TEMP TABLE patched_contracts_work AS
        SELECT uid, buyer_siret, consultation_uid FROM contracts WHERE {in_groups}
        UNION ALL SELECT uid, buyer_siret, consultation_uid FROM scoped.contracts
        UNION ALL SELECT uid, NULL, NULL FROM contract_holders WHERE {in_groups}
        UNION ALL SELECT uid, NULL, NULL FROM scoped.contract_holders""")
    con.execute("""CREATE TEMP TABLE patched_buyers_work AS
        SELECT buyer_siret FROM touched_buyers_work""")
    con.execute("""CREATE TEMP TABLE patched_suppliers_work AS
        SELECT supplier_key, siret FROM suppliers
        WHERE supplier_key IN (SELECT supplier_key FROM touched_suppliers_work)""")
    con.execute("""CREATE TEMP TABLE old_supplier_names_work AS
        SELECT key, search_key FROM search_names
        WHERE kind = 'supplier' AND key IN (SELECT supplier_key FROM touched_suppliers_work)""")
    # the findings and corrections applied replaced, for the quality history's flows
    con.execute(f"""CREATE TEMP TABLE {quality_history.PATCHED_RECORDS} AS
        SELECT record_key FROM old_scope_work UNION SELECT record_key FROM scope_records_work""")
    con.execute(f"""CREATE TEMP TABLE {quality_history.PATCHED_CORRECTIONS} AS
        SELECT uid FROM corrections_applied WHERE {corrections_in_groups}
        UNION ALL SELECT uid FROM scoped.corrections_applied""")
    # the SIRETs the replaced records read (some may be read no more)
    con.execute("CREATE TEMP TABLE old_sirets_work AS " + increment.sirets(
        "record_key IN (SELECT record_key FROM old_scope_work)"))
    # per record, per contract: the scoped rows replace the old ones
    for table in PER_RECORD:
        con.execute(f"DELETE FROM {table} "
                    "WHERE record_key IN (SELECT record_key FROM old_scope_work)")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM scoped.{table}")
    for table in PER_CONTRACT:
        where = corrections_in_groups if table == "corrections_applied" else in_groups
        con.execute(f"DELETE FROM {table} WHERE {where}")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM scoped.{table}")
    con.execute("DELETE FROM purchase_domain_overrides")
    con.execute("INSERT INTO purchase_domain_overrides BY NAME "
                "SELECT * FROM scoped.purchase_domain_overrides")
    # SIRET checks: every SIRET still read, checked by this build or an earlier one (the check
    # depends on the SIRET alone): those of the replaced records no record reads any more out,
    # those of the new records in
    con.execute(f"""DELETE FROM siret_checks
        WHERE siret IN (SELECT siret FROM old_sirets_work) AND siret NOT IN ({increment.sirets(
            "TRUE", "siret IN (SELECT siret FROM old_sirets_work)")})""")
    con.execute("""INSERT INTO siret_checks SELECT siret, valid FROM scoped.siret_checks
        WHERE siret NOT IN (SELECT siret FROM siret_checks)""")
    con.execute("DROP SCHEMA scoped CASCADE")
    # buyers and suppliers concerned, by the model's statements over the patched tables and
    # the scoped run's records and ranks (``model.increment.PATCHED_INPUTS``)
    _parties(con, scoped=False)
    search.official_names(con, "g_buyers", "g_suppliers", temp=True)
    _same_places(con)
    con.execute("DELETE FROM buyers "
                "WHERE buyer_siret IN (SELECT buyer_siret FROM touched_buyers_work)")
    con.execute("INSERT INTO buyers BY NAME SELECT * FROM g_buyers")
    con.execute("DELETE FROM suppliers "
                "WHERE supplier_key IN (SELECT supplier_key FROM touched_suppliers_work)")
    con.execute("INSERT INTO suppliers BY NAME SELECT * FROM g_suppliers")
    con.execute("INSERT INTO patched_suppliers_work SELECT supplier_key, siret FROM g_suppliers")
    con.execute("""DELETE FROM search_names
        WHERE (kind = 'buyer' AND key IN (SELECT buyer_siret FROM touched_buyers_work))
           OR (kind = 'supplier' AND key IN (SELECT supplier_key FROM touched_suppliers_work))""")
    con.execute("INSERT INTO search_names BY NAME "
                + search.search_names("g_buyers", "g_suppliers"))
    # the contracts' search rows: those of the touched groups, and those whose current holders'
    # search keys changed
    con.execute("""CREATE TEMP TABLE search_uids_work AS
        SELECT uid FROM new_uids_work
        UNION SELECT h.uid FROM contract_holders h
        WHERE h.is_current AND h.supplier_key IN (
            SELECT supplier_key FROM touched_suppliers_work t
            LEFT JOIN old_supplier_names_work o ON o.key = t.supplier_key
            LEFT JOIN search_names n ON n.kind = 'supplier' AND n.key = t.supplier_key
            WHERE o.search_key IS DISTINCT FROM n.search_key)""")
    con.execute(f"DELETE FROM contract_search WHERE {in_groups} "
                "OR uid IN (SELECT uid FROM search_uids_work)")
    con.execute("""CREATE TEMP VIEW contracts_search_scope AS
        SELECT * FROM contracts WHERE uid IN (SELECT uid FROM search_uids_work)""")
    con.execute("INSERT INTO contract_search BY NAME "
                + search.CONTRACT_SEARCH.replace("{contracts}", "contracts_search_scope"))
    con.execute("DROP VIEW contracts_search_scope")
    # CPV codes no contract has any more, and those only the new contracts have
    con.execute("""DELETE FROM cpv_search WHERE cpv NOT IN (
        SELECT cpv FROM contracts WHERE cpv_label IS NOT NULL)""")
    con.execute(f"""INSERT INTO cpv_search BY NAME {search.CPV_SEARCH}
        AND uid IN (SELECT uid FROM new_uids_work)
        AND cpv NOT IN (SELECT cpv FROM cpv_search)""")
    # small aggregates, whole
    for sql in (contracts.OVERLAP, contracts.RECONCILIATION):
        con.execute(sql.replace("CREATE TABLE", "CREATE OR REPLACE TABLE", 1))
    for work in ("new_records_work", "removed_loads_work", "touched_groups_work",
                 "old_scope_work", "scope_records_work", "staged_scope_work",
                 "touched_buyers_work", "touched_suppliers_work", "old_supplier_names_work",
                 "search_uids_work", "g_buyer_places_work", "g_buyers", "g_suppliers",
                 "touched_uids_work", "new_uids_work", "old_sirets_work",
                 "sirene_names_work", "hidden_suppliers_work"):
        con.execute(f"DROP TABLE IF EXISTS {work}")
    con.execute("DROP MACRO IF EXISTS enum_key")


#: What the contracts read of their buyer's and holders' places (``contracts.CONTRACTS``).
_PLACE = {"buyers": ("buyer_siret", "commune_code, departement_code, region_code, "
                     "location_source"),
          "suppliers": ("supplier_key", "category, commune_code, departement_code, "
                        "region_code, location_source")}


def _same_places(con: duckdb.DuckDBPyConnection) -> None:
    """A buyer or holder that SIRENE does not place is placed by what the consolidated files
    publish for it, over all its records: when the new files change that place, contracts
    outside the touched groups move too, and only a complete build places them
    (:class:`Fallback`)."""
    changed = {}
    for table, (key, columns) in _PLACE.items():
        changed[table] = con.execute(f"""
            SELECT count(DISTINCT {key}) FROM (
                SELECT {key}, {columns} FROM main.{table}
                WHERE {key} IN (SELECT {key} FROM g_{table})
                EXCEPT SELECT {key}, {columns} FROM g_{table})""").fetchall()[0][0]
    if changed["buyers"] or changed["suppliers"]:
        raise Fallback(
            f"les nouveaux fichiers changent le lieu de {changed['buyers']} acheteur(s) et "
            f"{changed['suppliers']} titulaire(s) que seul ce que publient les fichiers "
            "consolidés situe : leurs autres marchés changent de lieu aussi")
