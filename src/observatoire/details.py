"""The pages of one contract, one buyer and one supplier: what they read of the warehouse.

Each page reads the rows of one key. The tables a contract's page reads by uid (``contracts``,
``indicator_contracts``, ``contract_versions``, ``contract_holders``, ``source_records``,
``findings``, ``subcontracts``, ``concession_execution``) are stored sorted by uid, and a uid
starts with its buyer's SIRET: DuckDB skips every row group whose uids cannot match (its zone
maps), so a contract's rows, or a buyer's contracts, cost one row group instead of a scan of
the table. A supplier's contracts are spread over every buyer: its page finds its holder rows
once (one scan of the holders' keys) and counts everything from them in one statement.

``latest``, the ten most recent contracts, is ``explorer.search``'s answer for the buyer or
holder filter the page links to (the explorer's list of all of them).
"""

from __future__ import annotations

from typing import Any

import duckdb

from observatoire import explorer
from observatoire import search as by_name
from observatoire.config import Settings
from observatoire.indicators.domains import DEFAULT_DOMAIN, domain_match_sql
from observatoire.warehouse import open_warehouse, scope_sql

#: contracts in ``latest``
LATEST = 10


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _listed(select: str, order: str, limit: int | None = None) -> str:
    """A column holding the rows of ``select`` as a list of structs (dicts in Python), in
    ``order`` (the names of ``select``'s columns), the first ``limit`` only if given."""
    keys = ", ".join(f"t.{part.strip()}" for part in order.split(","))
    cut = f" ORDER BY {order} LIMIT {int(limit)}" if limit else ""
    return f"(SELECT list(t ORDER BY {keys}) FROM ({select}{cut}) t)"


def contract(settings: Settings, uid: str) -> dict[str, Any] | None:
    """One contract with its versions, holders, subcontracts, provenance and quality notes."""
    con = open_warehouse(settings)
    try:
        found = _dicts(con.execute(
            f"""SELECT c.*, b.name AS buyer_name, ic.purchase_domain,
                    d.label AS purchase_domain_label
                FROM contracts c
                LEFT JOIN buyers b ON b.buyer_siret = c.buyer_siret
                LEFT JOIN indicator_contracts ic ON ic.uid = c.uid
                LEFT JOIN (SELECT domain_id, min(label) AS label FROM profile_purchase_domains
                           GROUP BY 1) d ON d.domain_id = ic.purchase_domain
                WHERE c.uid = ? AND {scope_sql(con)}""", [uid]))
        if not found:
            return None
        row = found[0]
        # the place's names, looked up by their codes as constants (a correlated subquery
        # joined the 35,000 communes for one row)
        names = con.execute(
            """SELECT (SELECT min(commune_name) FROM ref_communes WHERE commune_code = ?),
                   (SELECT min(departement_name) FROM ref_departements
                    WHERE departement_code = ?),
                   (SELECT min(region_name) FROM ref_regions WHERE region_code = ?)""",
            [row["location_commune_code"], row["location_departement_code"],
             row["location_region_code"]]).fetchall()[0]
        row["location_commune_name"], row["location_departement_name"], \
            row["location_region_name"] = names
        return {
            "contract": row,
            "versions": _dicts(con.execute(
                "SELECT * FROM contract_versions WHERE uid = ? ORDER BY version", [uid])),
            "holders": _dicts(con.execute(
                """SELECT h.*, s.name, s.siret, s.siren, s.category, s.commune_name,
                       s.departement_code, s.name_source
                   FROM contract_holders h LEFT JOIN suppliers s USING (supplier_key)
                   WHERE h.uid = ? ORDER BY h.version, h.supplier_key""", [uid])),
            "subcontracts": _dicts(con.execute(
                "SELECT * FROM subcontracts WHERE uid = ? ORDER BY notification_date, act_id",
                [uid])),
            "records": _dicts(con.execute(
                """SELECT record_key, source, file_name, position, line, status, reasons,
                       family, load_id
                   FROM source_records WHERE uid = ? ORDER BY status, load_id, position""",
                [uid])),
            "findings": _dicts(con.execute(
                """SELECT f.rule_id, f.severity, f.field, f.raw_value, f.value, f.file_name,
                       f.position, q.title, q.explanation, q.hint
                   FROM findings f LEFT JOIN quality_rules q
                       ON q.rule_id = f.rule_id AND q.field = f.field
                   WHERE f.uid = ?
                   ORDER BY CASE f.severity WHEN 'bloquant' THEN 0 WHEN 'avertissement' THEN 1
                                            WHEN 'correction' THEN 2 ELSE 3 END,
                            f.rule_id, f.finding_id""", [uid])),
            "execution": _dicts(con.execute(
                "SELECT * FROM concession_execution WHERE uid = ? ORDER BY publication_date",
                [uid])),
            # values corrected by the organisation's stewards, with the published value
            "corrections": _dicts(con.execute(
                """SELECT field, source_value, corrected_value, corrected_at
                   FROM corrections_applied
                   WHERE uid = ? AND action = 'set_value' AND status = 'applied'
                   ORDER BY field""", [uid])),
        }
    finally:
        con.close()


