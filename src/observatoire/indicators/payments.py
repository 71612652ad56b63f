"""Indicators computed from the payment tables (``payments``, ``contract_payments``,
``finance_contracts``), where accounting flows are loaded:

- B02 ``avance-versee-pme``: contracts above 25 k€ HT of SME holders that received an advance
  of at least 30 % of the amount awarded;
- B03 ``delai-global-paiement`` and B04 ``factures-30-jours``: payment delays of the mandats
  paying invoices, with B04's 1–30 / 31–60 / 61+ days distribution;
- B05 ``interets-moratoires``: late-payment interest and flat indemnities mandated;
- B06 ``delai-versement-avance``: days from the start of execution to the payment of the
  advance;
- B11 ``delai-paiement-sous-traitants``: B03 restricted to direct payments to subcontractors;
- E03 ``paiements-entreprises-locales``: share of the amounts mandated to firms of the
  profile's territory;
- G06 ``montants-payes-attribues``: paid to date against awarded;
- G07 ``publication-des-premier-euro``: contracts below 40 k€ of the finance or purchasing
  system that are also published as DECP;
- A05 ``allotissement``, B08 ``retenue-garantie-pme``, C07 ``dematerialisation`` (procedures),
  D07 ``egalite-femmes-hommes``: from the columns a purchasing system's export carries.

They are written to ``payment_indicator_results`` in the shape of the indicator results
(``compute.RESULTS_COLUMNS``: numerator, denominator, value, record and known counts, coverage)
for every year and in total, overall and per buyer (B03 and B04 also per directorate and per
buyer's département and région, the barometer's perimeters); the indicator step copies the
catalogue's
bases and breakdowns into ``indicator_results``, where targets, statuses and the minimum sample
apply. An indicator whose population is empty here has no row, and stays « données non
disponibles » (B11 without any direct payment to a subcontractor in the data, G07 without
contracts from the finance software…): never a zero. Definitions, and where we had to
interpret the catalogue, are in docs/accounting.md (« Indicators from payments »).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

from observatoire.indicators.compute import ALL_PERIODS, RESULTS_COLUMNS, TOTAL, UNDATED
from observatoire.warehouse import insert_rows

#: Bumped when a definition changes (as the catalogue's ``version``).
DEFINITION_VERSION = 1
#: (category, lowest day, highest day) of B04's distribution; the top band has no end.
BANDS = (("1-30", None, 30), ("31-60", 31, 60), ("61+", 61, None))
#: B02: contracts above this amount HT (the Région's rule), advance of at least this share.
ADVANCE_CONTRACT_FLOOR = 25_000
ADVANCE_SHARE = 0.30
#: G07: the DECP publication threshold (contracts from 40,000 € HT must be published).
DECP_THRESHOLD = 40_000
#: B05: the flat indemnity for late payment (R2192-32 … R2192-35: 40 €), told from interest
#: by its amount on the interest account.
FLAT_INDEMNITY = 40
#: B08: the retenue de garantie of an SME's contract is at most 3 % (décret n° 2024-1251).
MAX_SME_RETENTION = 0.03
#: B05's categories (shown as they are on the indicator's page).
INTEREST, INDEMNITIES = "intérêts moratoires", "indemnités forfaitaires"

#: B03/B04/B11: the mandats paying invoices, each with its delay (its longest line's), and the
#: barometer's perimeters: the directorate of the contract it pays (none outside contracts,
#: or when its lines pay contracts of different directorates) and its buyer's territory
#: (``buyers``: its SIRENE establishment, else as published; a buyer without DECP contract:
#: its SIRENE establishment).
_PIECES = """
CREATE OR REPLACE TEMP TABLE payment_pieces_work AS
WITH pieces AS (
    SELECT p.buyer_id, p.fiscal_year, p.piece_id, year(max(p.payment_date)) AS period_year,
        max(p.payment_delay_days) AS delay_days, max(p.legal_delay_days) AS legal_delay_days,
        sum(p.net_amount_ht) AS amount_ht, bool_or(p.paid_to_subcontractor) AS to_subcontractor,
        -- one directorate: the least and the greatest are the same (a count of the distinct
        -- directorates kept a set a piece, which spilled past millions of pieces)
        CASE WHEN min(c.directorate_id) = max(c.directorate_id) THEN min(c.directorate_id) END
            AS directorate
    FROM payments p LEFT JOIN contracts c ON c.uid = p.contract_uid
    WHERE NOT p.is_cancellation AND NOT p.is_interest AND p.delay_eligible IS NOT FALSE
    GROUP BY p.buyer_id, p.fiscal_year, p.piece_id
    HAVING sum(p.net_amount_ht) > 0 AND count(p.payment_date) = count(*)
), places AS (
    SELECT DISTINCT ON (buyer_id) buyer_id,
        COALESCE(b.departement_code, com.departement_code) AS buyer_departement,
        COALESCE(b.region_code, com.region_code) AS buyer_region
    FROM (SELECT DISTINCT buyer_id FROM pieces WHERE buyer_id IS NOT NULL) k
    LEFT JOIN buyers b ON b.buyer_siret = k.buyer_id
    LEFT JOIN ref_sirene_establishments e ON e.siret = k.buyer_id
    LEFT JOIN ref_communes com ON com.commune_code = e.commune_code
)
SELECT pieces.*, places.buyer_departement, places.buyer_region
FROM pieces LEFT JOIN places USING (buyer_id)
"""
#: Breakdown id → column of a work table (the catalogue's names; ``buyer`` everywhere).
BREAKDOWN_COLUMNS = {"buyer": "buyer_id", "directorate": "directorate",
                     "buyer_departement": "buyer_departement", "buyer_region": "buyer_region"}
#: What B03 and B04 are broken down by: the buyer, and the barometer's perimeters.
PIECE_BREAKDOWNS = ("buyer", "directorate", "buyer_departement", "buyer_region")
#: The tables this step reads (its build step declares them).
READS = frozenset({"payments", "contract_payments", "finance_contracts", "contracts",
                   "contracts.directorate_id", "buyers", "contract_holders", "suppliers",
                   "ref_sirene_categories", "ref_sirene_establishments", "ref_communes"})

#: B02: contracts with payments above 25 k€ HT; ``is_sme`` when every current holder's SIRENE
#: category is known (TRUE: all are PME), ``advance_30`` when the advances paid reach 30 % of
#: the amount awarded (half a cent of rounding allowed).
_ADVANCE_CONTRACTS = f"""
CREATE OR REPLACE TEMP TABLE payment_advance_contracts_work AS
WITH holders AS (
    SELECT cp.contract_uid, s.category
    FROM contract_payments cp
    JOIN contract_holders h ON h.uid = cp.contract_uid AND h.is_current
    LEFT JOIN suppliers s ON s.supplier_key = h.supplier_key
    UNION ALL  -- a contract known only from the finance software: its holders' SIREN
    SELECT cp.contract_uid, c.category
    FROM contract_payments cp
    JOIN finance_contracts f ON f.contract_uid = cp.contract_uid AND cp.contract_source = 'finance'
    CROSS JOIN unnest(f.holder_sirets) AS u(siret)
    LEFT JOIN ref_sirene_categories c ON c.siren = left(u.siret, 9)
), categories AS (
    SELECT contract_uid, count(*) AS holders, count(category) AS known,
        bool_and(category = 'PME') AS all_sme
    FROM holders GROUP BY contract_uid
)
SELECT cp.contract_uid, cp.buyer_id,
    year(COALESCE(c.notification_date, f.notification_date)) AS period_year,
    CASE WHEN k.holders > 0 AND k.known = k.holders THEN k.all_sme END AS is_sme,
    cp.advances_ht >= {ADVANCE_SHARE} * cp.awarded_ht - 0.005 AS advance_30
