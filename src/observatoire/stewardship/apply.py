"""The corrections stage of the build: people's decisions applied on top of the source data.

Where: a corrected value replaces the *raw* staged value (the view ``staged`` over
``staged_source``) before cleaning, so that it is cleaned and checked by the quality rules like a
published value (a corrected amount of ``0`` still gets its finding), and every table derived
from it (versions, indicators, exports) agrees. Exclusions join the records set aside after the
rules; "not a defect" decisions are matched to the findings of the new build. The published
values stay visible: ``source_records`` keeps them (restored after the model is built) and
``corrections_applied`` holds, per correction, the source value beside the corrected one.

A correction is attached to a contract's ``uid`` and to the source value it was made on. When no
record of the contract carries that value any more (a new version of the file changed it), the
correction is not applied and comes back *stale* for review; nothing wins silently.

Which records a correction is on: those whose contract, *as published*, has its uid. Most
contracts are the records of one published uid (buyer SIRET + id); the lots of a reused id and
the contracts of a placeholder id have a uid derived from their published content
(:data:`observatoire.model.contracts.IDENTITY`). For the few published uids that corrections are
on, :func:`match` runs the cleaning, the record rules and IDENTITY on the published values
alone, and the model keeps that identity for their records (:data:`PUBLISHED_IDENTITY`): a lot
keeps its uid when its amount or CPV is corrected, and its corrections reach none of its
siblings. A new version of the file that changes a lot's content changes its uid, so its
corrections come back stale.
"""

from __future__ import annotations

import re
from typing import Any

import duckdb
from stdnum.fr import siret as stdnum_siret

from observatoire.indicators.domains import OVERRIDES
from observatoire.model import clean, contracts
from observatoire.quality.findings import SET_ASIDE, findings_sql
from observatoire.sqlquote import literal
from observatoire.stewardship.fields import FIELDS
from observatoire.stewardship.store import Decisions, StaleCorrection
from observatoire.warehouse import insert_rows

#: Why a record was set aside by a person (in ``source_records.reasons``).
EXCLUDED = "EXCLUDED_BY_STEWARD"

#: The end of a lot's uid (IDENTITY): "~" and 8 hex digits of a digest of its content.
LOT_SUFFIX = re.compile(r"~[0-9a-f]{8}$")

_RAW = ", ".join(f.raw_column for f in FIELDS.values())
_SOURCE_NOW = "CASE c.field " + " ".join(
    f"WHEN '{f.name}' THEN k.{f.raw_column}" for f in FIELDS.values()) + " END"


def published_uid(uid: str) -> str:
    """The published uid (buyer SIRET + id) of a contract's uid: a lot's without its suffix."""
    return LOT_SUFFIX.sub("", uid)


def load(con: duckdb.DuckDBPyConnection, decided: Decisions) -> None:
    """Corrections in force into a work table (applied by :func:`match`, once the reference
    tables are there); mappings in force into ``purchase_domain_overrides`` (read by the
    indicator facts)."""
    overrides(con, decided.mappings)
    con.execute("""CREATE TEMP TABLE corrections_work (correction_id BIGINT, uid VARCHAR,
        published_uid VARCHAR, buyer_siret VARCHAR, action VARCHAR, field VARCHAR,
        rule_id VARCHAR, source_value VARCHAR, new_value VARCHAR, reason VARCHAR,
        corrected_at TIMESTAMP)""")
    insert_rows(con, "corrections_work", [
        (c["id"], c["uid"], published_uid(c["uid"]), c["buyer_siret"], c["action"], c["field"],
         c["rule_id"], c["source_value"], c["new_value"], c["reason"], c["created_at"])
        for c in decided.corrections
        if c["action"] != "set_value" or c["field"] in FIELDS])
    # The records of the published uids corrected (with their published values) and the
    # contract uid each has as published; the identity of those that are lots.
    raw = ", ".join(f"{f.raw_column} VARCHAR" for f in FIELDS.values())
    con.execute(f"""CREATE TEMP TABLE correction_members_work (record_key VARCHAR,
        published_uid VARCHAR, uid VARCHAR, {raw})""")
    con.execute("""CREATE TEMP TABLE published_identity_work (record_key VARCHAR,
        published_uid VARCHAR, uid VARCHAR, reason VARCHAR, lot_count BIGINT)""")
    con.execute("""CREATE TEMP TABLE correction_matches_work (correction_id BIGINT,
        records BIGINT, matching BIGINT, current_values VARCHAR[])""")
    fields = ", ".join(f'"{f.name}" VARCHAR' for f in FIELDS.values())
    con.execute(f"CREATE TEMP TABLE corrected_values_work (record_key VARCHAR, {fields})")
    con.execute("CREATE VIEW staged AS SELECT * FROM staged_source")


