"""Reports read from the catalog and the warehouse in service: status and quality.

One service used by the CLI today and by the web and API tomorrow; each returns plain data
(dicts and lists) that the caller renders as it likes.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import duckdb

from observatoire.config import Settings
from observatoire.landing.catalog import Catalog, superseded
from observatoire.warehouse import open_warehouse, table_counts
from observatoire.warehouse_writer import recognise_interrupted


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


#: reference table -> what is not checked or enriched without it (French, for users)
REFERENCE_EFFECTS = {
    "ref_cpv": "Nomenclature CPV absente : les codes CPV ne sont ni vérifiés ni réparés, et les "
    "libellés manquent.",
    "ref_communes": "Code officiel géographique absent : les lieux d'exécution et les "
    "adresses des titulaires ne sont pas rattachés aux départements et régions.",
    "ref_sirene_categories": "Catégories d'entreprise SIRENE absentes : la taille des titulaires "
    "(PME, ETI, GE) est inconnue.",
    "ref_sirene_establishments": "Établissements SIRENE absents : la localisation des titulaires "
    "est inconnue.",
}


def missing_references(table_rows: dict[str, int]) -> list[str]:
    """What the warehouse could not check or enrich because a reference file was not loaded."""
    return [effect for table, effect in REFERENCE_EFFECTS.items() if not table_rows.get(table)]


def status(settings: Settings) -> dict[str, Any]:
    """Loads, the last builds, table counts and reconciliation of the warehouse in service."""
    settings.ensure_home()
    recognise_interrupted(settings)  # a killed build reads « interrompue », not « en cours »
    catalog = Catalog(settings.catalog_path)
    all_loads = catalog.loads()
    replaced = superseded(all_loads)
    loads = [{**asdict(ld), "superseded_by": replaced.get(ld.load_id or 0)} for ld in all_loads]
    report: dict[str, Any] = {
        "home": str(settings.home),
        "loads": loads,
        "builds": catalog.builds(limit=5, steps=True),
        "warehouse": None,
    }
    if settings.warehouse_path.exists():
        con = open_warehouse(settings)
        try:
            counts = table_counts(con)
            report["warehouse"] = {
                "path": str(settings.warehouse_path),
                "build": _rows(con, "SELECT * FROM build_info")[0],
                "tables": [{"name": n, "rows": c} for n, c in counts.items()],
                "reconciliation": _rows(con, "SELECT * FROM reconciliation ORDER BY load_id"),
                "source_overlap": _rows(con, "SELECT * FROM source_overlap"),
                "missing_references": missing_references(counts),
            }
        finally:
            con.close()
    return report


def quality(settings: Settings, limit: int = 50) -> dict[str, Any]:
    """Findings by rule, by source file and by buyer, with record status counts."""
    con = open_warehouse(settings)
    try:
        return {
            "records": _rows(
                con,
                """SELECT status, count(*) AS records FROM source_records
                                     GROUP BY status ORDER BY status""",
            ),
            "by_rule": _rows(
                con,
                """
                SELECT f.rule_id, f.severity, f.field, q.title, count(*) AS findings,
                       count(DISTINCT f.record_key) AS records,
                       any_value(q.explanation) AS explanation,
                       any_value(q.hint) AS hint
                FROM findings f LEFT JOIN quality_rules q USING (rule_id, field)
                GROUP BY f.rule_id, f.severity, f.field, q.title
                ORDER BY CASE f.severity WHEN 'bloquant' THEN 0 WHEN 'avertissement' THEN 1
                         WHEN 'correction' THEN 2 ELSE 3 END, findings DESC, f.rule_id,
                         f.field""",
            ),
            "by_file": _rows(
                con,
                """
                SELECT sr.file_name, count(*) AS records,
                       count(*) FILTER (WHERE sr.status = 'set_aside') AS set_aside,
                       (SELECT count(*) FROM findings f WHERE f.load_id = sr.load_id
                          AND f.severity = 'avertissement') AS warnings,
                       (SELECT count(*) FROM findings f WHERE f.load_id = sr.load_id
                          AND f.severity = 'correction') AS repairs
                FROM source_records sr GROUP BY sr.load_id, sr.file_name ORDER BY sr.load_id""",
            ),
            "completeness": _rows(
                con,
                """
                SELECT sr.source, count(*) AS contracts,
                       avg(CASE WHEN c.notification_date_source = 'notification' THEN 1 ELSE 0 END)
                           AS with_notification_date,
                       avg(CASE WHEN c.amount IS NOT NULL THEN 1 ELSE 0 END) AS with_amount,
                       avg(CASE WHEN c.cpv IS NOT NULL THEN 1 ELSE 0 END) AS with_cpv,
                       avg(CASE WHEN c.holder_count > 0 THEN 1 ELSE 0 END) AS with_holders,
                       avg(CASE WHEN c.place_departement_code IS NOT NULL THEN 1 ELSE 0 END)
                           AS with_place,
                       avg(CASE WHEN c.has_social_consideration IS NOT NULL THEN 1 ELSE 0 END)
                           AS with_considerations
                FROM source_records sr JOIN contracts c ON c.uid = sr.uid
                WHERE sr.status = 'kept'
                GROUP BY sr.source ORDER BY contracts DESC, sr.source""",
            ),
            "by_buyer": _rows(
                con,
                """
                SELECT f.buyer_siret, any_value(b.name) AS buyer_name, count(*) AS findings,
                       count(*) FILTER (WHERE f.severity = 'bloquant') AS blocking,
                       count(*) FILTER (WHERE f.severity = 'avertissement') AS warnings,
                       count(DISTINCT f.record_key) AS records
                FROM findings f LEFT JOIN buyers b ON b.buyer_siret = f.buyer_siret
                WHERE f.severity IN ('bloquant', 'avertissement')
                GROUP BY f.buyer_siret ORDER BY findings DESC, f.buyer_siret LIMIT ?""",
                [limit],
            ),
        }
    finally:
        con.close()


#: The findings of each rule set of the quality engine, in one shape: the DECP rules
#: (``findings``), the payment rules (``payment_findings``) and the Egalim rules
#: (``egalim_findings``, whose findings name a canteen, a year and a month, and a file line).
_FINDING_SETS = {
    "findings": """SELECT 0 AS rule_set, finding_id, rule_id, severity, field, file_name,
            load_id, position, line, uid, buyer_siret, raw_value, value,
            CAST(NULL AS VARCHAR) AS canteen_key, CAST(NULL AS BIGINT) AS year,
            CAST(NULL AS BIGINT) AS month FROM findings""",
    "payment_findings": """SELECT 1, finding_id, rule_id, severity, field, file_name, load_id,
            position, line, uid, buyer_siret, raw_value, value, NULL, NULL, NULL
            FROM payment_findings""",
    "egalim_findings": """SELECT 2, finding_id, rule_id, severity, field, file_name, load_id,
            NULL, line_number, NULL, NULL, value, NULL, canteen_key, year, month
            FROM egalim_findings""",
}


def findings(
    settings: Settings,
    rule: str | None = None,
    file_name: str | None = None,
    buyer: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """The findings matching the filters, with where each one comes from (file, record, line),
    whatever the rule set (contracts, payments, catering purchases)."""
    where, params = [], []
    for column, value in (
        ("f.rule_id", rule),
        ("f.file_name", file_name),
        ("f.buyer_siret", buyer),
    ):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    condition = " AND ".join(where) or "true"
    con = open_warehouse(settings)
    try:
        present = {name for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name IN "
            "('findings', 'payment_findings', 'egalim_findings')").fetchall()}
        every = " UNION ALL ".join(sql for name, sql in _FINDING_SETS.items() if name in present)
        total = _rows(con, f"SELECT count(*) AS n FROM ({every}) f WHERE {condition}", params)
        rows = _rows(
            con,
            f"""SELECT f.finding_id, f.rule_id, f.severity, f.field, q.title, f.file_name,
                       f.position, f.line, f.uid, f.buyer_siret, f.raw_value, f.value,
                       f.canteen_key, f.year, f.month
                FROM ({every}) f LEFT JOIN quality_rules q USING (rule_id, field)
                WHERE {condition}
                ORDER BY f.rule_set, f.load_id, f.position, f.line, f.rule_id, f.field,
                         f.canteen_key, f.year, f.month
                LIMIT ?""",
            [*params, limit],
        )
    finally:
        con.close()
    return {"total": total[0]["n"], "findings": rows}
