"""Reads of the warehouse for the stewards' pages: open findings in a scope, a contract's
published and corrected values. Every value from a request is a bound parameter."""

from __future__ import annotations

from typing import Any

from observatoire.config import Settings
from observatoire.quality import history
from observatoire.stewardship.permissions import Perimeter
from observatoire.warehouse import open_warehouse

SEVERITY_ORDER = ("CASE f.severity WHEN 'bloquant' THEN 0 WHEN 'avertissement' THEN 1 "
                  "WHEN 'correction' THEN 2 ELSE 3 END")

#: Findings not accepted as right by an applied "not a defect" decision.
_OPEN = """
WITH dismissed AS (
    SELECT uid, rule_id, field, source_value FROM corrections_applied
    WHERE action = 'not_a_defect' AND status = 'applied'
)
SELECT f.* FROM findings f
WHERE NOT EXISTS (SELECT 1 FROM dismissed d WHERE d.uid = f.uid AND d.rule_id = f.rule_id
                  AND d.field = f.field AND d.source_value IS NOT DISTINCT FROM f.raw_value)
"""

#: The optional filters of the pages: a buyer (SIRET or SIREN), a directorate.
_FILTERS = """
  AND (CAST(? AS VARCHAR) IS NULL OR starts_with({buyer}, ?))
  AND (CAST(? AS VARCHAR) IS NULL OR {directorate} = ?)"""


def _where(scope: Perimeter, buyer_column: str, directorate_column: str, buyer: str | None,
           directorate: str | None) -> tuple[str, list[Any]]:
    """The perimeter and the page's filters, as a condition and its parameters."""
    condition, params = scope.sql(buyer_column, directorate_column)
    return (condition + _FILTERS.format(buyer=buyer_column, directorate=directorate_column),
            [*params, buyer, buyer, directorate, directorate])


