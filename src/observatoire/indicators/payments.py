"""Payment-delay indicators computed from ``payments``: B03 (average global payment delay)
and B04 (invoices paid within the legal delay, with the 1–30 / 31–60 / 61+ days distribution).

They are written to ``payment_indicator_results`` in the shape of the indicator results
(``compute.RESULTS_COLUMNS``: numerator, denominator, value, record and known counts,
coverage) for every payment year and in total, overall and per buyer. They exist only where
payments are loaded: without payment rows the table is empty and the catalogue's B03 / B04
stay « données non disponibles ».

The unit is the mandat (piece) that pays an invoice: its lines are paid together, so its
delay is its longest line's. Population: pieces that are not annulations, not late-payment
interest, not entirely annulled, subject to the global payment delay (DGP not said false), and
paid. Known: the delay is computable (invoice reception and payment dates, reception not after
payment). Delay = payment date − reception date − suspension days (R2192-12, R2192-29).
"""

from __future__ import annotations

import duckdb

from observatoire.indicators.compute import ALL_PERIODS, RESULTS_COLUMNS, TOTAL

#: Bumped when the definition changes (as the catalogue's ``version``).
DEFINITION_VERSION = 1
#: The catalogue's indicators this step computes, where payments are loaded (B03, B04).
COMPUTED = frozenset({"delai-global-paiement", "factures-30-jours"})
#: (category, lowest day, highest day) of B04's distribution; the top band has no end.
BANDS = (("1-30", None, 30), ("31-60", 31, 60), ("61+", 61, None))

_PIECES = """
CREATE OR REPLACE TEMP TABLE payment_pieces_work AS
SELECT buyer_id, fiscal_year, piece_id, year(max(payment_date)) AS period_year,
    max(payment_delay_days) AS delay_days, max(legal_delay_days) AS legal_delay_days,
    sum(net_amount_ht) AS amount_ht
FROM payments
WHERE NOT is_cancellation AND NOT is_interest AND delay_eligible IS NOT FALSE
GROUP BY buyer_id, fiscal_year, piece_id
HAVING sum(net_amount_ht) > 0 AND count(payment_date) = count(*)
"""


def _band_sql() -> str:
    cases = []
    for name, low, high in BANDS:
        conditions = [f"delay_days >= {low}" if low is not None else "TRUE",
                      f"delay_days <= {high}" if high is not None else "TRUE"]
        cases.append(f"WHEN {' AND '.join(conditions)} THEN '{name}'")
    return f"CASE WHEN delay_days IS NOT NULL THEN CASE {' '.join(cases)} END END"


def _query() -> str:
    """One row per indicator, basis (and band for B04), period and breakdown."""
    groups = "GROUPING SETS ((period_year), (), (period_year, buyer_id), (buyer_id))"
    head = (f"CASE WHEN GROUPING(period_year) = 1 THEN '{ALL_PERIODS}' "
            "ELSE CAST(period_year AS VARCHAR) END AS period, "
            "CASE WHEN GROUPING(period_year) = 0 THEN period_year END AS period_year, "
            f"CASE WHEN GROUPING(buyer_id) = 0 THEN 'buyer' ELSE '{TOTAL}' END AS breakdown, "
            "CASE WHEN GROUPING(buyer_id) = 0 THEN buyer_id END AS breakdown_value")
    known = "count(delay_days)"
    tail = (f"count(*) AS record_count, {known} AS known_count, "
            f"CAST({known} AS DOUBLE) / NULLIF(count(*), 0) AS coverage, "
            "CAST(0 AS BIGINT) AS undated_count, CAST(NULL AS DOUBLE) AS unknown_low, "
            "CAST(NULL AS DOUBLE) AS unknown_high")
    v = DEFINITION_VERSION
    within = "delay_days <= legal_delay_days"
    selects = [
        f"""SELECT 'delai-global-paiement', {v}, 'B03', {head}, NULL, 'mean',
            sum(delay_days), {known}, sum(delay_days) / NULLIF({known}, 0), {tail}
        FROM payment_pieces_work GROUP BY {groups}""",
        f"""SELECT 'delai-global-paiement', {v}, 'B03', {head}, NULL, 'median',
            NULL, {known}, median(delay_days), {tail}
        FROM payment_pieces_work GROUP BY {groups}""",
        f"""SELECT 'factures-30-jours', {v}, 'B04', {head}, NULL, 'count',
            count(*) FILTER (WHERE {within}), {known},
            count(*) FILTER (WHERE {within}) / NULLIF({known}, 0), {tail}
        FROM payment_pieces_work GROUP BY {groups}""",
        f"""SELECT 'factures-30-jours', {v}, 'B04', {head}, NULL, 'value',
            sum(amount_ht) FILTER (WHERE {within}),
            sum(amount_ht) FILTER (WHERE delay_days IS NOT NULL),
            sum(amount_ht) FILTER (WHERE {within})
                / NULLIF(sum(amount_ht) FILTER (WHERE delay_days IS NOT NULL), 0), {tail}
        FROM payment_pieces_work GROUP BY {groups}""",
    ]
    for name, _, _ in BANDS:
        band = f"({_band_sql()}) = '{name}'"
        selects.append(
            f"""SELECT 'factures-30-jours', {v}, 'B04', {head}, '{name}', 'count',
            count(*) FILTER (WHERE {band}), {known},
            count(*) FILTER (WHERE {band}) / NULLIF({known}, 0), {tail}
        FROM payment_pieces_work GROUP BY {groups}""")
    return "\nUNION ALL\n".join(selects)


def definition_sql() -> str:
    """The SQL the step runs, shown as the technical definition of B03 and B04."""
    return f"{_PIECES.strip()};\n\n{_query()}"


def compute_payment_indicators(con: duckdb.DuckDBPyConnection) -> int:
    """``payment_indicator_results`` from ``payments``; returns its row count (0 when no
    payment is loaded)."""
    con.execute(f"CREATE OR REPLACE TABLE payment_indicator_results ({RESULTS_COLUMNS})")
    con.execute(_PIECES)
    if con.execute("SELECT count(*) FROM payment_pieces_work").fetchall() != [(0,)]:
        con.execute(f"INSERT INTO payment_indicator_results {_query()}")
    con.execute("DROP TABLE payment_pieces_work")
    return int(con.execute("SELECT count(*) FROM payment_indicator_results").fetchall()[0][0])
