"""The indicator step of an incremental build (``build_incremental``): the kept fact tables
patched for the contracts and records the new files touch, and the results from the fact rows
that changed.

1. :func:`keep`, run before the model's rows are patched into the copy, notes the contracts
   and records touched (old and new) and sets the kept indicator tables aside (the build drops
   the tables of the steps it runs again).
2. :func:`update`, run by the indicator step, puts them back and patches them:

   - the fact rows of the touched contracts, of the other contracts of their holders' SIRENs
     (whether a holder is new depends on its SIREN's previous contract) and of the copies of
     their framework agreements (their maximum is shared), and of the touched records, are
     computed again and replace theirs;
   - the rows that changed (old ``EXCEPT ALL`` new, both ways; for the grains of one row per
     key, the rows of the keys whose old and new rows differ), each with its side (a
     contract that moved counts in its old groups and in its new ones);
   - the kept groups of the indicator queries are patched with those rows, and the results
     of the breakdown values they touch made again (``delta``).

Anything that reaches every row (the reference year or the provisional years changed with the
date; the years the data covers or its first date, on which every holder's "new" depends)
makes the step complete: the kept tables are dropped and :func:`update` says so.
"""

from __future__ import annotations

from datetime import date

import duckdb

from observatoire import pipeline as pl
from observatoire.formatting import number
from observatoire.indicators import compute as results
from observatoire.indicators import delta
from observatoire.indicators.facts import build_some_facts, profile_tables, scope_condition
from observatoire.indicators.profile import Profile

#: ``ctx.shared`` key: the indicator tables were set aside for :func:`update`.
KEPT = "shared:indicator_tables_kept"
#: Fact tables patched (grain → table, key column).
FACTS = {"contract": ("indicator_contracts", "uid"), "holder": ("indicator_holders", "uid"),
         "subcontract": ("indicator_subcontracts", "uid"),
         "record": ("indicator_records", "record_key")}
#: Grains of one row per key: their changed rows are found by joining the old and new rows on
#: the key and comparing them whole (``IS DISTINCT FROM`` on the row), the same rows as
#: ``EXCEPT ALL`` both ways at a third of its cost (a holder or subcontract grain has several
#: rows per contract: ``EXCEPT ALL``).
_ONE_ROW_PER_KEY = {"contract", "record"}
#: Tables set aside by :func:`keep` (the others of the step are rewritten whole: small).
_SET_ASIDE = (*(t for t, _ in FACTS.values()), "indicator_results", results.GROUPS,
              "indicator_profile")
_SUFFIX = "_kept"
_WORK = ("indicator_uids_work", "indicator_records_work", "indicator_copy_keys_work",
         "indicator_old_days_work", "indicator_new_days_work", "indicator_sirens_work",
         "indicator_facts_uids_work", "indicator_facts_records_work",
         *(f"new_{t}" for t, _ in FACTS.values()),
         *(f"changed_{t}" for t, _ in FACTS.values()))