FROM contract_payments cp
LEFT JOIN contracts c ON c.uid = cp.contract_uid
LEFT JOIN finance_contracts f ON f.contract_uid = cp.contract_uid
LEFT JOIN categories k ON k.contract_uid = cp.contract_uid
WHERE cp.awarded_ht > {ADVANCE_CONTRACT_FLOOR}
"""

#: B05: interest and indemnity lines (account 6711), by the year paid (else mandated).
_INTEREST = f"""
CREATE OR REPLACE TEMP TABLE payment_interest_work AS
SELECT buyer_id, year(COALESCE(payment_date, mandate_date)) AS period_year,
    net_amount_ht AS amount_ht,
    CASE WHEN net_amount_ht = {FLAT_INDEMNITY} THEN '{INDEMNITIES}' ELSE '{INTEREST}' END
        AS kind
FROM payments
WHERE is_interest AND NOT is_cancellation AND net_amount_ht > 0
"""

#: B06: advance pieces paid, with the start of execution of their contract (PES Marché).
_ADVANCES = """
CREATE OR REPLACE TEMP TABLE payment_advances_work AS
WITH starts AS (
    SELECT COALESCE(decp_uid, contract_uid) AS uid, min(execution_start_date) AS start_date
    FROM finance_contracts GROUP BY ALL
), pieces AS (
    SELECT buyer_id, fiscal_year, piece_id, any_value(contract_uid) AS contract_uid,
        max(payment_date) AS payment_date
    FROM payments WHERE is_advance
    GROUP BY buyer_id, fiscal_year, piece_id
    HAVING sum(net_amount_ht) > 0 AND count(payment_date) = count(*)
)
SELECT p.buyer_id, year(p.payment_date) AS period_year,
    -- an advance paid before the start of execution is paid in time: 0 days (DuckDB's
    -- greatest skips NULL: an unknown start stays unknown)
    CASE WHEN s.start_date IS NOT NULL
         THEN greatest(date_diff('day', s.start_date, p.payment_date), 0) END AS delay_days
