"""Data-quality findings on catering purchases, and a quality score per canteen and year.

The rules are the Egalim rule set of the quality engine (:mod:`observatoire.egalim.rules`):
lines with a ``bloquant`` finding never reach the warehouse (the import sets them aside with their
reasons); the build rules here (``avertissement``, ``information``) flag what is kept but weakens
the figures. Each rule says, in French, what is wrong and what to do.
"""

from __future__ import annotations

import duckdb

from observatoire.egalim.rules import BUILD_RULES, egalim_subjects
from observatoire.quality.findings import findings_sql
from observatoire.warehouse import insert_rows

#: The build's rules (EG01…EG11), declared in the Egalim rule set of the quality engine.
RULES = BUILD_RULES


def create_findings(con: duckdb.DuckDBPyConnection, lines: str = "egalim_lines") -> None:
    """``egalim_rules``, ``egalim_findings`` and ``egalim_canteen_quality``.

    ``lines`` has the lines as they are counted (effective family and characteristics, see
    ``enrich``); the rules on the file's own values (EG09–EG11) read ``egalim_lines``. The
    findings come from the quality engine (``findings_sql`` over the Egalim rule set).
    """
    con.execute(
        "CREATE TABLE egalim_rules (rule_id VARCHAR, severity VARCHAR, field VARCHAR, "
        "title VARCHAR, explanation VARCHAR, hint VARCHAR)"
    )
    insert_rows(con, "egalim_rules",
                [(r.id, r.severity, r.field, r.title, r.explanation, r.hint) for r in RULES])
    # The article rules only apply when the profile has a nomenclature.
    has_articles = bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'egalim_articles'"
    ).fetchall()[0][0] and con.execute("SELECT count(*) FROM egalim_articles").fetchall()[0][0])
    subjects = egalim_subjects(lines, has_articles)
    con.execute(findings_sql("egalim_findings_work", set(subjects), RULES, subjects))
    con.execute(
        """CREATE TABLE egalim_findings AS
        SELECT md5(concat_ws('|', f.rule_id, f.canteen_key, coalesce(f.record_key, ''),
                             f.year, f.month)) AS finding_id,
            f.rule_id, f.severity, f.field, f.record_key AS line_key, f.canteen_key, f.year,
            f.month, f.raw_value AS value, l.load_id, l.file_name, l.line_number
        FROM egalim_findings_work f
        LEFT JOIN egalim_lines l ON l.line_key = f.record_key"""
    )
    con.execute("DROP TABLE egalim_findings_work")
    # Score: the share of the canteen's value on lines without a warning, less 5 points per
    # month without purchases (bounded to 0–100).
    con.execute(
        """CREATE TABLE egalim_canteen_quality AS
        WITH flagged AS (
            SELECT DISTINCT line_key FROM egalim_findings
            WHERE severity = 'avertissement' AND line_key IS NOT NULL
        ), gaps AS (
            SELECT canteen_key, year, count(*) AS missing_months FROM egalim_findings
            WHERE rule_id = 'EG08' GROUP BY ALL
        ), lines AS (
            SELECT l.canteen_key, year(l.purchase_date) AS year, count(*) AS lines,
                sum(l.price_ht) AS total,
                coalesce(sum(l.price_ht) FILTER (WHERE f.line_key IS NULL), 0) AS clean_value,
                count(f.line_key) AS flagged_lines
            FROM egalim_lines l LEFT JOIN flagged f USING (line_key) GROUP BY ALL
        )
        SELECT l.*, coalesce(g.missing_months, 0) AS missing_months,
            greatest(0, least(100, round(
                100 * CAST(l.clean_value AS DOUBLE) / nullif(CAST(l.total AS DOUBLE), 0)
                - 5 * coalesce(g.missing_months, 0), 1))) AS score
        FROM lines l LEFT JOIN gaps g USING (canteen_key, year)"""
    )