#: The explorer's columns of the contracts of a page ``pc`` (a CTE of ``contracts`` rows), in
#: the list's order, with their current holders' names: what ``explorer.search`` returns for a
#: page. The holders are read for the page's uids only (DuckDB passes their range to the scan:
#: one row group for a buyer's contracts, which are next to each other).
_PAGE_SQL = f"""SELECT {explorer.LIST_COLUMNS},
        COALESCE(dm.domain_id, {DEFAULT_DOMAIN}) AS purchase_domain,
        COALESCE(hn.names, CAST([] AS VARCHAR[])) AS holders
    FROM pc c
    LEFT JOIN buyers b ON b.buyer_siret = c.buyer_siret
    LEFT JOIN ({domain_match_sql('SELECT cpv FROM pc')}) dm ON dm.cpv = c.cpv
    LEFT JOIN (SELECT h.uid, list(DISTINCT COALESCE(s.name, h.holder_id)
                                  ORDER BY COALESCE(s.name, h.holder_id)) AS names
               FROM contract_holders h LEFT JOIN suppliers s USING (supplier_key)
               WHERE h.is_current AND h.uid IN (SELECT uid FROM pc) GROUP BY h.uid) hn
        ON hn.uid = c.uid
    ORDER BY {explorer.SORTS["date"]}"""


