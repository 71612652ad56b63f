"""Reads of the warehouse for the stewards' pages: open findings in a scope, a contract's
published and corrected values. Every value from a request is a bound parameter."""

from __future__ import annotations

from typing import Any

from observatoire.config import Settings
from observatoire.warehouse import open_warehouse

SEVERITY_ORDER = ("CASE f.severity WHEN 'bloquant' THEN 0 WHEN 'avertissement' THEN 1 "
                  "WHEN 'correction' THEN 2 ELSE 3 END")

#: Findings not accepted as right by an applied "not a defect" decision, in a scope.
_OPEN = """
WITH dismissed AS (
    SELECT uid, rule_id, field, source_value FROM corrections_applied
    WHERE action = 'not_a_defect' AND status = 'applied'
)
SELECT f.* FROM findings f
WHERE NOT EXISTS (SELECT 1 FROM dismissed d WHERE d.uid = f.uid AND d.rule_id = f.rule_id
                  AND d.field = f.field AND d.source_value IS NOT DISTINCT FROM f.raw_value)
  AND (CAST(? AS VARCHAR[]) IS NULL
       OR len(list_filter(CAST(? AS VARCHAR[]), lambda p: starts_with(f.buyer_siret, p))) > 0)
  AND (CAST(? AS VARCHAR) IS NULL OR f.buyer_siret = ?)
"""


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def open_findings(
    settings: Settings, prefixes: list[str] | None, *, severity: str | None = None,
    rule: str | None = None, buyer: str | None = None, page: int = 1, size: int = 50,
) -> dict[str, Any]:
    """Open findings in a scope: counts by severity and rule, and one page of them."""
    scope = [prefixes, prefixes, buyer, buyer]
    con = open_warehouse(settings)
    try:
        by_severity = _dicts(con.execute(
            f"SELECT f.severity, count(*) AS findings FROM ({_OPEN}) f "
            f"GROUP BY f.severity ORDER BY {SEVERITY_ORDER}", scope))
        by_rule = _dicts(con.execute(
            f"""SELECT f.rule_id, f.severity, f.field, any_value(q.title) AS title,
                    count(*) AS findings, count(DISTINCT f.uid) AS contracts
                FROM ({_OPEN}) f LEFT JOIN quality_rules q USING (rule_id, field)
                WHERE (CAST(? AS VARCHAR) IS NULL OR f.severity = ?)
                GROUP BY f.rule_id, f.severity, f.field
                ORDER BY {SEVERITY_ORDER}, findings DESC, f.rule_id""",
            [*scope, severity, severity]))
        where = ("WHERE (CAST(? AS VARCHAR) IS NULL OR f.severity = ?) "
                 "AND (CAST(? AS VARCHAR) IS NULL OR f.rule_id = ?)")
        filters = [*scope, severity, severity, rule, rule]
        total = con.execute(f"SELECT count(*) FROM ({_OPEN}) f {where}", filters).fetchone()
        rows = _dicts(con.execute(
            f"""SELECT f.finding_id, f.rule_id, f.severity, f.field, f.uid, f.buyer_siret,
                    f.raw_value, f.value, f.file_name, q.title, c.object
                FROM ({_OPEN}) f LEFT JOIN quality_rules q USING (rule_id, field)
                LEFT JOIN contracts c ON c.uid = f.uid
                {where}
                ORDER BY {SEVERITY_ORDER}, f.rule_id, f.uid, f.finding_id
                LIMIT ? OFFSET ?""", [*filters, size, (page - 1) * size]))
        corrected = con.execute(
            """SELECT count(*) FROM corrections_applied c WHERE c.status = 'applied'
               AND (CAST(? AS VARCHAR[]) IS NULL
                    OR len(list_filter(CAST(? AS VARCHAR[]),
                                       lambda p: starts_with(c.buyer_siret, p))) > 0)""",
            [prefixes, prefixes]).fetchone()
    finally:
        con.close()
    count = int(total[0]) if total else 0
    return {
        "by_severity": by_severity, "by_rule": by_rule, "findings": rows, "count": count,
        "open_total": sum(r["findings"] for r in by_severity),
        "corrections_applied": int(corrected[0]) if corrected else 0,
        "page": page, "pages": max(1, -(-count // size)),
    }


def finding(settings: Settings, finding_id: str) -> dict[str, Any] | None:
    con = open_warehouse(settings)
    try:
        rows = _dicts(con.execute(
            """SELECT f.*, q.title FROM findings f
               LEFT JOIN quality_rules q USING (rule_id, field) WHERE f.finding_id = ?""",
            [finding_id]))
    finally:
        con.close()
    return rows[0] if rows else None


def contract_state(settings: Settings, uid: str) -> dict[str, Any] | None:
    """A contract for its stewards: its values, the published ones, findings and corrections
    as the warehouse in service applied them."""
    con = open_warehouse(settings)
    try:
        found = _dicts(con.execute(
            """SELECT c.*, b.name AS buyer_name FROM contracts c
               LEFT JOIN buyers b USING (buyer_siret) WHERE c.uid = ?""", [uid]))
        published = _dicts(con.execute(
            """SELECT sr.* FROM source_records sr WHERE sr.uid = ?
               ORDER BY sr.status = 'kept' DESC, sr.load_id, sr.position""", [uid]))
        findings = _dicts(con.execute(
            f"""SELECT f.finding_id, f.rule_id, f.severity, f.field, f.raw_value, f.value,
                    q.title, q.explanation,
                    EXISTS (SELECT 1 FROM corrections_applied d
                            WHERE d.action = 'not_a_defect' AND d.status = 'applied'
                              AND d.uid = f.uid AND d.rule_id = f.rule_id AND d.field = f.field
                              AND d.source_value IS NOT DISTINCT FROM f.raw_value) AS dismissed
                FROM findings f LEFT JOIN quality_rules q USING (rule_id, field)
                WHERE f.uid = ? ORDER BY {SEVERITY_ORDER}, f.rule_id, f.finding_id""", [uid]))
        applied = _dicts(con.execute(
            "SELECT * FROM corrections_applied WHERE uid = ? ORDER BY correction_id", [uid]))
    finally:
        con.close()
    if not found and not published:
        return None
    return {
        "contract": found[0] if found else None,
        "primary": published[0] if published else None,
        "records": published,
        "findings": findings,
        "applied": {a["correction_id"]: a for a in applied},
        # a uid is the buyer's SIRET followed by the contract's id
        "buyer_siret": found[0]["buyer_siret"] if found else uid[:14],
    }


#: Contracts of a scope (same parameters as _OPEN's scope: prefixes twice, buyer twice).
_SCOPED = """
SELECT c.* FROM contracts c
WHERE (CAST(? AS VARCHAR[]) IS NULL
       OR len(list_filter(CAST(? AS VARCHAR[]), lambda p: starts_with(c.buyer_siret, p))) > 0)
  AND (CAST(? AS VARCHAR) IS NULL OR c.buyer_siret = ?)
"""


def dashboard(settings: Settings, prefixes: list[str] | None, buyer: str | None = None,
              limit: int = 50) -> dict[str, Any]:
    """Completeness and validity of a scope's contracts by year, and per buyer: contracts,
    open findings, corrections applied, so the legal directorate can lead the effort."""
    scope = [prefixes, prefixes, buyer, buyer]
    open_by_uid = f"""SELECT f.uid,
            count(*) FILTER (WHERE f.severity IN ('bloquant', 'avertissement')) AS defects,
            count(*) AS findings
        FROM ({_OPEN}) f GROUP BY f.uid"""
    con = open_warehouse(settings)
    try:
        by_year = _dicts(con.execute(
            f"""SELECT c.notification_year AS year, count(*) AS contracts,
                    avg(CAST(c.amount_initial IS NOT NULL AS INTEGER)) AS with_amount,
                    avg(CAST(c.cpv IS NOT NULL AS INTEGER)) AS with_cpv,
                    avg(CAST(c.notification_date_source = 'notification' AS INTEGER))
                        AS with_notification_date,
                    avg(CAST(c.holder_count > 0 AS INTEGER)) AS with_holders,
                    avg(CAST(c.place_code IS NOT NULL AS INTEGER)) AS with_place,
                    avg(CAST(COALESCE(o.defects, 0) = 0 AS INTEGER)) AS without_defect,
                    count(*) FILTER (WHERE len(c.corrected_fields) > 0) AS corrected
                FROM ({_SCOPED}) c LEFT JOIN ({open_by_uid}) o ON o.uid = c.uid
                GROUP BY c.notification_year ORDER BY c.notification_year NULLS FIRST""",
            [*scope, *scope]))
        by_buyer = _dicts(con.execute(
            f"""SELECT c.buyer_siret, any_value(b.name) AS name, count(*) AS contracts,
                    COALESCE(sum(o.findings), 0) AS open_findings,
                    avg(CAST(COALESCE(o.defects, 0) = 0 AS INTEGER)) AS without_defect,
                    (SELECT count(*) FROM corrections_applied a
                     WHERE a.buyer_siret = c.buyer_siret AND a.status = 'applied') AS corrections
                FROM ({_SCOPED}) c LEFT JOIN ({open_by_uid}) o ON o.uid = c.uid
                LEFT JOIN buyers b ON b.buyer_siret = c.buyer_siret
                GROUP BY c.buyer_siret ORDER BY open_findings DESC, c.buyer_siret LIMIT ?""",
            [*scope, *scope, limit]))
    finally:
        con.close()
    return {"by_year": by_year, "by_buyer": by_buyer}