def keep(ctx: pl.BuildContext) -> None:
    """Before the patch (the scoped run's tables and the copy's old rows are both there): the
    contracts and records touched, the keys of the touched framework agreements, and the
    indicator tables set aside. Nothing when the copy has no indicator tables."""
    con = ctx.con
    tables = {t for (t,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
    if not set(_SET_ASIDE) <= tables:
        return
    con.execute("""CREATE TEMP TABLE indicator_uids_work AS
        SELECT uid FROM touched_uids_work UNION SELECT uid FROM scoped.contracts""")
    con.execute("""CREATE TEMP TABLE indicator_records_work AS
        SELECT record_key FROM old_scope_work UNION SELECT record_key FROM scoped.source_records""")
    # the contracts as they were: a copy key a touched agreement no longer has
    con.execute(f"""CREATE TEMP TABLE indicator_copy_keys_work AS {_COPY_KEYS}
        AND uid IN (SELECT uid FROM indicator_uids_work)""")
    for table in _SET_ASIDE:
        con.execute(f"ALTER TABLE {table} RENAME TO {table}{_SUFFIX}")
    ctx.shared[KEPT] = True


#: What makes framework agreements copies of one another (``facts._scoped_sql``).
_COPY_KEYS = """SELECT buyer_siret, notification_date, object, amount FROM contracts
    WHERE is_framework_agreement AND amount IS NOT NULL AND object IS NOT NULL"""


def drop_kept(con: duckdb.DuckDBPyConnection) -> None:
    for table in _SET_ASIDE:
        con.execute(f"DROP TABLE IF EXISTS {table}{_SUFFIX}")


def update(con: duckdb.DuckDBPyConnection, profile: Profile, today: date,
           min_contracts: int = 0) -> str | None:
    """Patch the kept tables (see the module); None when done, else why the step must be
    complete (the kept tables are then dropped). Below ``min_contracts`` contract fact rows
    (``settings.indicators_patch_min_contracts``, 0 by default) the step is complete too."""
    digest = results.queries_digest(profile)
    why = _why_complete(con, profile, today, min_contracts, digest)
    if why:
        drop_kept(con)
        _drop_work(con)
        return why
    con.execute("DROP TABLE indicator_profile" + _SUFFIX)
    for table, _ in FACTS.values():
        con.execute(f"ALTER TABLE {table}{_SUFFIX} RENAME TO {table}")
    for table in ("indicator_results", results.GROUPS):
        con.execute(f"ALTER TABLE {table}{_SUFFIX} RENAME TO {table}")
    con.execute("SET preserve_insertion_order = false")
    profile_tables(con, profile)
    _facts_scope(con, profile)
    build_some_facts(con, profile, "indicator_facts_uids_work", "indicator_facts_records_work")
    changed = set()
    for grain, (table, key) in FACTS.items():
        keys = "indicator_facts_uids_work" if key == "uid" else "indicator_facts_records_work"
        old = f"SELECT * FROM {table} WHERE {key} IN (SELECT {key} FROM {keys})"
        if mark_changed(con, grain, old, f"new_{table}"):
            changed.add(grain)
            con.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {keys})")
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM new_{table}")
    delta.recompute(con, profile, today, changed, digest)
    _drop_work(con)
    return None


def mark_changed(con: duckdb.DuckDBPyConnection, grain: str, old: str, new: str) -> bool:
    """The fact rows of ``grain`` that differ between the query ``old`` and the table ``new``
    (rows of the same keys, as they were and as they are) into ``changed_`` + the fact
    table's name; whether there are any."""
    table, key = FACTS[grain]
    return bool(con.execute(f"CREATE TEMP TABLE changed_{table} AS "
                            + changed_rows_sql(old, new, key, grain in _ONE_ROW_PER_KEY)
                            ).fetchall()[0][0])


def changed_rows_sql(old: str, new: str, key: str, one_row_per_key: bool) -> str:
    """The rows of the query ``old`` and of the table ``new`` that the other has not (duplicates
    counted), as ``(old EXCEPT ALL new) UNION ALL (new EXCEPT ALL old)``, with a last column
    ``change``: -1 for a row of ``old``, 1 for one of ``new``. ``one_row_per_key``: no two rows
    of either share a ``key``; the rows are then joined on it and compared whole (NULLs equal,
    as ``EXCEPT ALL`` has them): the same rows, at a third of the cost."""
    if not one_row_per_key:
        # the old rows read once (a scan of the fact table), compared both ways
        return f"""WITH old_rows AS MATERIALIZED ({old})
        SELECT *, -1 AS change FROM (SELECT * FROM old_rows EXCEPT ALL SELECT * FROM {new})
        UNION ALL
        SELECT *, 1 FROM (SELECT * FROM {new} EXCEPT ALL SELECT * FROM old_rows)"""
    return f"""WITH old_rows AS MATERIALIZED ({old}),
        differ AS MATERIALIZED (
            SELECT {key} FROM old_rows FULL JOIN {new} new_rows USING ({key})
            WHERE old_rows IS DISTINCT FROM new_rows
        )
        SELECT *, -1 AS change FROM old_rows WHERE {key} IN (SELECT {key} FROM differ)
        UNION ALL
        SELECT *, 1 FROM {new} WHERE {key} IN (SELECT {key} FROM differ)"""


def _why_complete(con: duckdb.DuckDBPyConnection, profile: Profile, today: date,
                  min_contracts: int, digest: str) -> str | None:
    """Why the results must be computed whole, if they must: what every row depends on, kept
    groups of other queries than those of ``digest`` (:func:`compute.queries_digest`), or a
    warehouse too small for the patch to pay."""
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                       ["indicator_profile" + _SUFFIX]).fetchall()[0][0]:
        return "aucun indicateur conservé"
    if min_contracts:
        contracts = con.execute(
            "SELECT count(*) FROM indicator_contracts" + _SUFFIX).fetchall()[0][0]
        if contracts < min_contracts:
            return (f"{number(contracts)} marchés, moins que le seuil de "
                    f"{number(min_contracts)} (OBSERVATOIRE_INDICATORS_PATCH_MIN_CONTRACTS) "
                    "sous lequel le calcul entier est plus rapide")
    kept = con.execute("SELECT reference_year, provisional_from FROM indicator_profile"
                       + _SUFFIX).fetchall()
    if kept != [(results.reference_year(profile, today), results.provisional_since(today))]:
        return "année de référence ou années provisoires changées depuis"
    digests = con.execute(f"SELECT DISTINCT digest FROM {results.GROUPS}{_SUFFIX}").fetchall()
    if digests != [(digest,)]:
        return "requêtes des indicateurs changées depuis (ou aucun groupe conservé)"
    # the first date and the years of the data: whether any holder is new depends on them
    scope = scope_condition(profile, "buyer_siret", inline=True)
    span = ("SELECT min(notification_date), list(DISTINCT year(notification_date) "
            "ORDER BY year(notification_date)) FILTER (WHERE notification_date IS NOT NULL) "
            "FROM {}")
    before = con.execute(span.format("indicator_contracts" + _SUFFIX)).fetchall()
    after = con.execute(span.format(f"contracts WHERE {scope}")).fetchall()
    if before != after:
        return "années couvertes par les données changées"
    return None