def _page(rows: list[dict[str, Any]], count: int, total: Any, unknown: int) -> dict[str, Any]:
    """``latest``: the answer ``explorer.search(…, page_size=LATEST)`` gives for the same
    filter, from its first page's ``rows`` (``_PAGE_SQL``) and its totals."""
    return {
        "contracts": rows,
        "count": int(count),
        "amount_total": float(total) if total is not None else 0.0,
        "amount_unknown": int(unknown),
        "page": 1,
        "page_size": LATEST,
        "pages": max(1, -(-int(count) // LATEST)),
        "facets": None,
    }


def buyer(settings: Settings, siret: str) -> dict[str, Any] | None:
    """A buyer: its contracts by year, main suppliers, procedures and latest contracts.

    Every query reads the buyer's contracts by ``buyer_siret``, one row group or a few (see
    the module's doc), and the facts and holders of those contracts only: DuckDB passes the
    range of their uids to the scans of ``indicator_contracts`` and ``contract_holders``. (One
    statement counting every table from the contracts read once cost more: its plan alone.)"""
    con = open_warehouse(settings)
    try:
        found = _dicts(con.execute(
            f"SELECT * FROM buyers WHERE buyer_siret = ? AND {scope_sql(con, 'buyer_siret')}",
            [siret]))
        if not found:
            return None
        by_year = _dicts(con.execute(
            """SELECT notification_year AS year, count(*) AS contracts, sum(amount) AS amount
               FROM contracts WHERE buyer_siret = ? GROUP BY 1 ORDER BY 1 NULLS LAST""", [siret]))
        suppliers = _dicts(con.execute(
            """SELECT s.supplier_key, s.siret, COALESCE(s.name, h.holder_id) AS name, s.category,
                   count(DISTINCT c.uid) AS contracts, sum(c.amount) AS amount
               FROM contracts c JOIN contract_holders h ON h.uid = c.uid AND h.is_current
               LEFT JOIN suppliers s ON s.supplier_key = h.supplier_key
               WHERE c.buyer_siret = ?
               GROUP BY ALL ORDER BY amount DESC NULLS LAST, contracts DESC, name LIMIT 20""",
            [siret]))
        categories = _dicts(con.execute(
            """SELECT COALESCE(ic.supplier_category, 'inconnue') AS category,
                   count(*) AS contracts, sum(c.amount) AS amount
               FROM contracts c LEFT JOIN indicator_contracts ic ON ic.uid = c.uid
               WHERE c.buyer_siret = ? GROUP BY 1 ORDER BY 2 DESC""", [siret]))
        procedures = _dicts(con.execute(
            """SELECT COALESCE(procedure, 'non publiée') AS procedure, count(*) AS contracts,
                   sum(amount) AS amount
               FROM contracts WHERE buyer_siret = ? GROUP BY 1 ORDER BY 2 DESC""", [siret]))
        departements = _dicts(con.execute(
            """SELECT ic.supplier_departement AS departement, d.departement_name AS name,
                   count(*) AS contracts, sum(c.amount) AS amount
               FROM contracts c JOIN indicator_contracts ic ON ic.uid = c.uid
               LEFT JOIN ref_departements d ON d.departement_code = ic.supplier_departement
               WHERE c.buyer_siret = ? AND ic.supplier_departement IS NOT NULL
               GROUP BY ALL ORDER BY amount DESC NULLS LAST, 1""", [siret]))
        # holders' communes (SIRENE); a contract counts once per commune of its holders
        communes = _dicts(con.execute(
            """SELECT s.commune_code AS commune, min(s.commune_name) AS name,
                   count(DISTINCT c.uid) AS contracts
               FROM contracts c JOIN contract_holders h ON h.uid = c.uid AND h.is_current
               JOIN suppliers s ON s.supplier_key = h.supplier_key
               WHERE c.buyer_siret = ? AND s.commune_code IS NOT NULL
               GROUP BY 1 ORDER BY contracts DESC, 1""", [siret]))
        # The explorer's list of the buyer's contracts (the buyer is in the profile's scope,
        # above, hence all its contracts), from the same row groups.
        count, total, unknown = con.execute(
            """SELECT count(*), sum(CAST(amount AS DECIMAL(38, 6))), count(*) - count(amount)
               FROM contracts WHERE buyer_siret = ?""", [siret]).fetchall()[0]
        rows = _dicts(con.execute(
            f"""WITH pc AS MATERIALIZED (
                    SELECT * FROM contracts c WHERE c.buyer_siret = ?
                    ORDER BY {explorer.SORTS["date"]} LIMIT {LATEST})
                {_PAGE_SQL}""", [siret]))
        latest = _page(rows, count, total, unknown)
    finally:
        con.close()
    return {"buyer": found[0], "by_year": by_year, "suppliers": suppliers,
            "categories": categories, "procedures": procedures,
            "supplier_departements": departements, "supplier_communes": communes,
            "latest": latest}


def supplier(settings: Settings, key: str) -> dict[str, Any] | None:
    """A supplier (by SIRET or supplier key): its contracts by year, buyers, latest contracts."""
    con = open_warehouse(settings)
    try:
        found = _dicts(con.execute(
            """SELECT * FROM suppliers WHERE siret = ? OR supplier_key = ?
               ORDER BY supplier_key LIMIT 1""", [key, key]))
        if not found:
            return None
        supplier_key = found[0]["supplier_key"]
        # the explorer's list of the supplier's contracts (the page's link to it) is filtered
        # by its SIRET, or its key: the suppliers that filter finds
        listed, listed_params = _listed_suppliers(found[0]["siret"] or supplier_key)
        # The holder rows of the supplier (``own``) and of every supplier the list's filter
        # finds (``in_list``: the same SIRET under another key), read once: one scan of the
        # holders' keys; the contracts joined once, and every table of the page counted from
        # them.
        parts = _dicts(con.execute(
            f"""WITH keys AS (
                    -- a few keys: the supplier's own, and those of the list
                    SELECT supplier_key, bool_or(own) AS own, bool_or(NOT own) AS in_list
                    FROM (SELECT supplier_key, FALSE AS own FROM ({listed})
                          UNION ALL SELECT CAST(? AS VARCHAR), TRUE)
                    GROUP BY 1),
                held AS MATERIALIZED (
                    SELECT h.uid, k.own, k.in_list
                    FROM contract_holders h JOIN keys k ON k.supplier_key = h.supplier_key
                    WHERE h.is_current),
                m AS MATERIALIZED (
                    SELECT c.rowid AS rid, c.uid, c.notification_year, c.notification_date,
                        c.amount, c.buyer_siret, c.place_departement_code, c.holder_count,
                        h.own, h.in_list
                    FROM contracts c JOIN held h ON h.uid = c.uid
                    WHERE {scope_sql(con)}),
                listed AS (SELECT DISTINCT rid, uid, notification_date, amount FROM m
                           WHERE in_list)
                SELECT
                    {_listed('''SELECT notification_year AS year, count(*) AS contracts,
                                    sum(amount) AS amount FROM m WHERE own GROUP BY 1''',
                             "year NULLS LAST")} AS by_year,
                    {_listed('''SELECT m.buyer_siret, b.name, count(*) AS contracts,
                                    sum(m.amount) AS amount
                                FROM m LEFT JOIN buyers b ON b.buyer_siret = m.buyer_siret
                                WHERE m.own GROUP BY ALL''',
                             "amount DESC NULLS LAST, contracts DESC", 20)} AS buyers,
                    {_listed('''SELECT m.place_departement_code AS departement,
                                    d.departement_name AS name, count(*) AS contracts,
                                    sum(m.amount) AS amount
                                FROM m LEFT JOIN ref_departements d
                                    ON d.departement_code = m.place_departement_code
                                WHERE m.own AND m.place_departement_code IS NOT NULL
                                GROUP BY ALL''', "contracts DESC, departement")} AS places,
                    (SELECT count(*) FROM m WHERE own AND holder_count > 1) AS co_holders,
                    -- the explorer's list of them: its totals (an exact sum, as the
                    -- explorer's) and the row ids of its first page
                    (SELECT count(*) FROM listed) AS listed_count,
                    (SELECT sum(CAST(amount AS DECIMAL(38, 6))) FROM listed) AS listed_total,
                    (SELECT count(*) - count(amount) FROM listed) AS listed_unknown,
                    (SELECT list(rid ORDER BY {explorer.PAGE_SORTS["date"]})
                     FROM (SELECT rid, uid, notification_date FROM listed
                           ORDER BY {explorer.PAGE_SORTS["date"]} LIMIT {LATEST})) AS rids""",
            [*listed_params, supplier_key]))[0]
        if not parts["by_year"]:  # no contract of this supplier in the profile's scope
            return None
        rows = _dicts(con.execute(
            f"""WITH pc AS MATERIALIZED (
                    SELECT * FROM contracts WHERE rowid IN (SELECT unnest(?)))
                {_PAGE_SQL}""", [parts["rids"] or []]))
        latest = _page(rows, parts["listed_count"], parts["listed_total"],
                       parts["listed_unknown"])
    finally:
        con.close()
    return {"supplier": found[0], "by_year": parts["by_year"], "buyers": parts["buyers"] or [],
            "places": parts["places"] or [], "grouped_contracts": int(parts["co_holders"]),
            "latest": latest}


def _listed_suppliers(listed: str) -> tuple[str, list[Any]]:
    """SQL: the keys of the suppliers the explorer's holder filter ``titulaire=listed`` finds
    (``explorer.search``): the suppliers of that SIRET, SIREN or key when the filter reads it
    as an identifier; else (a ``NOM:`` key whose name holds a line break, which the filter's
    pattern does not take for a key) every supplier whose name has its words."""
    if explorer.is_supplier_id(listed):
        return ("SELECT supplier_key FROM suppliers WHERE siret = ? OR siren = ? "
                "OR supplier_key = ?", [listed, listed, listed])
    named, params = by_name.keys_named("supplier", listed)
    return f"SELECT supplier_key FROM suppliers WHERE supplier_key IN ({named})", params