FROM pieces p LEFT JOIN starts s ON s.uid = p.contract_uid
"""

#: E03: each payment line's supplier, placed by its SIRENE establishment's commune, else by
#: the place the DECP holders' table gives that SIRET; local when in the profile's territory.
_LOCAL = """
CREATE OR REPLACE TEMP TABLE payment_local_work AS
WITH places AS (
    SELECT p.payment_key, p.buyer_id, p.fiscal_year AS period_year, p.net_amount_ht AS amount_ht,
        COALESCE(com.region_code, s.region_code) AS region_code,
        COALESCE(com.departement_code, s.departement_code) AS departement_code
    FROM payments p
    LEFT JOIN ref_sirene_establishments e ON e.siret = p.supplier_siret
    LEFT JOIN ref_communes com ON com.commune_code = e.commune_code
    LEFT JOIN (SELECT siret, any_value(region_code) AS region_code,
                   any_value(departement_code) AS departement_code
               FROM suppliers WHERE siret IS NOT NULL GROUP BY siret) s
        ON s.siret = p.supplier_siret
    WHERE NOT p.is_cancellation AND p.net_amount_ht > 0
)
SELECT buyer_id, period_year, amount_ht,
    CASE WHEN (SELECT count(*) FROM payment_territory_work) = 0 THEN NULL
         WHEN region_code IS NULL AND departement_code IS NULL THEN NULL
         ELSE region_code IN (SELECT code FROM payment_territory_work WHERE level = 'region')
              OR departement_code IN (SELECT code FROM payment_territory_work
                                      WHERE level = 'departement')
    END AS is_local
FROM places
"""

#: G06: paid to date against awarded, per contract with payments, by notification year.
_PAID_AWARDED = """
CREATE OR REPLACE TEMP TABLE payment_paid_awarded_work AS
SELECT cp.buyer_id, year(COALESCE(c.notification_date, f.notification_date)) AS period_year,
    cp.paid_ht, CASE WHEN cp.awarded_ht > 0 THEN cp.awarded_ht END AS awarded_ht
FROM contract_payments cp
LEFT JOIN contracts c ON c.uid = cp.contract_uid
LEFT JOIN finance_contracts f ON f.contract_uid = cp.contract_uid
"""

#: G07: contracts below 40 k€ HT the finance or purchasing system knows (notified amount, else
#: its estimate), and whether the buyer also published them as DECP (same identity).
_SMALL_CONTRACTS = f"""
CREATE OR REPLACE TEMP TABLE payment_small_contracts_work AS
SELECT f.buyer_id, year(f.notification_date) AS period_year,
    EXISTS (SELECT 1 FROM contracts c WHERE c.consultation_uid = f.contract_uid) AS published