def match(con: duckdb.DuckDBPyConnection) -> None:
    """Which records each correction is on, which still carry its source value, and ``staged``
    with their corrected raw values. Runs before the cleaning, after the reference tables
    (which the cleaning of the published values reads); nothing at all without corrections."""
    uids = sorted({u for row in con.execute(
        "SELECT uid, published_uid FROM corrections_work").fetchall() for u in row})
    if not uids:
        return
    members, identity = _published_identity(con, uids)
    con.register("published_members_arrow", members)
    con.register("published_identity_arrow", identity)
    try:
        con.execute("INSERT INTO correction_members_work BY NAME "
                    "SELECT * FROM published_members_arrow")
        con.execute("INSERT INTO published_identity_work BY NAME "
                    "SELECT * FROM published_identity_arrow")
    finally:
        con.unregister("published_members_arrow")
        con.unregister("published_identity_arrow")
    # Which corrected values still stand on the source value they were made on.
    con.execute(f"""INSERT INTO correction_matches_work
        SELECT c.correction_id, count(k.record_key) AS records,
            count(k.record_key) FILTER (WHERE {_SOURCE_NOW} IS NOT DISTINCT FROM c.source_value)
                AS matching,
            list(DISTINCT {_SOURCE_NOW} ORDER BY {_SOURCE_NOW}) FILTER (
                WHERE k.record_key IS NOT NULL AND {_SOURCE_NOW} IS NOT NULL) AS current_values
        FROM corrections_work c LEFT JOIN correction_members_work k ON k.uid = c.uid
        GROUP BY c.correction_id""")
    pivot = ", ".join(
        f"max(c.new_value) FILTER (WHERE c.field = '{f.name}') AS \"{f.name}\""
        for f in FIELDS.values())
    con.execute(f"""INSERT INTO corrected_values_work
        SELECT k.record_key, {pivot}
        FROM corrections_work c JOIN correction_matches_work m USING (correction_id)
        JOIN correction_members_work k ON k.uid = c.uid
        WHERE c.action = 'set_value' AND m.matching > 0
        GROUP BY k.record_key""")
    if not con.execute("SELECT count(*) FROM corrected_values_work").fetchone()[0]:  # type: ignore[index]
        return
    replaced = ", ".join(
        f'COALESCE(o."{f.name}", s.{f.raw_column}) AS {f.raw_column}' for f in FIELDS.values())
    con.execute(f"""CREATE OR REPLACE VIEW staged AS
        SELECT s.* REPLACE ({replaced})
        FROM staged_source s
        LEFT JOIN corrected_values_work o ON o.record_key = s.file_hash || '#' || s.position""")


def _published_identity(con: duckdb.DuckDBPyConnection, uids: list[str]) -> tuple[Any, Any]:
    """The records of the published ``uids`` (Arrow: key, published uid, contract uid and the
    published values of the correctable fields) and the identity rows of those that are lots,
    computed by the build's own statements on the published values alone. They run on a
    second connection to the same database, whose temporary ``staged``, ``records``… hide
    nothing of the build's own (DuckDB's temporary tables belong to their connection)."""
    cur = con.cursor()
    # a cursor has its own settings: it reads what the build's connection reads (an
    # incremental build runs the model in a schema of its own)
    path = con.execute("SELECT current_setting('search_path')").fetchall()[0][0]
    cur.execute(f"SET search_path = {literal(path)}")
    try:
        cur.execute("CREATE TEMP TABLE corrected_uids_work (uid VARCHAR)")
        insert_rows(cur, "corrected_uids_work", [(u,) for u in uids])
        # raw_json, the bulk of the staged files, is not read (the build never reads it)
        cur.execute("""CREATE TEMP TABLE staged AS
            SELECT * REPLACE (CAST(NULL AS VARCHAR) AS raw_json) FROM staged_source
            WHERE contract_uid(raw_id, raw_buyer_id) IN (SELECT uid FROM corrected_uids_work)""")
        cur.execute(clean.RECORDS)
        cur.execute(clean.RECORD_HOLDERS)
        cur.execute(contracts.RECORD_FLAGS)
        # the SIRET check of the records step (model.steps), for these records only
        sirets = [row[0] for row in cur.execute(contracts.IDENTIFIERS).fetchall()]
        cur.execute("CREATE TEMP TABLE siret_checks (siret VARCHAR, valid BOOLEAN)")
        insert_rows(cur, "siret_checks", [(s, stdnum_siret.is_valid(s)) for s in sirets])
        cur.execute(findings_sql("findings_records_work", {"record", "holder"}))
        cur.execute(SET_ASIDE)
        cur.execute(contracts.IDENTITY)
        members = cur.sql(f"""SELECT r.record_key, r.uid AS published_uid,
                COALESCE(i.uid, r.uid) AS uid, {_RAW}
            FROM records r LEFT JOIN record_identity_work i USING (record_key)""").to_arrow_table()
        identity = cur.sql("SELECT * FROM record_identity_work").to_arrow_table()
    finally:
        cur.close()
    return members, identity


