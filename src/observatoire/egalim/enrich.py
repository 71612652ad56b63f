"""What the build adds to the raw purchase lines before the results are computed: their article
of the nomenclature, their family when they have none, the labels of their supplier-matrix
article, and the characteristics of their contract.

``egalim_lines`` keeps the values of the file (``family``, ``characteristics``, ``labels_known``)
and gets, beside them, where each effective value comes from:

- ``nomenclature_code`` / ``article_source``: ``file`` (the line's article code is in the
  nomenclature), ``mapping`` (a person accepted a mapping of its description, see
  :mod:`decisions`), ``matrix`` (the supplier's reference, through its matrix, names an article of
  the nomenclature), or ``none``;
- ``effective_family`` / ``family_source``: ``line``, ``article`` or ``none``;
- ``matrix_load_id`` / ``matrix_characteristics``: the supplier-matrix row that matches the line
  (same supplier — SIRET when both have one, else the normalised name — and same article: the
  supplier's reference, else the nomenclature code);
- ``effective_characteristics`` / ``effective_labels_known`` / ``labels_source``: a line that
  carries Egalim labels of its own keeps them (``line``; when its matrix says otherwise, finding
  EG09); a line without (labels unknown, or only origin) takes its matrix article's labels
  (``matrix``); else ``line`` when the file says "no label", ``none`` when it says nothing;
- ``contract_reference``: the contract (``egalim_contracts``) whose supplier SIRET, dates and
  (when it names one) family match the line; its EXTERNALITES / PERFORMANCE are added to the
  effective characteristics.

Every step is one SQL statement over the whole table.
"""

from __future__ import annotations

import duckdb

from observatoire.egalim.codes import EGALIM_CHARACTERISTICS
from observatoire.egalim.decisions import description_key
from observatoire.egalim.labels import CODE_ORDER
from observatoire.sqlquote import literal_list
from observatoire.warehouse import insert_rows


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return literal_list(list(values)) + "::VARCHAR[]"


_EGALIM = _sql_list(list(EGALIM_CHARACTERISTICS))


def egalim_codes(expr: str) -> str:
    """SQL: the Egalim codes of a characteristics list, in the stable order."""
    return f"list_filter({_EGALIM}, lambda x: list_contains(coalesce({expr}, []), x))"


def ordered(expr: str) -> str:
    """SQL: the codes of a list in the stable order of :data:`labels.CODE_ORDER`, no repeats."""
    return f"list_filter({_sql_list(CODE_ORDER)}, lambda x: list_contains({expr}, x))"


#: SQL: the line carries Egalim labels of its own.
OWN_LABELS = f"(labels_known AND len({egalim_codes('characteristics')}) > 0)"

#: SQL: the line's own Egalim labels differ from its matrix article's.
CONTRADICTS_MATRIX = (
    f"({OWN_LABELS} AND matrix_characteristics IS NOT NULL "
    f"AND {egalim_codes('characteristics')} <> {egalim_codes('matrix_characteristics')})"
)

_NAME_KEY = "trim(regexp_replace(lower(strip_accents(coalesce({0}, ''))), '[^a-z0-9]+', ' ', 'g'))"


def link_articles(con: duckdb.DuckDBPyConnection, accepted: dict[str, str]) -> None:
    """Articles from the line's code, else from an accepted description mapping."""
    con.execute(
        """UPDATE egalim_lines SET nomenclature_code = a.code, article_source = 'file'
           FROM egalim_articles a WHERE egalim_lines.article_code = a.code"""
    )
    if not accepted:
        return
    descriptions = [r[0] for r in con.execute(
        "SELECT DISTINCT description FROM egalim_lines "
        "WHERE article_source = 'none' AND description IS NOT NULL"
    ).fetchall()]
    pairs = [(d, accepted[k]) for d in descriptions if (k := description_key(d)) in accepted]
    con.execute("CREATE OR REPLACE TEMP TABLE egalim_mapped (description VARCHAR, code VARCHAR)")
    if pairs:
        insert_rows(con, "egalim_mapped", pairs)
    con.execute(
        """UPDATE egalim_lines SET nomenclature_code = m.code, article_source = 'mapping'
           FROM egalim_mapped m JOIN egalim_articles a ON a.code = m.code
           WHERE egalim_lines.article_source = 'none'
             AND egalim_lines.description = m.description"""
    )
    con.execute("DROP TABLE egalim_mapped")