FROM finance_contracts f
WHERE COALESCE(f.amount_ht, f.estimate_ht) < {DECP_THRESHOLD}
"""

#: A05, B08, C07, D07: what a purchasing system's export says of its contracts
#: (``finance_contracts``; PES Marché leaves these columns NULL), with B02's SME rule.
_PURCHASING = """
CREATE OR REPLACE TEMP TABLE payment_purchasing_work AS
WITH categories AS (
    SELECT f.contract_uid, count(*) AS holders, count(c.category) AS known,
        bool_and(c.category = 'PME') AS all_sme
    FROM finance_contracts f CROSS JOIN unnest(f.holder_sirets) AS u(siret)
    LEFT JOIN ref_sirene_categories c ON c.siren = left(u.siret, 9)
    GROUP BY f.contract_uid
)
SELECT f.buyer_id, year(f.notification_date) AS period_year, f.retention_rate,
    f.electronic_procedure, f.equality_clause,
    CASE WHEN k.holders > 0 AND k.known = k.holders THEN k.all_sme END AS is_sme
FROM finance_contracts f LEFT JOIN categories k ON k.contract_uid = f.contract_uid
"""

#: A05: consultations (buyer + consultation number of the export), split when the export says
#: two lots or more, else when two contracts or more of the export are its lots.
_CONSULTATIONS = """
CREATE OR REPLACE TEMP TABLE payment_consultations_work AS
SELECT buyer_id, year(min(notification_date)) AS period_year,
    COALESCE(max(lots_count), count(DISTINCT contract_uid)) >= 2 AS split
