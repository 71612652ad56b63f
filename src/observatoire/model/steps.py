"""The model's steps of the build: references, cleaned records, contracts, names, directorates."""

from __future__ import annotations

import pyarrow as pa
from stdnum.fr import siret as stdnum_siret

from observatoire.model import clean, contracts, directorates, increment, search
from observatoire.pipeline import MACROS, BuildContext, Step
from observatoire.quality.enums import enum_rows
from observatoire.warehouse import insert_rows

#: Intermediate tables dropped once the model is built. They are TEMP tables, held in DuckDB's
#: memory (spilled to the work folder beyond the limit): compressing them into the warehouse file
#: cost more than the statements that computed them.
WORK_TABLES = (
    "records",
    "record_flags_work",
    "record_identity_work",
    "record_rank_work",
    "set_aside_work",
    "duplicates_work",
    "modifications_work",
    "buyer_places_work",
    "contract_holdings_work",
    "contract_figures_work",
    "findings_records_work",
    "findings_model_work",
)

REFERENCES = frozenset({"ref_cpv", "ref_communes", "ref_departements", "ref_regions",
                        "ref_sirene_categories", "ref_sirene_establishments"})


#: ``ctx.shared`` key: what an incremental build runs between the places of the buyers and
#: holders and the contracts (``observatoire.build_incremental``): a buyer or holder placed by
#: what consolidated files publish is placed over all its records, not only those rebuilt.
PLACES = "shared:places"


def macros(ctx: BuildContext) -> None:
    for statement in clean.MACROS.split(";"):
        if statement.strip():
            ctx.con.execute(statement)


def references(ctx: BuildContext) -> None:
    con = ctx.con
    con.execute(
        "CREATE TABLE ref_enum_values (field VARCHAR, key VARCHAR, canonical VARCHAR, "
        "obsolete BOOLEAN)"
    )
    insert_rows(con, "ref_enum_values", enum_rows())
    con.execute(
        "CREATE TABLE quality_rules (rule_id VARCHAR, severity VARCHAR, field VARCHAR, "
        "title VARCHAR, explanation VARCHAR, hint VARCHAR, source VARCHAR)"
    )
    # the catalogue of every rule set is assembled above the stages (the Egalim rules live
    # with Egalim)
    from observatoire.rulebook import rules_rows

    insert_rows(con, "quality_rules", rules_rows())


def _siret_checks(ctx: BuildContext) -> None:
    """Luhn check (with La Poste's exception) of every distinct SIRET, by python-stdnum."""
    con = ctx.con
    sirets = [row[0] for row in con.sql(contracts.IDENTIFIERS).fetchall()]
    con.execute("CREATE TABLE siret_checks (siret VARCHAR, valid BOOLEAN)")
    if sirets:
        arrow = pa.table({"siret": sirets, "valid": [stdnum_siret.is_valid(s) for s in sirets]})
        con.register("siret_checks_arrow", arrow)
        con.execute("INSERT INTO siret_checks SELECT * FROM siret_checks_arrow ORDER BY siret")
        con.unregister("siret_checks_arrow")


def records(ctx: BuildContext) -> None:
    ctx.con.execute(clean.RECORDS)
    ctx.con.execute(clean.RECORD_HOLDERS)
    ctx.con.execute(contracts.RECORD_FLAGS)
    _siret_checks(ctx)


def identity(ctx: BuildContext) -> None:
    ctx.con.execute(contracts.IDENTITY)


def model(ctx: BuildContext) -> None:
    for sql in (
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
        contracts.BUYER_PLACES,  # before contracts and buyers, which are placed by it
    ):
        ctx.con.execute(sql)
    if PLACES in ctx.shared:
        ctx.shared[PLACES](ctx)
    for sql in (contracts.CONTRACT_HOLDINGS, contracts.CONTRACT_FIGURES, contracts.CONTRACTS,
                contracts.BUYERS, contracts.OVERLAP,
                contracts.RECONCILIATION):
        ctx.con.execute(sql)


