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
"""

from __future__ import annotations

from typing import Any

import duckdb

from observatoire.stewardship.fields import FIELDS
from observatoire.stewardship.store import Decisions, StaleCorrection
from observatoire.warehouse import insert_rows

#: Why a record was set aside by a person (in ``source_records.reasons``).
EXCLUDED = "EXCLUDED_BY_STEWARD"

_SOURCE_NOW = "CASE c.field " + " ".join(
    f"WHEN '{f.name}' THEN k.{f.raw_column}" for f in FIELDS.values()) + " END"


def load(con: duckdb.DuckDBPyConnection, decided: Decisions) -> None:
    """Corrections in force into a work table, then ``staged`` with corrected raw values;
    mappings in force into ``purchase_domain_overrides`` (read by the indicator facts)."""
    overrides(con, decided.mappings)
    corrections = decided.corrections
    con.execute("""CREATE TEMP TABLE corrections_work (correction_id BIGINT, uid VARCHAR,
        buyer_siret VARCHAR, action VARCHAR, field VARCHAR, rule_id VARCHAR,
        source_value VARCHAR, new_value VARCHAR, reason VARCHAR, corrected_at TIMESTAMP)""")
    rows = [(c["id"], c["uid"], c["buyer_siret"], c["action"], c["field"], c["rule_id"],
             c["source_value"], c["new_value"], c["reason"], c["created_at"])
            for c in corrections
            if c["action"] != "set_value" or c["field"] in FIELDS]
    if rows:
        insert_rows(con, "corrections_work", rows)
    else:  # nothing to apply: no pass over the staged records at all
        con.execute("""CREATE TEMP TABLE correction_matches_work (correction_id BIGINT,
            records BIGINT, matching BIGINT, current_values VARCHAR[])""")
        con.execute("CREATE TEMP TABLE corrected_values_work (uid VARCHAR)")
        con.execute("CREATE VIEW staged AS SELECT * FROM staged_source")
        return
    # Which corrected values still stand on the source value they were made on.
    con.execute(f"""CREATE TEMP TABLE correction_matches_work AS
        WITH keyed AS (
            SELECT contract_uid(s.raw_id, s.raw_buyer_id) AS uid, s.*
            FROM staged_source s
            WHERE contract_uid(s.raw_id, s.raw_buyer_id) IN (SELECT uid FROM corrections_work)
        )
        SELECT c.correction_id, count(k.uid) AS records,
            count(k.uid) FILTER (WHERE {_SOURCE_NOW} IS NOT DISTINCT FROM c.source_value)
                AS matching,
            list(DISTINCT {_SOURCE_NOW} ORDER BY {_SOURCE_NOW}) FILTER (
                WHERE k.uid IS NOT NULL AND {_SOURCE_NOW} IS NOT NULL) AS current_values
        FROM corrections_work c LEFT JOIN keyed k ON k.uid = c.uid
        GROUP BY c.correction_id""")
    pivot = ", ".join(
        f"max(c.new_value) FILTER (WHERE c.field = '{f.name}') AS \"{f.name}\""
        for f in FIELDS.values())
    con.execute(f"""CREATE TEMP TABLE corrected_values_work AS
        SELECT c.uid, {pivot}
        FROM corrections_work c JOIN correction_matches_work m USING (correction_id)
        WHERE c.action = 'set_value' AND m.matching > 0
        GROUP BY c.uid""")
    if not con.execute("SELECT count(*) FROM corrected_values_work").fetchone()[0]:  # type: ignore[index]
        con.execute("CREATE VIEW staged AS SELECT * FROM staged_source")
        return
    replaced = ", ".join(
        f'COALESCE(o."{f.name}", s.{f.raw_column}) AS {f.raw_column}' for f in FIELDS.values())
    con.execute(f"""CREATE VIEW staged AS
        SELECT s.* REPLACE ({replaced})
        FROM staged_source s
        LEFT JOIN corrected_values_work o ON o.uid = contract_uid(s.raw_id, s.raw_buyer_id)""")


OVERRIDES = """CREATE TABLE IF NOT EXISTS purchase_domain_overrides (mapping_id BIGINT,
    cpv_prefix VARCHAR, domain_id VARCHAR, decided_at TIMESTAMP)"""


def overrides(con: duckdb.DuckDBPyConnection, mappings: list[dict[str, Any]]) -> None:
    con.execute(OVERRIDES)
    rows = [(m["id"], m["key"], m["value"], m["decided_at"]) for m in mappings
            if m["kind"] == "cpv_domain"]
    if rows:
        insert_rows(con, "purchase_domain_overrides", rows)


def exclude(con: duckdb.DuckDBPyConnection) -> None:
    """Set aside the records of contracts a person marked "to exclude" (after the rules)."""
    con.execute(f"""UPDATE set_aside_work SET reasons = list_append(reasons, '{EXCLUDED}')
        WHERE record_key IN (SELECT r.record_key FROM records r JOIN corrections_work c
                             ON c.action = 'exclude' AND c.uid = r.uid)""")
    con.execute(f"""INSERT INTO set_aside_work
        SELECT r.record_key, ['{EXCLUDED}'] FROM records r
        WHERE r.uid IN (SELECT uid FROM corrections_work WHERE action = 'exclude')
          AND r.record_key NOT IN (SELECT record_key FROM set_aside_work)""")


def publish(con: duckdb.DuckDBPyConnection) -> list[StaleCorrection]:
    """``corrections_applied``, published values back in ``source_records``, corrected fields
    on ``contracts``; returns the corrections found stale."""
    con.execute("""CREATE TABLE corrections_applied AS
        -- corrections attach to the published uid (buyer SIRET + id), which lots share; only
        -- the corrections' uids are looked for (not a million distinct uids, usually for none)
        WITH known AS (SELECT DISTINCT buyer_siret || id AS uid FROM records
                       WHERE uid IS NOT NULL
                         AND buyer_siret || id IN (SELECT uid FROM corrections_work)),
        judged AS (
            SELECT c.*, m.current_values, c.uid IN (SELECT uid FROM known) AS contract_found,
                CASE c.action
                    WHEN 'set_value' THEN m.matching > 0
                    WHEN 'exclude' THEN c.uid IN (SELECT uid FROM known)
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
            CASE WHEN holds THEN NULL WHEN NOT contract_found THEN 'contract_missing'
                 WHEN action = 'not_a_defect' THEN 'finding_gone'
                 ELSE 'source_changed' END AS stale_reason,
            CASE WHEN action = 'set_value' THEN current_values END AS current_source_values
        FROM judged ORDER BY correction_id""")
    # Nothing to restore or mark when no correction applies (the usual build): skip the passes
    # over every record and contract.
    if con.execute("SELECT count(*) FROM corrected_values_work").fetchall()[0][0]:
        restore = ", ".join(f"{f.raw_column} = s.{f.raw_column}" for f in FIELDS.values())
        con.execute(f"""UPDATE source_records SET {restore}
            FROM staged_source s
            WHERE source_records.record_key = s.file_hash || '#' || s.position
              AND source_records.uid IN (SELECT uid FROM corrected_values_work)""")
    if con.execute("SELECT count(*) FROM corrections_applied WHERE action = 'set_value' "
                   "AND status = 'applied'").fetchall()[0][0]:
        con.execute("""UPDATE contracts SET corrected_fields = x.fields
            FROM (SELECT uid, list(field ORDER BY field) AS fields FROM corrections_applied
                  WHERE action = 'set_value' AND status = 'applied' GROUP BY uid) x
            WHERE contracts.uid = x.uid""")
    for table in ("corrections_work", "correction_matches_work", "corrected_values_work"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return [StaleCorrection(int(i), why) for i, why in con.execute(
        "SELECT correction_id, stale_reason FROM corrections_applied WHERE status = 'stale' "
        "ORDER BY correction_id").fetchall()]