def _facts_scope(con: duckdb.DuckDBPyConnection, profile: Profile) -> None:
    """The contracts whose fact rows are computed again (``indicator_facts_uids_work``): the
    touched ones, the copies of their framework agreements, and those whose holder may have
    become new or not: of a SIREN that gained or lost a day of contract, on its first day
    after it (whether a holder is new depends on its SIREN's previous day). The
    records (``indicator_facts_records_work``): the touched ones and those of the touched
    contracts."""
    touched = "uid IN (SELECT uid FROM indicator_uids_work)"
    con.execute(f"INSERT INTO indicator_copy_keys_work {_COPY_KEYS} AND {touched}")
    # (SIREN, day) of the current holders of the touched contracts, as they were, as they are
    con.execute(f"""CREATE TEMP TABLE indicator_old_days_work AS
        SELECT DISTINCT h.supplier_siren AS siren, c.notification_date AS day
        FROM indicator_holders h JOIN indicator_contracts c ON c.uid = h.uid
        WHERE h.{touched} AND h.supplier_siren IS NOT NULL
          AND c.notification_date IS NOT NULL""")
    scope = scope_condition(profile, "c.buyer_siret")
    con.execute(f"""CREATE TEMP TABLE indicator_new_days_work AS
        SELECT DISTINCT s.siren, c.notification_date AS day FROM contract_holders h
        JOIN contracts c ON c.uid = h.uid JOIN suppliers s ON s.supplier_key = h.supplier_key
        WHERE h.is_current AND h.{touched} AND {scope} AND s.siren IS NOT NULL
          AND c.notification_date IS NOT NULL""")
    # the days gained or lost, but those other contracts of the SIREN keep
    con.execute(f"""CREATE TEMP TABLE indicator_sirens_work AS
        WITH changed AS (
            (SELECT * FROM indicator_old_days_work EXCEPT SELECT * FROM indicator_new_days_work)
            UNION (SELECT * FROM indicator_new_days_work
                   EXCEPT SELECT * FROM indicator_old_days_work)
        )
        SELECT * FROM changed EXCEPT
        SELECT h.supplier_siren, c.notification_date
        FROM indicator_holders h JOIN indicator_contracts c ON c.uid = h.uid
        WHERE NOT h.{touched} AND h.supplier_siren IN (SELECT siren FROM changed)""")
    # an untouched contract's previous day of its SIREN changes only if it is the first
    # untouched day after a day gained or lost
    con.execute(f"""CREATE TEMP TABLE indicator_facts_uids_work AS
        WITH untouched AS (
            SELECT h.uid, h.supplier_siren AS siren, c.notification_date AS day
            FROM indicator_holders h JOIN indicator_contracts c ON c.uid = h.uid
            WHERE h.supplier_siren IN (SELECT siren FROM indicator_sirens_work)
              AND NOT h.{touched}
        ),
        next_days AS (
            SELECT x.siren, min(u.day) AS day FROM indicator_sirens_work x
            JOIN untouched u ON u.siren = x.siren AND u.day > x.day
            GROUP BY x.siren, x.day
        )
        SELECT uid FROM indicator_uids_work
        UNION SELECT u.uid FROM untouched u JOIN next_days n USING (siren, day)
        UNION SELECT c.uid FROM contracts c JOIN indicator_copy_keys_work k
            ON k.buyer_siret IS NOT DISTINCT FROM c.buyer_siret
           AND k.notification_date IS NOT DISTINCT FROM c.notification_date
           AND k.object = c.object AND k.amount = c.amount
        WHERE c.is_framework_agreement""")
    con.execute(f"""CREATE TEMP TABLE indicator_facts_records_work AS
        SELECT record_key FROM indicator_records_work
        UNION SELECT record_key FROM source_records WHERE {touched}""")


def _drop_work(con: duckdb.DuckDBPyConnection) -> None:
    for table in _WORK:
        con.execute(f"DROP TABLE IF EXISTS {table}")