def record_index(ctx: BuildContext) -> None:
    # what the next build needs to be incremental (observatoire.build): records by contract
    ctx.con.execute(increment.RECORD_INDEX)


def names(ctx: BuildContext) -> None:
    search.build(ctx.con)


def finish(ctx: BuildContext) -> None:
    con = ctx.con
    con.execute("ALTER TABLE contract_versions DROP COLUMN contract_notification_date")
    # In staging order (file, record, holder), which record_holders keeps: no sort needed.
    con.execute("CREATE TABLE source_record_holders AS SELECT * FROM record_holders")
    con.execute("DROP TABLE record_holders")
    con.execute("DROP VIEW IF EXISTS staged")
    con.execute("DROP VIEW IF EXISTS staged_source")
    for table in WORK_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute("DROP MACRO IF EXISTS enum_key")


def assign_directorates(ctx: BuildContext) -> None:
    # before the indicators, which break their results down by directorate
    directorates.assign(ctx.con, ctx.profile)


#: The directorate step: the first one ``observatoire indicators`` runs again.
DIRECTORATES = "modele.directions"

_CLEANED = frozenset({"records", "record_holders", "record_flags_work", "siret_checks"})
_MODEL = frozenset({
    "record_rank_work", "duplicates_work", "modifications_work",
    "buyer_places_work", "contract_holdings_work", "contract_figures_work",
    "source_records", "contract_versions", "contract_holders", "subcontracts",
    "concession_execution", "suppliers", "contracts", "buyers", "source_overlap",
    "reconciliation", "contract_versions.contract_notification_date",
    # a reused id's lots get their own uid, on the records and their findings
    "records.uid", "findings_records_work.uid",
})

STEPS = [
    Step("modele.macros", "Fonctions SQL du nettoyage", macros, writes=frozenset({MACROS})),
    Step("modele.referentiels", "Vocabulaires contrôlés et règles de qualité", references,
         writes=frozenset({"ref_enum_values", "quality_rules"})),
    Step("modele.enregistrements", "Nettoyage des enregistrements", records,
         reads=REFERENCES | {"staged", "loads", "ref_enum_values", MACROS},
         writes=_CLEANED),
    Step("modele.identite", "Identité des marchés (lots, identifiants de remplissage)", identity,
         reads=frozenset({"records", "record_holders", "set_aside_work", MACROS}),
         writes=frozenset({"record_identity_work"})),
    Step("modele.marches", "Modèle : marchés, versions, titulaires, acheteurs", model,
         reads=REFERENCES | _CLEANED | {"staged", "loads", "ref_enum_values", MACROS,
                                        "set_aside_work", "findings_records_work",
                                        "record_identity_work"},
         writes=_MODEL),
    Step("modele.index", "Index des enregistrements (constructions incrémentales)",
         record_index,
         reads=frozenset({"records", "record_rank_work", "staged", MACROS}),
         writes=frozenset({"record_index"})),
    Step("modele.recherche", "Recherche : noms officiels et index des noms", names,
         reads=frozenset({"contracts", "contract_holders", "record_holders", "suppliers",
                          "buyers", "ref_sirene_categories", "ref_sirene_establishments"}),
         writes=frozenset({"search_names", "contract_search", "cpv_search", "buyers", "suppliers",
                           "contract_holders.holder_name", "record_holders.holder_name"})),
    Step("modele.finalisation", "Finalisation", finish,
         reads=frozenset({"record_holders", "record_holders.holder_name"}),
         writes=frozenset({"source_record_holders"}),
         drops=frozenset({"staged", "staged_source", "record_holders", MACROS,
                          "contract_versions.contract_notification_date", *WORK_TABLES})),
    Step(DIRECTORATES, "Directions des marchés", assign_directorates,
         reads=frozenset({"contracts", "findings", "purchase_domain_overrides"}),
         writes=frozenset({"profile_directorates", "contracts.directorate_id",
                           "findings.directorate_id"})),
]