FROM finance_contracts WHERE consultation_ref IS NOT NULL
GROUP BY buyer_id, consultation_ref
"""

WORK = {
    "payment_pieces_work": _PIECES,
    "payment_advance_contracts_work": _ADVANCE_CONTRACTS,
    "payment_interest_work": _INTEREST,
    "payment_advances_work": _ADVANCES,
    "payment_local_work": _LOCAL,
    "payment_paid_awarded_work": _PAID_AWARDED,
    "payment_small_contracts_work": _SMALL_CONTRACTS,
    "payment_purchasing_work": _PURCHASING,
    "payment_consultations_work": _CONSULTATIONS,
}


@dataclass(frozen=True)
class _Row:
    """One result row per period and breakdown: its SQL over one work table."""

    indicator_id: str
    code: str
    table: str
    basis: str
    numerator: str
    denominator: str
    value: str
    known: str = "count(*)"
    category: str | None = None
    where: str | None = None
    low: str = "NULL"
    high: str = "NULL"
    #: What at least one row of the population must say for the indicator to have rows (a
    #: column only some exports carry); None: any row.
    present: str | None = None
    #: The breakdowns computed beside the total (keys of ``BREAKDOWN_COLUMNS``).
    breakdowns: tuple[str, ...] = ("buyer",)


def _share(ident: str, code: str, table: str, condition: str, known: str,
           population: str | None = None, present: str | None = None) -> list[_Row]:
    """A share by count: rows whose ``known`` is true, those meeting ``condition``; the range
    the unknown rows allow (all no, all yes)."""
    hit = f"count(*) FILTER (WHERE ({known}) AND ({condition}))"
    den = f"count(*) FILTER (WHERE {known})"
    return [_Row(ident, code, table, "count", hit, den, f"{hit} / NULLIF({den}, 0)", den,
                 where=population, low=f"{hit} / NULLIF(count(*), 0)",
                 high=f"({hit} + count(*) - {den}) / NULLIF(count(*), 0)", present=present)]


def _delays(ident: str, code: str, table: str, where: str | None = None,
            breakdowns: tuple[str, ...] = ("buyer",)) -> list[_Row]:
    known = "count(delay_days)"
    return [_Row(ident, code, table, "mean", "sum(delay_days)", known,
                 f"sum(delay_days) / NULLIF({known}, 0)", known, where=where,
                 breakdowns=breakdowns),
            _Row(ident, code, table, "median", "NULL", known, "median(delay_days)", known,
                 where=where, breakdowns=breakdowns)]


def _band(low: int | None, high: int | None) -> str:
    return " AND ".join(["delay_days IS NOT NULL",
                         f"delay_days >= {low}" if low is not None else "TRUE",
                         f"delay_days <= {high}" if high is not None else "TRUE"])


def _rows() -> list[_Row]:
    within = "delay_days <= legal_delay_days"
    known_amount = "sum(amount_ht) FILTER (WHERE delay_days IS NOT NULL)"
    rows = [
        *_share("avance-versee-pme", "B02", "payment_advance_contracts_work", "advance_30",
                "is_sme", population="is_sme IS NOT FALSE"),
        *_delays("delai-global-paiement", "B03", "payment_pieces_work",
                 breakdowns=PIECE_BREAKDOWNS),
        _Row("factures-30-jours", "B04", "payment_pieces_work", "count",
             f"count(*) FILTER (WHERE {within})", "count(delay_days)",
             f"count(*) FILTER (WHERE {within}) / NULLIF(count(delay_days), 0)",
             "count(delay_days)", breakdowns=PIECE_BREAKDOWNS),
        _Row("factures-30-jours", "B04", "payment_pieces_work", "value",
             f"sum(amount_ht) FILTER (WHERE {within})", known_amount,
             f"sum(amount_ht) FILTER (WHERE {within}) / NULLIF({known_amount}, 0)",
             "count(delay_days)", breakdowns=PIECE_BREAKDOWNS),
        *(_Row("factures-30-jours", "B04", "payment_pieces_work", "count",
               f"count(*) FILTER (WHERE {_band(low, high)})", "count(delay_days)",
               f"count(*) FILTER (WHERE {_band(low, high)}) / NULLIF(count(delay_days), 0)",
               "count(delay_days)", category=f"'{name}'", breakdowns=PIECE_BREAKDOWNS)
          for name, low, high in BANDS),
        *_delays("delai-versement-avance", "B06", "payment_advances_work"),
        *_delays("delai-paiement-sous-traitants", "B11", "payment_pieces_work",
                 where="to_subcontractor"),
        _Row("paiements-entreprises-locales", "E03", "payment_local_work", "value",
             "sum(amount_ht) FILTER (WHERE is_local)",
             "sum(amount_ht) FILTER (WHERE is_local IS NOT NULL)",
             "sum(amount_ht) FILTER (WHERE is_local) "
             "/ NULLIF(sum(amount_ht) FILTER (WHERE is_local IS NOT NULL), 0)",
             "count(is_local)",
             low="sum(amount_ht) FILTER (WHERE is_local) / NULLIF(sum(amount_ht), 0)",
             high="sum(amount_ht) FILTER (WHERE is_local IS NOT FALSE) "
                  "/ NULLIF(sum(amount_ht), 0)"),
        _Row("montants-payes-attribues", "G06", "payment_paid_awarded_work", "ratio",
             "sum(paid_ht) FILTER (WHERE awarded_ht IS NOT NULL)", "sum(awarded_ht)",
             "sum(paid_ht) FILTER (WHERE awarded_ht IS NOT NULL) / NULLIF(sum(awarded_ht), 0)",
             "count(awarded_ht)"),
        *_share("publication-des-premier-euro", "G07", "payment_small_contracts_work",
                "published", "published IS NOT NULL"),
        *_share("allotissement", "A05", "payment_consultations_work", "split",
                "split IS NOT NULL"),
        *_share("retenue-garantie-pme", "B08", "payment_purchasing_work",
                f"retention_rate <= {MAX_SME_RETENTION} + 1e-9", "is_sme",
                population="retention_rate > 0 AND is_sme IS NOT FALSE"),
        *_share("dematerialisation", "C07", "payment_purchasing_work", "electronic_procedure",
                "electronic_procedure IS NOT NULL", present="electronic_procedure IS NOT NULL"),
        *_share("egalite-femmes-hommes", "D07", "payment_purchasing_work", "equality_clause",
                "equality_clause IS NOT NULL", present="equality_clause IS NOT NULL"),
    ]
    for basis, measure in (("value", "sum(amount_ht)"), ("count", "count(*)")):
        for kind in (None, INTEREST, INDEMNITIES):
            rows.append(_Row("interets-moratoires", "B05", "payment_interest_work", basis,
                             measure, "NULL", measure, category=kind and f"'{kind}'",
                             where=kind and f"kind = '{kind}'"))
    return rows


#: The catalogue's indicators this step computes where their data is loaded.
COMPUTED = frozenset(r.indicator_id for r in _rows())


def _select(row: _Row, breakdowns: tuple[str, ...] | None = None) -> str:
    """The result rows of ``row``: every year and all years, in total and per breakdown
    (``breakdowns``: those to compute, by default the row's)."""
    columns = [BREAKDOWN_COLUMNS[b] for b in (row.breakdowns if breakdowns is None
                                              else breakdowns)]
    groups = "GROUPING SETS ((period_year), ()" + "".join(
        f", (period_year, {c}), ({c})" for c in columns) + ")"
    names = " ".join(f"WHEN GROUPING({c}) = 0 THEN '{b}'"
                     for b, c in BREAKDOWN_COLUMNS.items() if c in columns)
    values = " ".join(f"WHEN GROUPING({c}) = 0 THEN {c}" for c in columns)
    known = row.known
    return f"""SELECT '{row.indicator_id}', {DEFINITION_VERSION}, '{row.code}',
    CASE WHEN GROUPING(period_year) = 1 THEN '{ALL_PERIODS}'
         WHEN period_year IS NULL THEN '{UNDATED}' ELSE CAST(period_year AS VARCHAR) END,
    CASE WHEN GROUPING(period_year) = 0 THEN period_year END,
    CASE {names} ELSE '{TOTAL}' END,
    CASE {values} END,
    {row.category or 'NULL'}, '{row.basis}', {row.numerator}, {row.denominator}, {row.value},
    count(*), {known}, CAST({known} AS DOUBLE) / NULLIF(count(*), 0),
    count(*) FILTER (WHERE period_year IS NULL), {row.low}, {row.high}
FROM {row.table}{f' WHERE {row.where}' if row.where else ''}
GROUP BY {groups}"""


def definition_sql(indicator_id: str | None = None) -> str:
    """The SQL the step runs for one indicator (all of them without ``indicator_id``): shown
    as its technical definition."""
    rows = [r for r in _rows() if indicator_id in (None, r.indicator_id)]
    tables = dict.fromkeys(r.table for r in rows)
    prepared = [WORK[t].strip() for t in tables]
    prepared.insert(0, "-- each work table keeps the profile's buyers only, when its scope is "
                       "theirs")
    if "payment_local_work" in tables:
        prepared.insert(0, "-- payment_territory_work (level, code): the profile's territory")
    return ";\n\n".join([*prepared, "\nUNION ALL\n".join(_select(r) for r in rows)])


def compute_payment_indicators(con: duckdb.DuckDBPyConnection,
                               territory: Iterable[tuple[str, str]] = (),
                               buyers: Iterable[str] | None = None) -> int:
    """``payment_indicator_results`` from the payment tables; returns its row count (0 when
    no payment is loaded). ``territory``: the profile's (level, code) pairs (``region``,
    ``departement``); without one, nobody is known to be local. ``buyers``: the SIRENs of the
    profile's buyers when its scope is theirs (None: every buyer, as the DECP indicators)."""
    con.execute(f"CREATE OR REPLACE TABLE payment_indicator_results ({RESULTS_COLUMNS})")
    con.execute("CREATE OR REPLACE TEMP TABLE payment_territory_work (level VARCHAR, code VARCHAR)")
    insert_rows(con, "payment_territory_work", list(territory))
    scope = None if buyers is None else sorted(set(buyers))
    for table, sql in WORK.items():
        con.execute(sql)
        if scope is not None:
            # the profile's buyers only: a State flow (no buyer SIRET) is nobody's
            con.execute(f"DELETE FROM {table} WHERE buyer_id IS NULL "
                        "OR NOT list_contains(?, left(buyer_id, 9))", [scope])
    # a perimeter no piece has (no directorate in the profile, no placed buyer) would only
    # repeat the total: not computed, like the catalogue's own indicators (``compute``)
    present = {b for b in PIECE_BREAKDOWNS if con.execute(
        f"SELECT count({BREAKDOWN_COLUMNS[b]}) FROM payment_pieces_work").fetchall() != [(0,)]}
    for row in _rows():
        # an empty population has no row: the indicator stays « données non disponibles »
        condition = " AND ".join(f"({c})" for c in (row.where, row.present) if c)
        if con.execute(f"SELECT count(*) FROM {row.table}"
                       f"{f' WHERE {condition}' if condition else ''}").fetchall() != [(0,)]:
            breakdowns = tuple(b for b in row.breakdowns if b == "buyer" or b in present)
            con.execute(f"INSERT INTO payment_indicator_results {_select(row, breakdowns)}")
    for table in (*WORK, "payment_territory_work"):
        con.execute(f"DROP TABLE {table}")
    return int(con.execute("SELECT count(*) FROM payment_indicator_results").fetchall()[0][0])