#: Run by the model right after IDENTITY: the records of the published uids that corrections are
#: on take the identity of their published values (see :func:`match`), so that a correction
#: never moves a lot to another uid; records set aside keep their published uid, as in IDENTITY.
PUBLISHED_IDENTITY = [
    """DELETE FROM record_identity_work
       WHERE published_uid IN (SELECT published_uid FROM correction_members_work)""",
    """INSERT INTO record_identity_work BY NAME SELECT * FROM published_identity_work
       WHERE record_key NOT IN (SELECT record_key FROM set_aside_work)""",
]


def overrides(con: duckdb.DuckDBPyConnection, mappings: list[dict[str, Any]]) -> None:
    con.execute(OVERRIDES)
    rows = [(m["id"], m["key"], m["value"], m["decided_at"]) for m in mappings
            if m["kind"] == "cpv_domain"]
    if rows:
        insert_rows(con, "purchase_domain_overrides", rows)


def exclude(con: duckdb.DuckDBPyConnection) -> None:
    """Set aside the records of contracts a person marked "to exclude" (after the rules)."""
    excluded = """SELECT k.record_key FROM correction_members_work k JOIN corrections_work c
                   ON c.action = 'exclude' AND c.uid = k.uid"""
    con.execute(f"""UPDATE set_aside_work SET reasons = list_append(reasons, '{EXCLUDED}')
        WHERE record_key IN ({excluded})""")
    con.execute(f"""INSERT INTO set_aside_work
        SELECT DISTINCT record_key, ['{EXCLUDED}'] FROM ({excluded})
        WHERE record_key NOT IN (SELECT record_key FROM set_aside_work)""")


def publish(con: duckdb.DuckDBPyConnection) -> list[StaleCorrection]:
    """``corrections_applied``, published values back in ``source_records``, corrected fields
    on ``contracts``; returns the corrections found stale."""
    con.execute("""CREATE TABLE corrections_applied AS
        WITH judged AS (
            SELECT c.*, m.current_values, m.records > 0 AS contract_found,
                -- a lot's uid is a digest of its published content: when a new version of the
                -- file changes it, the lot is gone but its consultation is still there
                c.uid <> c.published_uid AND c.published_uid IN (
                    SELECT published_uid FROM correction_members_work) AS lot_changed,
                CASE c.action
                    WHEN 'set_value' THEN m.matching > 0
                    WHEN 'exclude' THEN m.records > 0
                    ELSE EXISTS (SELECT 1 FROM findings f
                                 WHERE f.uid = c.uid AND f.rule_id = c.rule_id
                                   AND f.field = c.field
                                   AND f.raw_value IS NOT DISTINCT FROM c.source_value)
                END AS holds
            FROM corrections_work c JOIN correction_matches_work m USING (correction_id)
        )
        SELECT correction_id, uid, buyer_siret, action, field, NULLIF(rule_id, '') AS rule_id,
            source_value, new_value AS corrected_value, reason, corrected_at,
            CASE WHEN holds THEN 'applied' ELSE 'stale' END AS status,
            CASE WHEN holds THEN NULL
                 WHEN NOT contract_found AND NOT lot_changed THEN 'contract_missing'
                 WHEN action = 'not_a_defect' THEN 'finding_gone'
                 ELSE 'source_changed' END AS stale_reason,
            CASE WHEN action = 'set_value' THEN current_values END AS current_source_values
        FROM judged ORDER BY correction_id""")
    # Nothing to restore or mark when no correction applies (the usual build): skip the passes
    # over every record and contract.
    if con.execute("SELECT count(*) FROM corrected_values_work").fetchall()[0][0]:
        restore = ", ".join(f"{f.raw_column} = k.{f.raw_column}" for f in FIELDS.values())
        con.execute(f"""UPDATE source_records SET {restore}
            FROM correction_members_work k
            WHERE source_records.record_key = k.record_key
              AND k.record_key IN (SELECT record_key FROM corrected_values_work)""")
    if con.execute("SELECT count(*) FROM corrections_applied WHERE action = 'set_value' "
                   "AND status = 'applied'").fetchall()[0][0]:
        con.execute("""UPDATE contracts SET corrected_fields = x.fields
            FROM (SELECT uid, list(field ORDER BY field) AS fields FROM corrections_applied
                  WHERE action = 'set_value' AND status = 'applied' GROUP BY uid) x
            WHERE contracts.uid = x.uid""")
    for table in ("corrections_work", "correction_matches_work", "corrected_values_work",
                  "correction_members_work", "published_identity_work"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return [StaleCorrection(int(i), why) for i, why in con.execute(
        "SELECT correction_id, stale_reason FROM corrections_applied WHERE status = 'stale' "
        "ORDER BY correction_id").fetchall()]
