"""Spending (« dépenses »): the read side of the payment tables for the web, the API and the
downloads — the payments explorer, a contract's payments against what was awarded, a buyer's
payment delays per half-year and its spending by supplier.

The tables are built by ``model/payments.py`` (docs/accounting.md, « Payments in the model »).
Natural persons and suppliers SIRENE does not let us name are already masked there
(``supplier_name``, ``object``, ``supplier_id``); this module adds that a natural person's
SIRET is never shown nor searchable either. Every filter value is bound as a parameter; only
the code's own column names and constants are written into the SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from observatoire.config import Settings
from observatoire.explorer import UrlFilters, bounded, parse_amount, parse_year
from observatoire.public_columns import header
from observatoire.search import keys_named
from observatoire.warehouse import open_warehouse, scope_sql

#: Contracts below this amount (€ HT) need not be published in the DECP (R2196-1): spending on
#: them is only seen from the finance software.
DECP_THRESHOLD_HT = 40_000

#: The kind of a payment line, from its piece's nature (PES NatPce), its account and its link:
#: URL value → French label. « acompte »: an ordinary piece paying a contract (instalment);
#: « paiement »: an ordinary piece linked to no contract.
KINDS = {
    "avance": "Avance",
    "acompte": "Acompte sur marché",
    "dernier_acompte": "Dernier acompte (solde)",
    "retenue": "Retenue de garantie (libération)",
    "interets": "Intérêts moratoires et indemnités",
    "annulation": "Annulation ou réduction",
    "paiement": "Paiement hors marché ou sans nature",
}
KIND_SQL = """CASE WHEN p.is_cancellation THEN 'annulation'
    WHEN p.is_interest THEN 'interets'
    WHEN p.is_advance THEN 'avance'
    WHEN p.piece_nature = '13' THEN 'dernier_acompte'
    WHEN p.piece_nature = '12' THEN 'retenue'
    WHEN p.contract_uid IS NOT NULL THEN 'acompte'
    ELSE 'paiement' END"""

#: Where a line comes from: URL value → French label. A file declared simulated (a
#: ``.provenance.toml`` beside it, ``accounting.provenance``; recorded as
#: ``accounting_files.simulated``) is labelled simulated, whatever its name.
SOURCES = {"pes": "PES V2", "pes_simule": "PES V2 simulé (démonstration)",
           "chorus": "Chorus (État)", "export": "Export du logiciel financier",
           "simule": "Autre flux simulé (démonstration)"}
SIMULATED_SOURCES = ("pes_simule", "simule")
SOURCE_SQL = """CASE WHEN a.simulated AND starts_with(p.flow, 'pes') THEN 'pes_simule'
    WHEN a.simulated THEN 'simule'
    WHEN starts_with(p.flow, 'pes') THEN 'pes'
    WHEN starts_with(p.flow, 'chorus') THEN 'chorus' ELSE 'export' END"""

#: How a line is linked to its contract (``payments.link_method``), in French.
LINK_METHODS = {
    "contract_number": "numéro de marché de la ligne (IdMarche), marché publié en DECP",
    "finance_contract_number": "numéro de marché de la ligne, marché connu du logiciel "
                               "financier (PES Marché)",
    "commitment": "engagement juridique (Chorus) qui nomme le marché",
    "buyer_supplier_dates": "acheteur, fournisseur et dates (seul marché possible)",
}
CONFIDENCES = {"high": "élevée", "medium": "moyenne", "low": "faible"}

#: The columns of a payment line in the explorer, its twins, downloads and the API. A natural
#: person's SIRET is left out (``supplier_siret`` NULL), like their name and object.
COLUMNS = {
    "payment_key": "p.payment_key",
    "buyer_id": "p.buyer_id",
    "buyer_name": "b.name",
    "fiscal_year": "p.fiscal_year",
    "mandate_date": "p.mandate_date",
    "piece_id": "p.piece_id",
    "line_id": "p.line_id",
    "kind": KIND_SQL,
    "piece_nature": "p.piece_nature",
    "object": "p.object",
    "supplier_siret": "CASE WHEN p.supplier_natural_person THEN NULL ELSE p.supplier_siret END",
    "supplier_name": "p.supplier_name",
    "supplier_masked": "p.supplier_natural_person OR p.supplier_not_diffusible",
    "amount_ht": "p.amount_ht",
    "signed_amount_ht": "p.signed_amount_ht",
    "net_amount_ht": "p.net_amount_ht",
    "payment_date": "p.payment_date",
    "payment_delay_days": "p.payment_delay_days",
    "late_days": "p.late_days",
    "contract_uid": "p.contract_uid",
    "contract_ref": "p.contract_ref",
    "link_method": "p.link_method",
    "link_confidence": "p.link_confidence",
    "source": SOURCE_SQL,
    "file_name": "a.file_name",
}
SELECTION_COLUMNS = list(COLUMNS)


def headers() -> list[str]:
    """The French headers of the downloads (``public_columns``); the JSON keeps the
    identifiers, as the API."""
    return [header("payments", c) for c in SELECTION_COLUMNS]

FROM_SQL = """FROM payments p
LEFT JOIN accounting_files a ON a.file_hash = p.file_hash
LEFT JOIN buyers b ON b.buyer_siret = p.buyer_id"""

SORTS = {
    "date": "p.mandate_date DESC NULLS LAST, p.payment_key",
    "date_asc": "p.mandate_date ASC NULLS LAST, p.payment_key",
    "montant": "p.amount_ht DESC NULLS LAST, p.payment_key",
    "montant_asc": "p.amount_ht ASC NULLS LAST, p.payment_key",
    "fournisseur": "p.supplier_name NULLS LAST, p.payment_key",
    "delai": "p.payment_delay_days DESC NULLS LAST, p.payment_key",
}
SORT_LABELS = {"date": "les plus récents", "date_asc": "les plus anciens",
               "montant": "montant décroissant", "montant_asc": "montant croissant",
               "fournisseur": "fournisseur", "delai": "délai le plus long"}


@dataclass(frozen=True)
class PaymentFilters(UrlFilters):
    """What a user can filter the payment lines on; every field optional (French URL names)."""

    acheteur: str | None = None  # buyer SIRET, or words of its name
    fournisseur: str | None = None  # supplier SIRET, or words of its (published) name
    exercice: int | None = None  # fiscal year
    type: str | None = None  # a key of KINDS
    marche: str | None = None  # « oui » linked to a contract, « non » not, or a contract uid
    montant_min: float | None = None  # amount of the line, € HT
    montant_max: float | None = None
    source: str | None = None  # a key of SOURCES
    texte: str | None = None  # words of the object

    @staticmethod
    def parse(name: str, raw: str) -> Any:
        return _parse(name, raw)


def _parse(name: str, raw: str) -> Any:
    if name == "exercice":
        return parse_year(raw)
    if name in ("montant_min", "montant_max"):
        return parse_amount(raw)
    if name == "type" and raw not in KINDS:
        raise ValueError(raw)
    if name == "source" and raw not in SOURCES:
        raise ValueError(raw)
    return raw[:200]


def _where(f: PaymentFilters) -> tuple[str, list[Any]]:
    clauses, params = ["TRUE"], []
    simple = (
        ("p.fiscal_year = ?", f.exercice),
        (f"({KIND_SQL}) = ?", f.type),
        ("p.amount_ht >= ?", f.montant_min),
        ("p.amount_ht <= ?", f.montant_max),
        (f"({SOURCE_SQL}) = ?", f.source),
    )
    for clause, value in simple:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if f.acheteur and re.fullmatch(r"\d{14}", f.acheteur):
        clauses.append("p.buyer_id = ?")
        params.append(f.acheteur)
    elif f.acheteur:  # a name: the payments of every buyer it finds (observatoire.search)
        named, named_params = keys_named("buyer", f.acheteur)
        clauses.append(f"p.buyer_id IN ({named})")
        params += named_params
    if f.marche == "oui":
        clauses.append("p.contract_uid IS NOT NULL")
    elif f.marche == "non":
        clauses.append("p.contract_uid IS NULL")
    elif f.marche:
        clauses.append("p.contract_uid = ?")
        params.append(f.marche)
    if f.fournisseur and re.fullmatch(r"\d{14}", f.fournisseur):
        # a natural person is never found by their SIRET (it would name them)
        clauses.append("p.supplier_siret = ? AND NOT p.supplier_natural_person")
        params.append(f.fournisseur)
    elif f.fournisseur:
        words = [w for w in re.split(r"\s+", f.fournisseur) if w]
        for word in words:  # the published (masked) name only
            clauses.append("strip_accents(lower(p.supplier_name)) LIKE "
                           "'%' || strip_accents(lower(?)) || '%'")
            params.append(word)
    if f.texte:
        for word in (w for w in re.split(r"\s+", f.texte) if w):
            clauses.append("strip_accents(lower(p.object)) LIKE "
                           "'%' || strip_accents(lower(?)) || '%'")
            params.append(word)
    return " AND ".join(clauses), params


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _scope(con: duckdb.DuckDBPyConnection) -> str:
    """The profile's scope on the payments' buyer (a State line without buyer SIRET is
    outside a profile limited to its own buyers)."""
    return scope_sql(con, "p.buyer_id")


def _select(names: list[str]) -> str:
    return ", ".join(f"{COLUMNS[n]} AS {n}" for n in names)


def search(settings: Settings, filters: PaymentFilters, sort: str = "date", page: int = 1,
           page_size: int = 50) -> dict[str, Any]:
    """One page of payment lines, their number and their totals (net paid, interest), and the
    counts per kind, source and link of the whole selection."""
    page, page_size = bounded(page, page_size)
    where, params = _where(filters)
    order = SORTS[sort if sort in SORTS else "date"]
    con = open_warehouse(settings)
    try:
        where = f"{where} AND {_scope(con)}"
        rows = _dicts(con.execute(
            f"SELECT {_select(SELECTION_COLUMNS)} {FROM_SQL} WHERE {where} "
            f"ORDER BY {order} LIMIT ? OFFSET ?", [*params, page_size, (page - 1) * page_size]))
        # the selection's totals and its counts per kind and per source, in one scan
        groups = con.execute(
            f"""SELECT GROUPING(kind) AS by_source, kind, source, count(*) AS n,
                   sum(net) AS net, count(contract_uid) AS linked,
                   sum(net) FILTER (WHERE contract_uid IS NULL) AS outside
                FROM (SELECT {KIND_SQL} AS kind, {SOURCE_SQL} AS source,
                          p.net_amount_ht AS net, p.contract_uid {FROM_SQL} WHERE {where})
                GROUP BY GROUPING SETS ((kind), (source))""", params).fetchall()
        by_kind = {kind: n for by_source, kind, _, n, *_ in groups if not by_source}
        by_source = {source: n for by_source, _, source, n, *_ in groups if by_source}
        kinds = [g for g in groups if not g[0]]
        totals = (sum(g[3] for g in kinds), sum((g[4] or 0) for g in kinds),
                  sum(g[5] for g in kinds), sum((g[6] or 0) for g in kinds))
        # with a buyer filter: is any payment of that buyer loaded at all? (without one,
        # its spending is unknown: never « 0 € paid »)
        buyer_loaded = None
        if filters.acheteur:
            named, named_params = _where(PaymentFilters(acheteur=filters.acheteur))
            buyer_loaded = bool(con.execute(
                f"SELECT count(*) FROM payments p WHERE {named} AND {_scope(con)}",
                named_params).fetchall()[0][0])
        loaded, years = con.execute(
            f"SELECT count(*), list(DISTINCT p.fiscal_year ORDER BY p.fiscal_year DESC) "
            f"FILTER (WHERE p.fiscal_year IS NOT NULL) FROM payments p WHERE {_scope(con)}"
        ).fetchall()[0]
    finally:
        con.close()
    count = int(totals[0])
    return {
        "payments": rows, "count": count, "page": page, "page_size": page_size,
        "pages": max(1, -(-count // page_size)),
        "net_total": float(totals[1] or 0), "linked": int(totals[2]),
        "outside_contracts_total": float(totals[3] or 0),
        "by_kind": {k: int(by_kind.get(k, 0)) for k in KINDS},
        "by_source": {k: int(by_source.get(k, 0)) for k in SOURCES},
        "simulated": sum(int(by_source.get(k, 0)) for k in SIMULATED_SOURCES),
        "years": list(years or []), "loaded": int(loaded), "buyer_loaded": buyer_loaded,
    }


def selection_count(settings: Settings, filters: PaymentFilters) -> int:
    """The number of payment lines of a selection (what its download holds)."""
    where, params = _where(filters)
    con = open_warehouse(settings)
    try:
        return int(con.execute(f"SELECT count(*) {FROM_SQL} WHERE {where} AND {_scope(con)}",
                               params).fetchall()[0][0])
    finally:
        con.close()


def selection(settings: Settings, filters: PaymentFilters,
              sort: str = "date") -> Iterator[tuple[Any, ...]]:
    """Every payment line of a selection, in the list's order, as rows of
    ``SELECTION_COLUMNS``, read in batches (memory stays flat); the connection closes when the
    rows are exhausted or the generator is closed."""
    where, params = _where(filters)
    order = SORTS[sort if sort in SORTS else "date"]
    con = open_warehouse(settings)
    try:
        cursor = con.execute(
            f"SELECT {_select(SELECTION_COLUMNS)} {FROM_SQL} WHERE {where} AND {_scope(con)} "
            f"ORDER BY {order}", params)
        while batch := cursor.fetchmany(1_000):
            yield from batch
    finally:
        con.close()


def _buyer_loaded(con: duckdb.DuckDBPyConnection, siret: str) -> dict[str, Any]:
    """What payment data is loaded for a buyer: lines, sources, fiscal years and mandat
    dates (the period its figures cover)."""
    row = _dicts(con.execute(
        f"""SELECT count(*) AS lines, min(p.fiscal_year) AS first_year,
               max(p.fiscal_year) AS last_year, min(p.mandate_date) AS first_date,
               max(p.mandate_date) AS last_date,
               list(DISTINCT {SOURCE_SQL} ORDER BY {SOURCE_SQL}) AS sources
            FROM payments p LEFT JOIN accounting_files a ON a.file_hash = p.file_hash
            WHERE p.buyer_id = ?""", [siret]))[0]
    row["sources"] = [{"source": s, "label": SOURCES[s]} for s in row["sources"] or []]
    row["simulated"] = any(s["source"] in SIMULATED_SOURCES for s in row["sources"])
    return row


def contract_payments(settings: Settings, uid: str) -> dict[str, Any] | None:
    """A contract's payments: paid to date against awarded (initial, and after
    modifications), by fiscal year and by kind, the sources and the coverage (how the lines
    were linked). ``loaded`` says whether any payment of its buyer is loaded at all: without
    one, nothing is known of what was paid (never « 0 € paid »). None: no such contract."""
    con = open_warehouse(settings)
    try:
        found = _dicts(con.execute(
            f"""SELECT c.uid, c.buyer_siret, c.amount_initial, c.amount AS amount_awarded,
                   c.modification_count, 'decp' AS contract_source, false AS simulated
                FROM contracts c WHERE c.uid = ? AND {scope_sql(con)}
                UNION ALL
                SELECT f.contract_uid, f.buyer_id, f.amount_ht, f.amount_ht, NULL, 'finance',
                   COALESCE(a.simulated, false)
                FROM finance_contracts f
                LEFT JOIN accounting_files a ON a.file_hash = f.file_hash
                WHERE f.contract_uid = ? AND f.decp_uid IS NULL
                    AND {scope_sql(con, 'f.buyer_id')}
                ORDER BY contract_source""", [uid, uid]))  # « decp » first
        if not found:
            return None
        contract = found[0]
        buyer = _buyer_loaded(con, contract["buyer_siret"])
        where = "p.contract_uid = ?"
        paid = _dicts(con.execute(
            f"""SELECT sum(p.net_amount_ht) FILTER (WHERE NOT p.is_interest) AS paid_ht,
                   COALESCE(sum(p.net_amount_ht) FILTER (WHERE p.is_interest), 0) AS interest_ht,
                   COALESCE(sum(p.cancelled_amount_ht), 0) AS cancelled_ht,
                   count(*) AS lines,
                   count(*) FILTER (WHERE p.is_cancellation) AS cancellations,
                   min(p.payment_date) AS first_payment_date,
                   max(p.payment_date) AS last_payment_date,
                   count(*) FILTER (WHERE NOT p.is_cancellation AND p.payment_date IS NULL)
                       AS unpaid_lines
                FROM payments p WHERE {where}""", [uid]))[0]
        by_year = _dicts(con.execute(
            f"""SELECT p.fiscal_year AS year, sum(p.net_amount_ht) AS net_ht,
                   count(*) AS lines
                FROM payments p WHERE {where} GROUP BY 1 ORDER BY 1 NULLS LAST""", [uid]))
        by_kind = _dicts(con.execute(
            f"""SELECT {KIND_SQL} AS kind, sum(p.net_amount_ht) AS net_ht,
                   sum(p.signed_amount_ht) AS signed_ht, count(*) AS lines
                FROM payments p WHERE {where} GROUP BY 1""", [uid]))
        links = _dicts(con.execute(
            f"""SELECT p.link_method AS method, p.link_confidence AS confidence,
                   count(*) AS lines, sum(p.net_amount_ht) AS net_ht
                FROM payments p WHERE {where} GROUP BY ALL ORDER BY lines DESC, method""",
            [uid]))
        sources = _dicts(con.execute(
            f"""SELECT {SOURCE_SQL} AS source, a.file_name, count(*) AS lines
                FROM payments p LEFT JOIN accounting_files a ON a.file_hash = p.file_hash
                WHERE {where} GROUP BY ALL ORDER BY a.file_name""", [uid]))
    finally:
        con.close()
    linked = bool(paid["lines"])
    if not buyer["lines"]:  # nothing is known of what was paid: no figure, not 0
        paid = dict.fromkeys(paid)
    order = list(KINDS)
    by_kind.sort(key=lambda r: order.index(r["kind"]))
    for r in by_kind:
        r["label"] = KINDS[r["kind"]]
    for r in links:
        r["method_label"] = LINK_METHODS.get(r["method"], r["method"])
        r["confidence_label"] = CONFIDENCES.get(r["confidence"], r["confidence"])
    for r in sources:
        r["label"] = SOURCES[r["source"]]
    awarded = contract["amount_awarded"]
    paid_ht = paid["paid_ht"]
    return {
        "contract": contract,
        "loaded": buyer["lines"] > 0, "buyer_payments": buyer,
        "linked": linked,
        "paid": paid,
        "paid_share": (float(paid_ht) / float(awarded)
                       if paid_ht is not None and awarded else None),
        "by_year": by_year, "by_kind": by_kind, "links": links, "sources": sources,
    }


def buyer_payments(settings: Settings, siret: str) -> dict[str, Any] | None:
    """A buyer's payments: what is loaded, its payment delays per half-year (the B03/B04
    population of ``indicators/payments.py``: a mandat's delay is its longest line's) with the
    profile's minimum sample, the interest paid, and its spending by supplier (on contracts of
    40 k€ or more, below, of unknown amount, and outside contracts). None: a SIRET that is
    neither a buyer of the profile's scope nor the buyer of a payment."""
    con = open_warehouse(settings)
    try:
        loaded = _buyer_loaded(con, siret)
        known = con.execute(
            f"""SELECT EXISTS (SELECT 1 FROM buyers b WHERE b.buyer_siret = ?
                               AND {scope_sql(con, 'b.buyer_siret')})
                OR EXISTS (SELECT 1 FROM payments p WHERE p.buyer_id = ? AND {_scope(con)})""",
            [siret, siret]).fetchall()[0][0]
        if not known:
            return None
        profile = con.execute("SELECT min_population FROM indicator_profile").fetchone()
        min_population = int(profile[0]) if profile and profile[0] else 1
        delays = _dicts(con.execute(
            """WITH pieces AS (
                    SELECT fiscal_year, piece_id, max(payment_date) AS paid_on,
                        max(payment_delay_days) AS delay_days,
                        max(legal_delay_days) AS legal_delay_days
                    FROM payments
                    WHERE buyer_id = ? AND NOT is_cancellation AND NOT is_interest
                        AND delay_eligible IS NOT FALSE
                    GROUP BY fiscal_year, piece_id
                    HAVING sum(net_amount_ht) > 0 AND count(payment_date) = count(*)
                ), halves AS (
                    SELECT *, year(paid_on) AS year,
                        CASE WHEN month(paid_on) <= 6 THEN 1 ELSE 2 END AS half FROM pieces
                ), interest AS (
                    SELECT year(COALESCE(payment_date, mandate_date)) AS year,
                        CASE WHEN month(COALESCE(payment_date, mandate_date)) <= 6 THEN 1
                             ELSE 2 END AS half,
                        sum(net_amount_ht) AS interest_ht
                    FROM payments WHERE buyer_id = ? AND is_interest GROUP BY ALL
                ), delays AS (
                    SELECT year, half, count(*) AS pieces, count(delay_days) AS known,
                        avg(delay_days) AS mean_days,
                        count(*) FILTER (WHERE delay_days <= 30)
                            / NULLIF(count(delay_days), 0) AS share_1_30,
                        count(*) FILTER (WHERE delay_days BETWEEN 31 AND 60)
                            / NULLIF(count(delay_days), 0) AS share_31_60,
                        count(*) FILTER (WHERE delay_days >= 61)
                            / NULLIF(count(delay_days), 0) AS share_61,
                        count(*) FILTER (WHERE delay_days > legal_delay_days) AS late
                    FROM halves GROUP BY GROUPING SETS ((year, half), ())
                )
                SELECT d.year, d.half, d.pieces, d.known, d.mean_days, d.share_1_30,
                    d.share_31_60, d.share_61, d.late,
                    CASE WHEN d.year IS NULL
                         THEN (SELECT sum(interest_ht) FROM interest)
                         ELSE COALESCE(i.interest_ht, 0) END AS interest_ht
                FROM delays d LEFT JOIN interest i ON i.year = d.year AND i.half = d.half
                UNION ALL  -- interest paid in a half-year without a paid piece
                SELECT i.year, i.half, 0, 0, NULL, NULL, NULL, NULL, 0, i.interest_ht
                FROM interest i
                WHERE NOT EXISTS (SELECT 1 FROM halves h WHERE h.year = i.year
                                  AND h.half = i.half)
                ORDER BY year NULLS LAST, half""", [siret, siret]))
        suppliers = _dicts(con.execute(
            f"""SELECT CASE WHEN p.supplier_natural_person THEN NULL
                           ELSE p.supplier_siret END AS supplier_siret,
                   p.supplier_name,
                   bool_or(p.supplier_natural_person OR p.supplier_not_diffusible) AS masked,
                   count(*) FILTER (WHERE NOT p.is_cancellation) AS lines,
                   sum(p.net_amount_ht) AS net_ht,
                   COALESCE(sum(p.net_amount_ht) FILTER (
                       WHERE cp.awarded_ht >= {DECP_THRESHOLD_HT}), 0) AS above_threshold_ht,
                   COALESCE(sum(p.net_amount_ht) FILTER (
                       WHERE cp.awarded_ht < {DECP_THRESHOLD_HT}), 0) AS below_threshold_ht,
                   COALESCE(sum(p.net_amount_ht) FILTER (
                       WHERE p.contract_uid IS NOT NULL AND cp.awarded_ht IS NULL), 0)
                       AS unknown_amount_ht,
                   COALESCE(sum(p.net_amount_ht) FILTER (WHERE p.contract_uid IS NULL), 0)
                       AS outside_contracts_ht
                FROM payments p
                LEFT JOIN contract_payments cp ON cp.contract_uid = p.contract_uid
                WHERE p.buyer_id = ?
                -- one row per supplier: a natural person's lines under their masked name
                -- and tiers code, never by identifier
                GROUP BY 1, 2, CASE WHEN p.supplier_siret IS NULL
                                    OR p.supplier_natural_person THEN p.supplier_ref END
                ORDER BY net_ht DESC NULLS LAST, supplier_name""", [siret]))
    finally:
        con.close()
    if not loaded["lines"]:  # nothing is known: no delay, no spending (not 0)
        delays, suppliers = [], []
    for d in delays:
        d["small_sample"] = d["known"] < min_population
        d["period"] = "Toutes périodes" if d["year"] is None else (
            f"{d['year']}, {'1er' if d['half'] == 1 else '2d'} semestre")
    totals = {k: sum(float(s[k] or 0) for s in suppliers) if suppliers else None
              for k in ("net_ht", "above_threshold_ht", "below_threshold_ht",
                        "unknown_amount_ht", "outside_contracts_ht")}
    return {"loaded": loaded["lines"] > 0, "buyer_payments": loaded,
            "min_population": min_population, "legal_delay_days": 30,
            "delays": delays, "suppliers": suppliers, "supplier_totals": totals,
            "threshold_ht": DECP_THRESHOLD_HT}


def choices() -> dict[str, list[tuple[str, str]]]:
    """The values of the explorer's selects that do not depend on the data."""
    return {"type": list(KINDS.items()), "source": list(SOURCES.items()),
            "marche": [("oui", "rattachés à un marché"), ("non", "hors marché")]}

