"""Payments in the warehouse: the accounting staging rows (PES Dépense and Retour, PES Marché,
Chorus, Chorus Pro, exports: ``accounting/staging.py``) turned into ``payments`` (one row per
payment line), ``invoices``, ``finance_contracts``, ``contract_payments`` (paid against awarded,
per contract), ``payment_reconciliation`` (per file: lines in = kept + duplicates + set
aside), ``payment_findings`` (the payment rule set of the quality engine), and the
payment-delay indicators (``indicators/payments.py``).

The steps read the staging rows through views named ``staged_<table>`` (see
:func:`attach_staging`), the file counts of ``accounting_files`` (see :func:`register_files`),
the DECP model tables (``contracts``, ``contract_holders``) and the SIRENE references when
present (suppliers not diffusible).
How a payment is linked to its contract is in docs/accounting.md (« Payments in the model »).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from observatoire.accounting.result import ReadResult
from observatoire.accounting.staging import (
    COMMITMENTS,
    FINANCE_CONTRACTS,
    INVOICE_STATUSES,
    INVOICES,
    PAYMENT_EVENTS,
    PAYMENT_LINES,
)
from observatoire.indicators.payments import READS as INDICATOR_READS
from observatoire.indicators.payments import compute_payment_indicators
from observatoire.pipeline import BuildContext, Step
from observatoire.quality.findings import findings_sql
from observatoire.quality.history import FOLLOW_KEY
from observatoire.quality.payment_rules import PAYMENT_RULES, PAYMENT_SUBJECTS
from observatoire.sqlquote import identifier, literal_list
from observatoire.warehouse import insert_rows

#: Staging tables the model reads, by the name the readers give them.
STAGING = {"payment_lines": PAYMENT_LINES, "payment_events": PAYMENT_EVENTS,
           "finance_contracts": FINANCE_CONTRACTS, "invoices": INVOICES,
           "commitments": COMMITMENTS, "invoice_statuses": INVOICE_STATUSES}

#: Legal payment delays (code de la commande publique R2192-10 and R2192-11): 30 days for the
#: State, collectivités and their établissements publics; 50 days for public health
#: establishments. A piece whose DGP block declares 50 days is taken as a hospital's.
LEGAL_DELAY_DAYS = 30
HOSPITAL_DELAY_DAYS = 50
#: A payment is linked by buyer + supplier + dates to a contract notified before it and whose
#: estimated end is at most this many months before it (retention released a year after the
#: end, late last instalments).
LINK_GRACE_MONTHS = 24
#: Staged events per pass of the last statement: their aggregates and hash table fit in
#: DuckDB's memory under the build's default limit (1500MB) beside the pass's other tables.
EVENTS_PER_PASS = 2_500_000
#: Budget accounts of late-payment interest and penalties on contracts (M14/M57 6711).
INTEREST_ACCOUNT = "6711"

ACCOUNTING_FILES = """CREATE TABLE IF NOT EXISTS accounting_files (
    file_hash VARCHAR, file_name VARCHAR, flow VARCHAR, status VARCHAR, records_in BIGINT,
    kept BIGINT, duplicates BIGINT, set_aside BIGINT, simulated BOOLEAN)"""
BATCH_CHECKS = """CREATE TABLE IF NOT EXISTS payment_batch_checks (
    file_hash VARCHAR, file_name VARCHAR, fiscal_year INTEGER, batch_id VARCHAR, line BIGINT,
    pieces_announced INTEGER, pieces_read INTEGER, amount_ht_announced DECIMAL(18, 2),
    amount_ht_lines DECIMAL(18, 2), amount_tva_announced DECIMAL(18, 2),
    amount_tva_lines DECIMAL(18, 2), complete BOOLEAN, matches BOOLEAN)"""

#: ``staged_row``: a staging file's row number in its low bits, the file's index above.
_ROW_BITS = 40


def attach_staging(con: duckdb.DuckDBPyConnection,
                   files: Mapping[str, Sequence[Path]]) -> None:
    """Views ``staged_<table>`` over the staging Parquet files of each table (``files`` maps a
    staging table name to its files); a table without files gets an empty view of its shape.
    ``staged_payment_lines`` has one more column, ``staged_row``: a number for each row (its
    file's index in the list and its row in the file), by which the model's last step takes
    the whole line back from the Parquet files instead of carrying it through its work
    tables."""
    for name, schema in STAGING.items():
        paths = list(files.get(name, ()))
        view = identifier(f"staged_{name}")
        row = (f", (CAST(file_index AS BIGINT) << {_ROW_BITS}) + file_row_number AS staged_row"
               if name == "payment_lines" else "")
        if paths:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT *{row} "
                        f"FROM read_parquet({literal_list(paths)}, union_by_name = true)")
        else:
            con.register(f"empty_{name}", pa.Table.from_batches([], schema=schema))
            con.execute(f"CREATE OR REPLACE TEMP TABLE {view} AS "
                        f"SELECT *{row and ', CAST(NULL AS BIGINT) AS staged_row'} "
                        f"FROM {identifier('empty_' + name)}")
            con.unregister(f"empty_{name}")


def register_files(con: duckdb.DuckDBPyConnection,
                   results: Iterable[tuple[str, ReadResult]],
                   simulated: Collection[str] = ()) -> None:
    """``accounting_files``: one row per file read (its name, the reader's counts, and
    whether it is simulated: ``simulated`` holds the hashes of the files the load log says
    are, ``accounting.provenance``); ``payment_batch_checks``: each PES bordereau's announced
    totals against its lines."""
    con.execute(ACCOUNTING_FILES)
    con.execute(BATCH_CHECKS)
    files, checks = [], []
    for name, result in results:
        counts = result.counts()
        files.append((result.file_hash, name, getattr(result, "flow", None) or result.format,
                      result.status, counts["records_in"], counts["kept"],
                      counts.get("duplicates", 0), counts["set_aside"],
                      result.file_hash in simulated))
        for b in getattr(result, "batches", ()):
            checks.append((result.file_hash, name, b.fiscal_year, b.batch_id, b.line,
                           b.pieces_announced, b.pieces_read, b.amount_ht_announced,
                           b.amount_ht_lines, b.amount_tva_announced, b.amount_tva_lines,
                           b.complete, b.matches if b.complete else None))
    insert_rows(con, "accounting_files", files)
    insert_rows(con, "payment_batch_checks", checks)


# The SQL, step by step. Keys: a payment line is (buyer, budget, fiscal year, piece, line).
CLEAN_REF = "NULLIF(regexp_replace(trim({x}), '[ ,./\\\\]', '_', 'g'), '')"

FINANCE_CONTRACTS_MODEL = f"""
CREATE OR REPLACE TABLE finance_contracts AS
WITH latest AS (
    SELECT *, row_number() OVER (PARTITION BY buyer_id, contract_ref
        ORDER BY send_sequence DESC NULLS LAST, file_hash, position) AS rank
    FROM staged_finance_contracts WHERE contract_ref IS NOT NULL
), decp AS (
    SELECT consultation_uid, min(uid) AS uid, count(*) AS n FROM contracts GROUP BY ALL
)
SELECT l.buyer_id || {CLEAN_REF.format(x='l.contract_ref')} AS contract_uid,
    CASE WHEN d.n = 1 THEN d.uid END AS decp_uid,
    l.contract_ref, l.buyer_id, l.object, l.nature, l.cpv, l.procedure, l.notification_date,
    l.duration_months, l.amount_ht, l.estimate_ht, l.advance_rate,
    [h.siret FOR h IN COALESCE(l.holders, [])
     IF h.siret IS NOT NULL AND h.role IS DISTINCT FROM 'sous_traitant_paiement_direct']
        AS holder_sirets,
    [h.siret FOR h IN COALESCE(l.holders, [])
     IF h.siret IS NOT NULL AND h.role = 'sous_traitant_paiement_direct']
        AS direct_payment_subcontractor_sirets,
    list_min([h.start_date FOR h IN COALESCE(l.holders, [])
              IF h.role IS DISTINCT FROM 'sous_traitant_paiement_direct'])
        AS execution_start_date,
    l.consultation_ref, l.lots_count,
    -- a rate above 1 can only be a percentage (a retenue de garantie is at most 5 %)
    CASE WHEN l.retention_rate > 1 THEN l.retention_rate / 100 ELSE l.retention_rate END
        AS retention_rate,
    l.electronic_procedure, l.equality_clause,
    l.file_hash, l.position, l.line
FROM latest l
LEFT JOIN decp d ON d.consultation_uid = l.buyer_id || {CLEAN_REF.format(x='l.contract_ref')}
WHERE l.rank = 1
"""

#: A payment line's key columns; a flow without line numbers (Chorus INF-BUD-53) lists a
#: piece's lines as rows: each row is a line of its own, never a duplicate of a row of another
#: file.
LINE_KEY = "COALESCE(line_id, file_hash || '#' || position)"

#: The keys met more than once, with the first line of each (by file and position): every
#: other line of such a key is a duplicate of a line met in another file. An aggregate of the
#: keys' hashes (a number a line) finds them, then the keys themselves of the few lines whose
#: hash is met twice: a window over the whole rows, or an aggregate of the keys' text, spilled
#: to disk on millions of lines, nearly all of them met once.
REPEATED = f"""
CREATE OR REPLACE TEMP TABLE payment_repeated_work AS
WITH repeated_hashes AS (
    SELECT hash(buyer_id, budget_code, fiscal_year, piece_id, {LINE_KEY}) AS key_hash
    FROM staged_payment_lines GROUP BY ALL HAVING count(*) > 1
)
SELECT buyer_id, budget_code, fiscal_year, piece_id, {LINE_KEY} AS line_key,
    min({{'file_hash': file_hash, 'position': position}}) AS first
FROM staged_payment_lines
WHERE hash(buyer_id, budget_code, fiscal_year, piece_id, {LINE_KEY})
    IN (SELECT key_hash FROM repeated_hashes)
GROUP BY ALL HAVING count(*) > 1
"""

#: The staged lines with what every later step tells them by: a view, not a table. Each step
#: reads the few columns it needs from the staging Parquet files (a scan in file order, with
#: small tables joined to it); a table of the lines, even narrow, held millions of rows in
#: DuckDB's memory, spilled to disk past its limit and made every later step spill too.
LINES = f"""
CREATE OR REPLACE TEMP VIEW payment_lines_work AS
SELECT l.*,
    r.first IS NOT NULL
        AND r.first <> {{'file_hash': l.file_hash, 'position': l.position}} AS is_duplicate,
    -- never NULL: a flow without bordereau type or piece nature (Chorus) has no annulation
    COALESCE(l.batch_type = '02' OR l.piece_nature IN ('06', '10'), false)
        OR l.cancelled_piece_id IS NOT NULL AS is_cancellation,
    COALESCE(l.supplier_siret, l.supplier_id, l.supplier_ref) AS supplier_key,
    starts_with(COALESCE(l.budget_nature, ''), '{INTEREST_ACCOUNT}') AS is_interest
FROM (SELECT *, {LINE_KEY} AS line_key FROM staged_payment_lines) l
LEFT JOIN payment_repeated_work r ON r.buyer_id IS NOT DISTINCT FROM l.buyer_id
    AND r.budget_code IS NOT DISTINCT FROM l.budget_code
    AND r.fiscal_year IS NOT DISTINCT FROM l.fiscal_year
    AND r.piece_id IS NOT DISTINCT FROM l.piece_id AND r.line_key = l.line_key
"""


def _payment_key(alias: str) -> str:
    """A line's payment key (an md5 of its key columns), computed where it is needed: in a
    view it would be computed for every line scanned, matched or not."""
    return (f"md5(concat_ws('|', {alias}.buyer_id, COALESCE({alias}.budget_code, ''), "
            f"COALESCE(CAST({alias}.fiscal_year AS VARCHAR), ''), {alias}.piece_id, "
            f"{alias}.line_key))")


#: The annulations and reductions (few), each with the line it cancels: they are taken first
#: into a table of their own, so that the join to the lines they cancel hashes them, not the
#: millions of lines.
CANCELLATIONS = f"""
CREATE OR REPLACE TEMP TABLE payment_cancellations_work AS
WITH annulations AS MATERIALIZED (
    SELECT staged_row, buyer_id, budget_code,
        COALESCE(cancelled_fiscal_year, fiscal_year) AS cancelled_fiscal_year,
        cancelled_piece_id, COALESCE(cancelled_line_id, line_id) AS cancelled_line_id,
        amount_ht, amount_ttc
    FROM payment_lines_work WHERE is_cancellation AND NOT is_duplicate
)
SELECT c.staged_row AS c_row, o.staged_row AS o_row, {_payment_key('o')} AS o_key,
    c.amount_ht, c.amount_ttc
FROM annulations c JOIN payment_lines_work o ON NOT o.is_duplicate AND NOT o.is_cancellation
    AND o.buyer_id IS NOT DISTINCT FROM c.buyer_id AND o.budget_code IS NOT DISTINCT FROM c.budget_code
    AND o.fiscal_year = c.cancelled_fiscal_year AND o.piece_id = c.cancelled_piece_id
    AND o.line_id = c.cancelled_line_id
"""

#: What the accountant did with each line (PES Retour, Chorus): the last state, prise en
#: charge, suspensions, and the payments (the same payment met in two files counted once). A
#: payment given for a whole piece has no line: it is kept with line_id NULL (its date serves
#: the piece's lines, its amount none of them). Two aggregates, the first of each payment of a
#: line (its repeats in other files made one), the second of each line: an aggregate of the
#: payments, another of the states and a join of the two held three tables of a row a line.
#: Those of the pieces of one pass of ``PAYMENTS`` (see there).
EVENTS = """
WITH payments AS (
    SELECT buyer_id, fiscal_year, piece_id, line_id, payment_id, payment_date, amount_paid,
        arg_max(state, COALESCE(taken_in_charge_date, rejected_date, pending_date,
                                integrated_date)) AS state,
        max(COALESCE(taken_in_charge_date, rejected_date, pending_date, integrated_date))
            FILTER (WHERE state IS NOT NULL) AS state_date,
        max(taken_in_charge_date) AS taken_in_charge_date,
        max(suspension_days) AS suspension_days
    FROM staged_payment_events
    WHERE hash(piece_id) % CAST($passes AS UBIGINT) = CAST($pass AS UBIGINT)  -- (HUGEINT: slow)
    GROUP BY ALL
)
SELECT buyer_id, fiscal_year, piece_id, line_id, arg_max(state, state_date) AS state,
    max(taken_in_charge_date) AS taken_in_charge_date,
    max(payment_date) AS payment_date,
    sum(amount_paid) AS amount_paid, max(suspension_days) AS suspension_days
FROM payments GROUP BY buyer_id, fiscal_year, piece_id, line_id
"""

#: Each invoice's reception and « service fait » dates, from the Chorus Pro pivot (its
#: ``DateReception`` and validation cycle) and the status flux (status 01 « Déposée »: the
#: invoice made available on the portal, which R2192-12 makes the reception of an electronic
#: invoice; 07 « Service fait »): the first date of each, wherever it came from.
INVOICE_DATES = """
CREATE OR REPLACE TEMP TABLE invoice_dates_work AS
SELECT supplier_siret, invoice_number, min(received_date) AS received_date,
    min(service_done_date) AS service_done_date
FROM (
    SELECT supplier_siret, invoice_number, received_date, service_done_date
    FROM staged_invoices
    UNION ALL
    SELECT supplier_siret, invoice_number,
        CASE WHEN event = 'reception' THEN event_date END,
        CASE WHEN event = 'service_fait' THEN event_date END
    FROM staged_invoice_statuses
)
WHERE supplier_siret IS NOT NULL AND invoice_number IS NOT NULL
GROUP BY supplier_siret, invoice_number
"""

#: Suppliers SIRENE does not let us name (legal unit or establishment not diffusible), as in
#: ``model.search`` for the DECP holders; empty when the warehouse has no SIRENE reference.
HIDDEN = """
CREATE OR REPLACE TEMP TABLE payment_hidden_work AS
SELECT DISTINCT l.supplier_siret
FROM (SELECT supplier_siret FROM staged_payment_lines WHERE supplier_siret IS NOT NULL
      UNION SELECT supplier_siret FROM staged_invoices WHERE supplier_siret IS NOT NULL
      UNION SELECT supplier_siret FROM staged_invoice_statuses
      WHERE supplier_siret IS NOT NULL) l
LEFT JOIN ref_sirene_categories u ON u.siren = left(l.supplier_siret, 9)
LEFT JOIN ref_sirene_establishments e ON e.siret = l.supplier_siret
WHERE u.is_diffusible = false OR e.is_diffusible = false
"""
NO_HIDDEN = "CREATE OR REPLACE TEMP TABLE payment_hidden_work (supplier_siret VARCHAR)"
#: The name shown for a supplier that may not be named.
PERSON_MASK = "Personne physique (nom masqué)"
NOT_DIFFUSIBLE_MASK = "Nom non diffusible (SIRENE)"

#: Links, by priority: the contract number against the buyer's DECP contracts (one candidate,
#: or one whose holder is the supplier), against its PES Marché contracts; the commitment's
#: contract; buyer + supplier + dates (one contract of the buyer held by the supplier, in force).
#: A link depends on these five columns of a line alone: it is found once for each of their
#: combinations (far fewer than the lines), then joined to the lines by them, a small table
#: that the scan of the lines probes (grouping and joining by line held a row a line in
#: DuckDB's memory and spilled past millions of lines).
LINKS = f"""
CREATE OR REPLACE TEMP TABLE payment_links_work AS
WITH lines AS (
    SELECT row_number() OVER () AS combination, *,
        buyer_id || {CLEAN_REF.format(x='contract_ref')} AS ref_uid
    FROM (SELECT DISTINCT buyer_id, supplier_siret, batch_date, contract_ref, commitment_ref
          FROM payment_lines_work WHERE NOT is_duplicate)
), holders AS (
    SELECT DISTINCT uid, holder_id FROM contract_holders WHERE is_current
), number_link AS (  -- one candidate, or one of them held by the supplier
    SELECT l.combination, CASE WHEN count(*) = 1 THEN any_value(c.uid)
                              ELSE any_value(c.uid) FILTER (WHERE h.uid IS NOT NULL) END AS uid
    FROM lines l JOIN contracts c ON c.consultation_uid = l.ref_uid
    LEFT JOIN holders h ON h.uid = c.uid AND h.holder_id = l.supplier_siret
    GROUP BY l.combination HAVING count(*) = 1 OR count(h.uid) = 1
), finance_link AS (
    SELECT l.combination, COALESCE(f.decp_uid, f.contract_uid) AS uid,
        CASE WHEN f.decp_uid IS NOT NULL THEN 'decp' ELSE 'finance' END AS source
    FROM lines l JOIN finance_contracts f ON f.contract_uid = l.ref_uid
), commitment_link AS (
    SELECT l.combination, any_value(COALESCE(f.decp_uid, f.contract_uid, c.uid)) AS uid,
        any_value(CASE WHEN c.uid IS NOT NULL OR f.decp_uid IS NOT NULL THEN 'decp'
                       ELSE 'finance' END) AS source,
        count(DISTINCT COALESCE(f.decp_uid, f.contract_uid, c.uid)) AS candidates
    FROM lines l
    JOIN staged_commitments cm ON cm.commitment_ref = l.commitment_ref
        AND cm.contract_ref IS NOT NULL
    LEFT JOIN contracts c ON c.consultation_uid
        = COALESCE(l.buyer_id, cm.buyer_id) || {CLEAN_REF.format(x='cm.contract_ref')}
    LEFT JOIN finance_contracts f ON f.contract_uid
        = COALESCE(l.buyer_id, cm.buyer_id) || {CLEAN_REF.format(x='cm.contract_ref')}
    WHERE c.uid IS NOT NULL OR f.contract_uid IS NOT NULL
    GROUP BY l.combination
), dates_link AS (  -- one candidate: the least and the greatest are the same contract
    SELECT l.combination, min(c.uid) AS uid, min(c.uid) = max(c.uid) AS single
    FROM lines l
    JOIN holders h ON h.holder_id = l.supplier_siret
    JOIN contracts c ON c.uid = h.uid AND c.buyer_siret = l.buyer_id
        AND c.notification_date <= l.batch_date
        AND (c.estimated_end_date IS NULL OR l.batch_date
             <= c.estimated_end_date + INTERVAL {LINK_GRACE_MONTHS} MONTH)
    GROUP BY l.combination
)
SELECT l.buyer_id, l.supplier_siret, l.batch_date, l.contract_ref, l.commitment_ref,
    CASE WHEN n.uid IS NOT NULL THEN n.uid WHEN f.uid IS NOT NULL THEN f.uid
         WHEN cm.uid IS NOT NULL AND cm.candidates = 1 THEN cm.uid
         WHEN d.single THEN d.uid END AS contract_uid,
    CASE WHEN n.uid IS NOT NULL THEN 'decp' WHEN f.uid IS NOT NULL THEN f.source
         WHEN cm.uid IS NOT NULL AND cm.candidates = 1 THEN cm.source
         WHEN d.single THEN 'decp' END AS contract_source,
    CASE WHEN n.uid IS NOT NULL THEN 'contract_number'
         WHEN f.uid IS NOT NULL THEN 'finance_contract_number'
         WHEN cm.uid IS NOT NULL AND cm.candidates = 1 THEN 'commitment'
         WHEN d.single THEN 'buyer_supplier_dates' END AS link_method,
    CASE WHEN n.uid IS NOT NULL OR f.uid IS NOT NULL THEN 'high'
         WHEN cm.uid IS NOT NULL AND cm.candidates = 1 THEN 'medium'
         WHEN d.single THEN 'low' END AS link_confidence
FROM lines l
LEFT JOIN number_link n USING (combination)
LEFT JOIN finance_link f USING (combination)
LEFT JOIN commitment_link cm USING (combination)
LEFT JOIN dates_link d USING (combination)
"""

#: The last interest line of each supplier and contract: the late lines it follows had their
#: interest mandated.
INTEREST_DATES = """
CREATE OR REPLACE TEMP TABLE payment_interest_dates_work AS
SELECT buyer_id, supplier_key, contract_ref, max(batch_date) AS last_date
FROM payment_lines_work WHERE NOT is_duplicate AND is_interest AND NOT is_cancellation
GROUP BY ALL
"""

#: Lines paying the same invoice of the same supplier for the same amount as an earlier, not
#: annulled piece, with the least such earlier piece. Such keys are few: they are found by an
#: aggregate of their hash (a number a line) before the lines that share one are joined.
DUPLICATES = """
CREATE OR REPLACE TEMP TABLE payment_duplicates_work AS
WITH cancelled AS (
    SELECT o_row, sum(amount_ht) AS cancelled_ht FROM payment_cancellations_work GROUP BY o_row
), candidates AS NOT MATERIALIZED (  -- kept lines, not annulations, not cancelled whole
    SELECT l.staged_row, l.buyer_id, l.supplier_key, l.invoice_number, l.amount_ht,
        l.batch_date, l.fiscal_year, l.piece_id, l.is_interest,
        hash(l.buyer_id, l.supplier_key, l.invoice_number, l.amount_ht) AS key_hash
    FROM payment_lines_work l LEFT JOIN cancelled x ON x.o_row = l.staged_row
    WHERE NOT l.is_duplicate AND NOT l.is_cancellation
        AND l.amount_ht - COALESCE(x.cancelled_ht, 0) > 0
), shared AS MATERIALIZED (
    SELECT * FROM candidates WHERE key_hash IN (
        SELECT key_hash FROM candidates GROUP BY key_hash HAVING count(*) > 1)
)
SELECT d.staged_row, min(o.piece_id) AS piece_id
FROM shared d JOIN shared o ON o.buyer_id = d.buyer_id
    AND o.supplier_key = d.supplier_key AND o.invoice_number = d.invoice_number
    AND o.amount_ht = d.amount_ht
    AND (o.batch_date, o.fiscal_year, o.piece_id) < (d.batch_date, d.fiscal_year, d.piece_id)
WHERE NOT d.is_interest
GROUP BY d.staged_row
"""

#: ``payments``: the kept lines, read from the staging files with their events, reception,
#: netting, link and delay. Every table joined to the scan of the lines is small (the links by
#: combination, the annulations, the interest lines per supplier and contract, the duplicates)
#: but the accountant's events, one row a paid line: the lines are taken in passes (of the
#: pieces whose hash modulo ``$passes`` is ``$pass``) with the events of their pieces alone,
#: aggregated there, so that the events' tables fit in memory where they spilled the lines to
#: disk. Not
#: sorted: readers order what they show (a sort of the whole wide rows was the step's largest
#: cost, and spilled to disk past millions of lines).
PAYMENTS = f"""
WITH cancelled AS (  -- what the annulations and reductions take off each line they cancel
    SELECT o_row, sum(amount_ht) AS cancelled_ht, sum(amount_ttc) AS cancelled_ttc
    FROM payment_cancellations_work GROUP BY o_row
), cancels AS (
    SELECT c_row, any_value(o_key) AS cancels_payment_key
    FROM payment_cancellations_work GROUP BY c_row
), events AS MATERIALIZED ({EVENTS}), base AS (
    SELECT l.*,
        COALESCE(e.state, ep.state) AS state,
        COALESCE(e.taken_in_charge_date, ep.taken_in_charge_date) AS taken_in_charge_date,
        COALESCE(e.payment_date, ep.payment_date) AS payment_date, e.amount_paid,
        COALESCE(e.suspension_days, ep.suspension_days) AS event_suspension_days,
        COALESCE(i.received_date, l.invoice_received_date, l.delay_start_date)
            AS received_date,
        CASE WHEN i.received_date IS NOT NULL THEN 'chorus_pro'
             WHEN l.invoice_received_date IS NOT NULL THEN 'flow'
             WHEN l.delay_start_date IS NOT NULL THEN 'dgp_start' END AS received_source,
        i.service_done_date AS invoice_service_done_date,
        COALESCE(x.cancelled_ht, 0) AS cancelled_ht, COALESCE(x.cancelled_ttc, 0) AS cancelled_ttc,
        k.cancels_payment_key,
        lk.contract_uid, lk.contract_source, lk.link_method, lk.link_confidence
    FROM payment_lines_work l
    -- State flows (Chorus) carry no buyer SIRET: the buyer matches when both are unknown
    LEFT JOIN events e ON e.buyer_id IS NOT DISTINCT FROM l.buyer_id
        AND e.fiscal_year IS NOT DISTINCT FROM l.fiscal_year AND e.piece_id = l.piece_id AND e.line_id = l.line_id
    LEFT JOIN events ep ON ep.buyer_id IS NOT DISTINCT FROM l.buyer_id
        AND ep.fiscal_year IS NOT DISTINCT FROM l.fiscal_year AND ep.piece_id = l.piece_id AND ep.line_id IS NULL
    LEFT JOIN invoice_dates_work i ON i.supplier_siret = l.supplier_siret
        AND i.invoice_number = l.invoice_number
    LEFT JOIN cancelled x ON x.o_row = l.staged_row
    LEFT JOIN cancels k ON k.c_row = l.staged_row
    LEFT JOIN payment_links_work lk ON lk.buyer_id IS NOT DISTINCT FROM l.buyer_id
        AND lk.supplier_siret IS NOT DISTINCT FROM l.supplier_siret
        AND lk.batch_date IS NOT DISTINCT FROM l.batch_date
        AND lk.contract_ref IS NOT DISTINCT FROM l.contract_ref
        AND lk.commitment_ref IS NOT DISTINCT FROM l.commitment_ref
    WHERE NOT l.is_duplicate
        AND hash(l.piece_id) % CAST($passes AS UBIGINT) = CAST($pass AS UBIGINT)
), starts AS (
    -- R2192-12: the delay runs from the reception of the invoice or, when it was received
    -- before the services were done (or its reception is not known), from the service fait.
    -- A service fait recorded after the payment is a late record, not the execution: the
    -- reception stays the start. A DGP start the finance software computed already applies
    -- the rule: kept as it is.
    SELECT *,
        CASE WHEN from_service_done THEN invoice_service_done_date ELSE received_date END
            AS delay_start,
        CASE WHEN received_source = 'dgp_start' THEN 'dgp_start'
             WHEN from_service_done THEN 'service_fait'
             WHEN received_date IS NOT NULL THEN 'reception' END AS delay_start_method
    FROM (
        SELECT *,
            COALESCE(received_source IS DISTINCT FROM 'dgp_start'
                AND invoice_service_done_date IS NOT NULL
                AND (received_date IS NULL
                     OR (invoice_service_done_date > received_date
                         AND NOT COALESCE(invoice_service_done_date > payment_date, false))),
                false) AS from_service_done
        FROM base)
), delays AS (
    SELECT *,
        CASE WHEN NOT is_cancellation AND delay_eligible IS NOT FALSE
                  AND payment_date >= delay_start
             THEN date_diff('day', delay_start, payment_date)
                  - COALESCE(event_suspension_days, 0) END AS payment_delay_days,
        CASE WHEN delay_days_allowed = {HOSPITAL_DELAY_DAYS} THEN {HOSPITAL_DELAY_DAYS}
             ELSE {LEGAL_DELAY_DAYS} END AS legal_delay_days
    FROM starts
)
SELECT {_payment_key('d')} AS payment_key, d.buyer_id, d.budget_code, d.fiscal_year,
    d.batch_id, d.batch_date AS mandate_date, d.batch_type, d.piece_id, d.line_id, d.piece_type,
    d.piece_nature, d.is_cancellation, d.cancelled_piece_id, d.cancelled_line_id,
    d.cancels_payment_key, d.attached_piece_id, d.budget_nature, d.budget_function, d.is_interest,
    d.piece_nature = '14' AND NOT d.is_cancellation AS is_advance,
    -- a piece paying a person often names them in its object: left out for natural persons
    CASE WHEN d.supplier_natural_person THEN NULL ELSE d.object END AS object, d.payment_mode,
    d.amount_ht, d.amount_tva, d.amount_ttc,
    CASE WHEN d.is_cancellation THEN -d.amount_ht ELSE d.amount_ht END AS signed_amount_ht,
    CAST(d.cancelled_ht AS DECIMAL(18, 2)) AS cancelled_amount_ht,
    CAST(CASE WHEN d.is_cancellation THEN 0 ELSE d.amount_ht - d.cancelled_ht END
         AS DECIMAL(18, 2)) AS net_amount_ht,
    CAST(CASE WHEN d.is_cancellation THEN 0 ELSE d.amount_ttc - d.cancelled_ttc END
         AS DECIMAL(18, 2)) AS net_amount_ttc,
    d.supplier_ref,
    -- an individual's identifier may be a NIR: never carried into the warehouse
    CASE WHEN d.supplier_natural_person THEN NULL ELSE d.supplier_id END AS supplier_id,
    d.supplier_id_type, d.supplier_siret,
    d.supplier_id IS NOT NULL OR d.supplier_siret IS NOT NULL AS supplier_has_id,
    -- a natural person, or a supplier SIRENE does not let us name, is never named in the
    -- warehouse (staging keeps the name, unpublished)
    CASE WHEN d.supplier_natural_person THEN '{PERSON_MASK}'
         WHEN h.supplier_siret IS NOT NULL THEN '{NOT_DIFFUSIBLE_MASK}'
         ELSE d.supplier_name END AS supplier_name,
    d.supplier_natural_person, h.supplier_siret IS NOT NULL AS supplier_not_diffusible,
    d.supplier_category,
    d.contract_ref, d.commitment_ref, d.invoice_number, d.invoice_date,
    d.received_date AS invoice_received_date, d.received_source AS invoice_received_source,
    COALESCE(d.invoice_service_done_date, d.service_done_date) AS service_done_date,
    d.delay_start AS delay_start_date, d.delay_start_method,
    d.delay_eligible, d.delay_days_allowed, d.interest_code, d.interest_rate,
    d.state AS accountant_state, d.taken_in_charge_date, d.payment_date, d.amount_paid,
    d.event_suspension_days AS suspension_days, d.payment_delay_days, d.legal_delay_days,
    CASE WHEN d.payment_delay_days IS NOT NULL
         THEN greatest(d.payment_delay_days - d.legal_delay_days, 0) END AS late_days,
    -- late, and followed by an interest line (same supplier and contract)
    d.payment_delay_days IS NOT NULL AND COALESCE(d.payment_delay_days > d.legal_delay_days
        AND i.last_date >= d.payment_date, false) AS interest_mandated,
    -- a direct payment to a subcontractor: as the flow says, else a supplier the PES Marché
    -- contract lists as a direct-payment subcontractor (FALSE: one it does not list)
    CASE WHEN d.subcontractor_paid IS NOT NULL THEN d.subcontractor_paid
         WHEN f.contract_uid IS NOT NULL AND d.supplier_siret IS NOT NULL
         THEN list_contains(f.direct_payment_subcontractor_sirets, d.supplier_siret)
    END AS paid_to_subcontractor,
    x.piece_id AS duplicate_of_piece_id,
    d.contract_uid, d.contract_source, d.link_method, d.link_confidence,
    d.flow, d.file_hash, d.position, d.line
FROM delays d
LEFT JOIN payment_interest_dates_work i ON i.buyer_id = d.buyer_id AND i.supplier_key = d.supplier_key
    AND i.contract_ref IS NOT DISTINCT FROM d.contract_ref
LEFT JOIN payment_duplicates_work x ON x.staged_row = d.staged_row
LEFT JOIN payment_hidden_work h ON h.supplier_siret = d.supplier_siret
LEFT JOIN (SELECT COALESCE(decp_uid, contract_uid) AS uid, any_value(contract_uid) AS contract_uid,
               flatten(list(direct_payment_subcontractor_sirets))
                   AS direct_payment_subcontractor_sirets
           FROM finance_contracts GROUP BY ALL) f ON f.uid = d.contract_uid
"""

#: Paid against awarded, per contract (interest left out: it is not the contract's price).
CONTRACT_PAYMENTS = """
CREATE OR REPLACE TABLE contract_payments AS
WITH paid AS (
    SELECT contract_uid, any_value(contract_source) AS contract_source,
        any_value(buyer_id) AS buyer_id,
        sum(net_amount_ht) FILTER (WHERE NOT is_interest) AS paid_ht,
        COALESCE(sum(net_amount_ht) FILTER (WHERE is_advance), 0) AS advances_ht,
        COALESCE(sum(net_amount_ht) FILTER (WHERE is_interest), 0) AS interest_ht,
        count(*) FILTER (WHERE NOT is_cancellation) AS payment_lines,
        min(payment_date) AS first_payment_date, max(payment_date) AS last_payment_date
    FROM payments WHERE contract_uid IS NOT NULL GROUP BY contract_uid
)
SELECT p.*, CAST(COALESCE(c.amount, f.amount_ht) AS DECIMAL(18, 2)) AS awarded_ht,
    c.advance_granted,
    COALESCE(c.advance_rate, f.advance_rate) AS advance_rate,
    CASE WHEN c.advance_granted = false THEN CAST(0 AS DECIMAL(18, 2))
         WHEN COALESCE(c.advance_rate, f.advance_rate) IS NOT NULL
              AND COALESCE(c.amount, f.amount_ht) IS NOT NULL
         THEN CAST(round(COALESCE(c.advance_rate, f.advance_rate)
                    * COALESCE(c.amount, f.amount_ht), 2) AS DECIMAL(18, 2)) END AS advance_allowed_ht
FROM paid p
LEFT JOIN contracts c ON c.uid = p.contract_uid
LEFT JOIN finance_contracts f ON f.contract_uid = p.contract_uid AND c.uid IS NULL
ORDER BY p.contract_uid
"""

INVOICES_MODEL = f"""
CREATE OR REPLACE TABLE invoices AS
WITH pivot_invoices AS (
    SELECT DISTINCT ON (supplier_siret, invoice_number, invoice_type) *
    FROM staged_invoices ORDER BY supplier_siret, invoice_number, invoice_type, file_hash, position
), status_only AS (  -- invoices known from the status flux alone
    SELECT supplier_siret, invoice_number, arg_min(supplier_name, (file_hash, position))
            AS supplier_name, arg_min(buyer_id, (file_hash, position)) AS buyer_id,
        min(invoice_date) AS issue_date,
        arg_max(concat_ws(' ', status_code, status_label), (event_at, event_date, position))
            AS status,
        arg_min(file_hash, (file_hash, position)) AS file_hash,
        min(position) AS position, min(line) AS line
    FROM staged_invoice_statuses s
    WHERE NOT EXISTS (SELECT 1 FROM staged_invoices i WHERE i.supplier_siret
                      IS NOT DISTINCT FROM s.supplier_siret AND i.invoice_number = s.invoice_number)
    GROUP BY supplier_siret, invoice_number
), merged AS (
    SELECT invoice_number, supplier_siret, supplier_name, supplier_natural_person, buyer_id,
        service_code, issue_date, received_date, service_done_date, status, amount_ht,
        amount_ttc, contract_ref, commitment_ref, invoice_type, file_hash, position, line,
        'pivot' AS invoice_source
    FROM pivot_invoices
    UNION ALL
    SELECT invoice_number, supplier_siret, supplier_name, NULL, buyer_id, NULL, issue_date,
        NULL, NULL, status, NULL, NULL, NULL, NULL, NULL, file_hash, position, line, 'status'
    FROM status_only
)
SELECT m.invoice_number, m.supplier_siret,
    CASE WHEN m.supplier_natural_person THEN '{PERSON_MASK}'
         WHEN m.supplier_siret IN (SELECT supplier_siret FROM payment_hidden_work)
         THEN '{NOT_DIFFUSIBLE_MASK}' ELSE m.supplier_name END AS supplier_name,
    m.supplier_natural_person, m.buyer_id, m.service_code, m.issue_date,
    COALESCE(m.received_date, d.received_date) AS received_date,
    COALESCE(m.service_done_date, d.service_done_date) AS service_done_date,
    m.status, m.amount_ht, m.amount_ttc, m.contract_ref, m.commitment_ref, m.invoice_type,
    m.invoice_source, m.file_hash, m.position, m.line
FROM merged m
LEFT JOIN invoice_dates_work d ON d.supplier_siret = m.supplier_siret
    AND d.invoice_number = m.invoice_number
ORDER BY m.supplier_siret, m.invoice_number, m.invoice_type
"""

#: Per file: lines in = kept + duplicates (in the file, or already met in another) + set aside.
RECONCILIATION = """
CREATE OR REPLACE TABLE payment_reconciliation AS
WITH model AS (
    SELECT file_hash, count(*) FILTER (WHERE NOT is_duplicate) AS kept,
        count(*) FILTER (WHERE is_duplicate) AS duplicates_across_files
    FROM payment_lines_work GROUP BY file_hash
)
SELECT a.file_hash, a.file_name, a.flow, a.status, a.records_in,
    COALESCE(m.kept, a.kept) AS kept,
    a.duplicates AS duplicates_in_file, COALESCE(m.duplicates_across_files, 0)
        AS duplicates_across_files,
    a.set_aside,
    a.records_in = COALESCE(m.kept, a.kept) + a.duplicates + COALESCE(m.duplicates_across_files, 0) + a.set_aside AS balanced
FROM accounting_files a LEFT JOIN model m USING (file_hash)
ORDER BY a.file_name
"""

FINDINGS = f"""
CREATE OR REPLACE TABLE payment_findings AS
SELECT md5(concat_ws('|', f.record_key, f.rule_id, f.field, COALESCE(f.raw_value, '∅'),
                      COALESCE(f.value, '∅'))) AS finding_id,
    f.rule_id, f.severity, f.field, f.record_key, f.file_hash, f.position, f.line,
    CAST(NULL AS BIGINT) AS load_id, a.file_name, f.uid, f.buyer_siret, f.raw_value, f.value,
    CAST(NULL AS VARCHAR) AS directorate_id, {FOLLOW_KEY} AS follow_key
FROM payment_findings_work f
LEFT JOIN accounting_files a ON a.file_hash = f.file_hash
"""


def build_payments(con: duckdb.DuckDBPyConnection) -> None:
    """``finance_contracts``, ``payments``, ``contract_payments``, ``invoices``,
    ``payment_reconciliation`` from the staged views and the DECP model tables."""
    con.execute(ACCOUNTING_FILES)
    con.execute(BATCH_CHECKS)
    sirene = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name IN "
        "('ref_sirene_categories', 'ref_sirene_establishments')").fetchall()[0][0] == 2
    con.execute(HIDDEN if sirene else NO_HIDDEN)
    for sql in (FINANCE_CONTRACTS_MODEL, INVOICE_DATES, REPEATED, LINES, LINKS,
                CANCELLATIONS, INTEREST_DATES, DUPLICATES):
        con.execute(sql)
    events = con.execute("SELECT count(*) FROM staged_payment_events").fetchall()[0][0]
    passes = max(1, -(-events // EVENTS_PER_PASS))
    for number in range(passes):
        into = "CREATE OR REPLACE TABLE payments AS" if number == 0 else "INSERT INTO payments"
        con.execute(f"{into} {PAYMENTS}", {"passes": passes, "pass": number})
    for sql in (CONTRACT_PAYMENTS, INVOICES_MODEL, RECONCILIATION):
        con.execute(sql)
    con.execute("DROP VIEW payment_lines_work")
    for work in ("payment_repeated_work", "payment_links_work",
                 "payment_cancellations_work", "payment_interest_dates_work",
                 "payment_duplicates_work", "payment_hidden_work", "invoice_dates_work"):
        con.execute(f"DROP TABLE {work}")


def payment_findings(con: duckdb.DuckDBPyConnection) -> None:
    """``payment_findings`` (the ``findings`` shape) from the payment rule set."""
    con.execute(findings_sql("payment_findings_work", {"payment", "contract_payment"},
                             PAYMENT_RULES, PAYMENT_SUBJECTS))
    con.execute(FINDINGS)
    con.execute("DROP TABLE payment_findings_work")


def _indicators(ctx: BuildContext) -> None:
    """The payment indicators over the profile's territory and buyers (its scope)."""
    profile = ctx.profile
    if profile is None:  # a step run outside a build (tests)
        compute_payment_indicators(ctx.con)
        return
    compute_payment_indicators(
        ctx.con,
        [*(("region", code) for code in profile.territory.regions),
         *(("departement", code) for code in profile.territory.departements)],
        None if profile.scope_all_buyers else [b.siren for b in profile.buyers])


STAGED = frozenset({f"staged_{name}" for name in STAGING} | {"accounting_files"})
STEPS = [
    Step("paiements.modele", "Paiements : lignes, rattachement aux marchés, rapprochement",
         lambda ctx: build_payments(ctx.con),
         reads=STAGED | {"contracts", "contract_holders", "ref_sirene_categories",
                               "ref_sirene_establishments"},
         writes=frozenset({"finance_contracts", "payments", "contract_payments", "invoices",
                           "payment_reconciliation", "payment_batch_checks"})),
    Step("paiements.qualite", "Paiements : règles de qualité",
         lambda ctx: payment_findings(ctx.con),
         reads=frozenset({"payments", "contract_payments", "accounting_files"}),
         writes=frozenset({"payment_findings"})),
    Step("paiements.indicateurs",
         "Paiements : indicateurs (avances, délais, intérêts, paiements locaux, payé/attribué)",
         _indicators,
         reads=INDICATOR_READS,
         writes=frozenset({"payment_indicator_results"})),
]


def run(ctx: BuildContext) -> None:
    """Every payment step in order (for a build that has no pipeline runner yet)."""
    for step in STEPS:
        step.run(ctx)