def link_matrix(con: duckdb.DuckDBPyConnection) -> None:
    """The supplier-matrix row of each line (the supplier's reference first), and the article
    of the nomenclature it names when the line has none."""
    line_name = _NAME_KEY.format("l.supplier")
    matrix_name = _NAME_KEY.format("m.supplier")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE egalim_matrix_match AS
        SELECT line_key, load_id, characteristics, article_code FROM (
            SELECT l.line_key, m.load_id, m.characteristics, m.article_code,
                row_number() OVER (
                    PARTITION BY l.line_key
                    ORDER BY (m.article_ref IS NOT NULL AND m.article_ref = l.article_code) DESC,
                             m.load_id DESC, m.line_number) AS rank
            FROM egalim_lines l JOIN egalim_matrix m
              ON (CASE WHEN l.supplier_siret IS NOT NULL AND m.supplier_siret IS NOT NULL
                       THEN l.supplier_siret = m.supplier_siret
                       ELSE {line_name} = {matrix_name} AND {line_name} <> '' END)
             AND (m.article_ref = l.article_code
                  OR m.article_code = coalesce(l.nomenclature_code, l.article_code))
        ) WHERE rank = 1"""
    )
    con.execute(
        """UPDATE egalim_lines SET matrix_load_id = m.load_id,
               matrix_characteristics = m.characteristics
           FROM egalim_matrix_match m WHERE egalim_lines.line_key = m.line_key"""
    )
    con.execute(
        """UPDATE egalim_lines SET nomenclature_code = a.code, article_source = 'matrix'
           FROM egalim_matrix_match m JOIN egalim_articles a ON a.code = m.article_code
           WHERE egalim_lines.line_key = m.line_key AND egalim_lines.article_source = 'none'"""
    )
    con.execute("DROP TABLE egalim_matrix_match")


def inherit_family(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """UPDATE egalim_lines SET effective_family = a.family, family_source = 'article'
           FROM egalim_articles a
           WHERE egalim_lines.family IS NULL AND egalim_lines.nomenclature_code = a.code"""
    )


def inherit_labels(con: duckdb.DuckDBPyConnection) -> None:
    merged = ordered("list_concat(coalesce(characteristics, []), matrix_characteristics)")
    con.execute(
        f"""UPDATE egalim_lines SET effective_characteristics = {merged},
               effective_labels_known = true, labels_source = 'matrix'
           WHERE matrix_characteristics IS NOT NULL AND NOT {OWN_LABELS}"""
    )


def inherit_contracts(con: duckdb.DuckDBPyConnection) -> None:
    """EXTERNALITES / PERFORMANCE of the contract whose supplier, dates and family (when the
    contract names one) match the line (the first reference when several do)."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE egalim_contract_match AS
        SELECT l.line_key, arg_min(c.reference, c.reference) AS reference,
            bool_or(c.externalites) AS externalites, bool_or(c.performance) AS performance
        FROM egalim_lines l JOIN egalim_contracts c
          ON c.supplier_siret = l.supplier_siret
         AND (c.start_date IS NULL OR l.purchase_date >= c.start_date)
         AND (c.end_date IS NULL OR l.purchase_date <= c.end_date)
         -- a lot's criterion reaches the lines of its family only
         AND (c.family IS NULL OR c.family = l.effective_family)
        GROUP BY l.line_key"""
    )
    added = (
        "list_concat(coalesce(effective_characteristics, []), "
        "CASE WHEN m.externalites THEN ['EXTERNALITES'] ELSE [] END::VARCHAR[], "
        "CASE WHEN m.performance THEN ['PERFORMANCE'] ELSE [] END::VARCHAR[])"
    )
    con.execute(
        f"""UPDATE egalim_lines SET contract_reference = m.reference,
               effective_characteristics = {ordered(added)}
           FROM egalim_contract_match m WHERE egalim_lines.line_key = m.line_key"""
    )
    con.execute("DROP TABLE egalim_contract_match")


def enrich(con: duckdb.DuckDBPyConnection, accepted: dict[str, str]) -> None:
    """All the steps, in order, over ``egalim_lines`` (with ``egalim_articles``,
    ``egalim_matrix`` and ``egalim_contracts`` in place)."""
    link_articles(con, accepted)
    link_matrix(con)
    inherit_family(con)
    inherit_labels(con)
    inherit_contracts(con)


#: The lines as the results count them: the effective values under the names ``compute`` and
#: ``findings`` read, the file's values under ``line_*``.
EFFECTIVE_VIEW = """
CREATE OR REPLACE TEMP VIEW egalim_lines_effective AS
SELECT * REPLACE (effective_family AS family, effective_characteristics AS characteristics,
                  effective_labels_known AS labels_known),
    family AS line_family, characteristics AS line_characteristics,
    labels_known AS line_labels_known
FROM egalim_lines
"""