def _open(scope: Perimeter, buyer: str | None, directorate: str | None
          ) -> tuple[str, list[Any]]:
    """Open findings of a perimeter, filtered: a query and its parameters."""
    condition, params = _where(scope, "f.buyer_siret", "f.directorate_id", buyer, directorate)
    return f"SELECT * FROM ({_OPEN}) f WHERE {condition}", params


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def open_findings(
    settings: Settings, scope: Perimeter, *, severity: str | None = None,
    rule: str | None = None, buyer: str | None = None, directorate: str | None = None,
    page: int = 1, size: int = 50,
) -> dict[str, Any]:
    """Open findings in a perimeter: counts by severity and rule, and one page of them."""
    opened, params = _open(scope, buyer, directorate)
    con = open_warehouse(settings)
    try:
        by_severity = _dicts(con.execute(
            f"SELECT f.severity, count(*) AS findings FROM ({opened}) f "
            f"GROUP BY f.severity ORDER BY {SEVERITY_ORDER}", params))
        by_rule = _dicts(con.execute(
            f"""SELECT f.rule_id, f.severity, f.field, any_value(q.title) AS title,
                    count(*) AS findings, count(DISTINCT f.uid) AS contracts
                FROM ({opened}) f LEFT JOIN quality_rules q USING (rule_id, field)
                WHERE (CAST(? AS VARCHAR) IS NULL OR f.severity = ?)
                GROUP BY f.rule_id, f.severity, f.field
                ORDER BY {SEVERITY_ORDER}, findings DESC, f.rule_id""",
            [*params, severity, severity]))
        where = ("WHERE (CAST(? AS VARCHAR) IS NULL OR f.severity = ?) "
                 "AND (CAST(? AS VARCHAR) IS NULL OR f.rule_id = ?)")
        filters = [*params, severity, severity, rule, rule]
        total = con.execute(f"SELECT count(*) FROM ({opened}) f {where}", filters).fetchone()
        rows = _dicts(con.execute(
            f"""SELECT f.finding_id, f.rule_id, f.severity, f.field, f.uid, f.buyer_siret,
                    f.raw_value, f.value, f.file_name, f.directorate_id, q.title, c.object
                FROM ({opened}) f LEFT JOIN quality_rules q USING (rule_id, field)
                LEFT JOIN contracts c ON c.uid = f.uid
                {where}
                ORDER BY {SEVERITY_ORDER}, f.rule_id, f.uid, f.finding_id
                LIMIT ? OFFSET ?""", [*filters, size, (page - 1) * size]))
        applied, applied_params = _corrections_applied(scope, buyer, directorate)
        corrected = con.execute(f"SELECT count(*) FROM ({applied}) a", applied_params).fetchone()
    finally:
        con.close()
    count = int(total[0]) if total else 0
    return {
        "by_severity": by_severity, "by_rule": by_rule, "findings": rows, "count": count,
        "open_total": sum(r["findings"] for r in by_severity),
        "corrections_applied": int(corrected[0]) if corrected else 0,
        "page": page, "pages": max(1, -(-count // size)),
    }


def _corrections_applied(scope: Perimeter, buyer: str | None, directorate: str | None
                         ) -> tuple[str, list[Any]]:
    """Corrections the warehouse in service applied in a perimeter (a contract's directorate
    comes from the model; an excluded contract is not there, its buyer still is)."""
    condition, params = _where(scope, "a.buyer_siret", "k.directorate_id", buyer, directorate)
    return (f"""SELECT a.*, k.directorate_id FROM corrections_applied a
                LEFT JOIN contracts k ON k.uid = a.uid
                WHERE a.status = 'applied' AND {condition}""", params)


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
            """SELECT c.*, b.name AS buyer_name, d.label AS directorate_label
               FROM contracts c LEFT JOIN buyers b USING (buyer_siret)
               LEFT JOIN profile_directorates d USING (directorate_id)
               WHERE c.uid = ?""", [uid]))
        published = _dicts(con.execute(
            """SELECT sr.* FROM source_records sr WHERE sr.uid = ?
               ORDER BY sr.status = 'kept' DESC, sr.load_id, sr.position""", [uid]))
        findings = _dicts(con.execute(
            f"""SELECT f.finding_id, f.rule_id, f.severity, f.field, f.raw_value, f.value,
                    f.directorate_id, q.title, q.explanation,
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
    contract = found[0] if found else None
    # a contract that is in the model has its directorate; one whose records were all set
    # aside takes that of its findings (a buyer rule of the profile)
    directorate = (contract["directorate_id"] if contract
                   else next((f["directorate_id"] for f in findings if f["directorate_id"]), None))
    return {
        "contract": contract,
        "directorate_id": directorate,
        "primary": published[0] if published else None,
        "records": published,
        "findings": findings,
        "applied": {a["correction_id"]: a for a in applied},
        # a uid is the buyer's SIRET followed by the contract's id
        "buyer_siret": found[0]["buyer_siret"] if found else uid[:14],
    }


def directorates(settings: Settings) -> list[dict[str, Any]]:
    """The directorates the warehouse in service was built with (id, label), in profile order."""
    con = open_warehouse(settings)
    try:
        return _dicts(con.execute(
            "SELECT directorate_id, label, domains, buyers FROM profile_directorates"))
    finally:
        con.close()


def directorates_of(settings: Settings, uids: list[str]) -> dict[str, str | None]:
    """The directorate of each contract (from the model, else from its findings)."""
    if not uids:
        return {}
    con = open_warehouse(settings)
    try:
        rows = con.execute(
            """SELECT u.uid, COALESCE(any_value(c.directorate_id),
                                      max(f.directorate_id)) AS directorate_id
               FROM (SELECT unnest(CAST(? AS VARCHAR[])) AS uid) u
               LEFT JOIN contracts c ON c.uid = u.uid
               LEFT JOIN findings f ON f.uid = u.uid
               GROUP BY u.uid""", [uids]).fetchall()
    finally:
        con.close()
    return {uid: directorate for uid, directorate in rows}


#: Contracts of a perimeter, filtered (a condition of :func:`_where` goes in the braces).
_SCOPED = "SELECT c.* FROM contracts c WHERE {condition}"


def dashboard(settings: Settings, scope: Perimeter, buyer: str | None = None,
              directorate: str | None = None, limit: int = 50) -> dict[str, Any]:
    """Completeness and validity of a perimeter's contracts by year, and per buyer and per
    directorate: contracts, open findings, corrections applied, so the legal directorate can
    lead the effort."""
    condition, params = _where(scope, "c.buyer_siret", "c.directorate_id", buyer, directorate)
    scoped = _SCOPED.format(condition=condition)
    opened, open_params = _open(scope, buyer, directorate)
    open_by_uid = f"""SELECT f.uid,
            count(*) FILTER (WHERE f.severity IN ('bloquant', 'avertissement')) AS defects,
            count(*) AS findings
        FROM ({opened}) f GROUP BY f.uid"""
    applied, applied_params = _corrections_applied(scope, buyer, directorate)
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
                FROM ({scoped}) c LEFT JOIN ({open_by_uid}) o ON o.uid = c.uid
                GROUP BY c.notification_year ORDER BY c.notification_year NULLS FIRST""",
            [*params, *open_params]))
        groups = {}
        for key, label in (("buyer_siret", "any_value(b.name)"),
                           ("directorate_id", "any_value(d.label)")):
            groups[key] = _dicts(con.execute(
                f"""WITH applied AS (SELECT {key} AS k, count(*) AS n FROM ({applied}) a
                                     GROUP BY ALL)
                    SELECT c.{key} AS key, {label} AS name, count(*) AS contracts,
                        COALESCE(sum(o.findings), 0) AS open_findings,
                        avg(CAST(COALESCE(o.defects, 0) = 0 AS INTEGER)) AS without_defect,
                        COALESCE(any_value(ap.n), 0) AS corrections
                    FROM ({scoped}) c LEFT JOIN ({open_by_uid}) o ON o.uid = c.uid
                    LEFT JOIN buyers b ON b.buyer_siret = c.buyer_siret
                    LEFT JOIN profile_directorates d ON d.directorate_id = c.directorate_id
                    LEFT JOIN applied ap ON ap.k IS NOT DISTINCT FROM c.{key}
                    GROUP BY c.{key} ORDER BY open_findings DESC, c.{key} NULLS LAST
                    LIMIT ?""",
                [*applied_params, *params, *open_params, limit]))
    finally:
        con.close()
    return {"by_year": by_year, "by_buyer": groups["buyer_siret"],
            "by_directorate": groups["directorate_id"]}


def quality_series(settings: Settings, kind: str, scope_id: str) -> list[dict[str, Any]]:
    """A scope's quality over the builds (``quality_history``); a buyer given by its SIREN is
    the sum of its SIRETs."""
    con = open_warehouse(settings)
    try:
        return history.series(con, kind, scope_id, prefix=kind == "buyer" and len(scope_id) == 9)
    finally:
        con.close()
