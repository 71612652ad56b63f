"""Finding buyers, suppliers and contracts by name or words: the read side of ``search_names``,
``cpv_search`` and ``contract_search`` (built by ``observatoire.model.search``), for the pages,
the API and the suggestions as one types.

A query is cut into words (letters and digits); each word is normalised by the same SQL as the
stored keys (:func:`observatoire.model.search.normalised`), bound as a parameter, and must be
found in the key: "ecole", "École" and "ÉCOLE" match the same rows, "rennes metropole" finds
"Rennes Métropole" and "Métropole de Rennes". A published name with garbled characters
("Universit� de Strasbourg") is matched by a pattern in which each letter that French writes
accented may stand for the garbled character, so "université" finds it too.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

import duckdb

from observatoire.config import Settings
from observatoire.model.search import normalised
from observatoire.warehouse import open_warehouse, scope_sql

MAX_WORDS = 8
MAX_PAGE_SIZE = 200
#: a query word, normalised by :func:`normalised_words` (one bound parameter): a constant of
#: the query, which DuckDB matches several times faster than the same word normalised by a
#: subquery of the query (« école » over a million contracts: 29 against 114 ms of CPU)
WORD = "CAST(? AS VARCHAR)"
#: the word as a pattern for garbled keys: a letter French accents may be U+FFFD or the two
#: characters of double-encoded UTF-8 (``Ã©`` → ``a©`` once normalised)
GARBLED_WORD = f"regexp_replace({WORD}, '([aeiouycn])', '(?:\\1|\ufffd|a[^a-z0-9 ])', 'g')"
#: the words already normalised (by the stored keys' SQL), and the in-memory database that
#: normalises the others: the same functions as the warehouse's, no file
_NORMALISED: dict[str, str] = {}
_NORMALISER: list[duckdb.DuckDBPyConnection] = []
_LOCK = threading.Lock()


def words(text: str | None) -> list[str]:
    """The words of a query, as typed (normalised in SQL); one-letter words are dropped when
    longer ones are there ("l'école" → "école")."""
    found = re.findall(r"[^\W_]+", (text or "")[:200])
    longer = [w for w in found if len(w) > 1]
    return (longer or found)[:MAX_WORDS]


def normalised_words(found: list[str]) -> list[str]:
    """``found`` normalised by the SQL of the stored keys (:func:`observatoire.model.search.
    normalised`), each word once per process."""
    missing = [w for w in dict.fromkeys(found) if w not in _NORMALISED]
    if missing:
        with _LOCK:
            if not _NORMALISER:
                _NORMALISER.append(duckdb.connect())
            rows = _NORMALISER[0].execute(
                f"SELECT q, {normalised('q')} FROM (SELECT unnest(CAST(? AS VARCHAR[])) AS q)",
                [missing]).fetchall()
            if len(_NORMALISED) > 100_000:
                _NORMALISED.clear()
            _NORMALISED.update(rows)
    return [_NORMALISED.get(w) or _normalised_now(w) for w in found]


def _normalised_now(word: str) -> str:
    """One word normalised (when the memory of the words was just cleared)."""
    with _LOCK:
        found = _NORMALISER[0].execute(
            f"SELECT {normalised('q')} FROM (SELECT CAST(? AS VARCHAR) AS q)", [word]).fetchone()
    return str(found[0]) if found and found[0] is not None else ""


def identifier_prefix(text: str | None) -> str | None:
    """The digits of a query that is a SIRET or SIREN (or their start), else None."""
    digits = re.sub(r"[\s.]", "", text or "")
    return digits if re.fullmatch(r"\d{3,14}", digits) else None


def name_match(found: list[str], alias: str = "n") -> tuple[str, list[Any]]:
    """SQL over ``search_names`` (as ``alias``): every word is in the name."""
    clauses, params = [], []
    for word in normalised_words(found):
        clauses.append(
            f"CASE WHEN {alias}.has_garbled_name THEN regexp_matches({alias}.search_key, "
            f"{GARBLED_WORD}) ELSE contains({alias}.search_key, {WORD}) END")
        params += [word, word]
    return " AND ".join(clauses) or "TRUE", params


def text_match(text: str) -> tuple[str, list[Any]] | None:
    """SQL over contracts ``c``: every word of ``text`` is in the contract's object, buyer's
    name, holders' names or CPV label; None when ``text`` has no word.

    A word has neither space nor ``|`` (see :func:`words`), so it is in the text those parts
    make together exactly when it is in one of them: the object and the holders' keys are read
    per contract (``contract_search``), the buyers' names and CPV labels in their own small
    tables, once per query."""
    found = words(text)
    if not found:
        return None
    where = " AND ".join(f"""(contains(s.object_key, {WORD}) OR contains(s.holder_keys, {WORD})
        OR s.buyer_siret IN (SELECT n.key FROM search_names n
                             WHERE n.kind = 'buyer' AND contains(n.search_key, {WORD}))
        OR s.cpv IN (SELECT l.cpv FROM cpv_search l WHERE contains(l.label_key, {WORD})))"""
                         for _ in found)
    params = [w for w in normalised_words(found) for _ in range(4)]
    return f"c.uid IN (SELECT s.uid FROM contract_search s WHERE {where})", params


def keys_named(kind: str, text: str) -> tuple[str, list[Any]]:
    """SQL: the keys (buyer SIRET, supplier key) of ``kind`` whose name or identifier matches."""
    prefix = identifier_prefix(text)
    if prefix:
        return ("SELECT n.key FROM search_names n WHERE n.kind = ? AND "
                "starts_with(n.identifier, ?)", [kind, prefix])
    match, params = name_match(words(text))
    return f"SELECT n.key FROM search_names n WHERE n.kind = ? AND {match}", [kind, *params]


@dataclass(frozen=True)
class Kind:
    """How a list of buyers or suppliers is read: its table (as ``t``), key, the columns
    returned (all of them: the API describes the table) and orders."""

    table: str
    key: str
    columns: str
    sorts: dict[str, str]
    default_sort: str


BUYER_SORTS = {
    "montant": "t.amount_total DESC NULLS LAST",
    "montant_asc": "t.amount_total ASC NULLS LAST",
    "marches": "t.contract_count DESC",
    "marches_asc": "t.contract_count ASC",
    "nom": "t.name ASC NULLS LAST",
    "nom_desc": "t.name DESC NULLS LAST",
    "recent": "t.last_notification_date DESC NULLS LAST",
}
SUPPLIER_SORTS = {
    "marches": "t.contract_count DESC",
    "marches_asc": "t.contract_count ASC",
    "nom": "t.name ASC NULLS LAST",
    "nom_desc": "t.name DESC NULLS LAST",
    "departement": "t.departement_code ASC NULLS LAST",
}
KINDS = {
    "buyer": Kind(
        "buyers", "buyer_siret", "t.*", BUYER_SORTS, "montant"),
    "supplier": Kind(
        "suppliers", "supplier_key", "t.*", SUPPLIER_SORTS, "marches"),
}
RELEVANCE = "pertinence"


def _scope(con: duckdb.DuckDBPyConnection, kind: str) -> str:
    scope = scope_sql(con)
    if scope == "TRUE":
        return "TRUE"
    if kind == "buyer":
        return scope_sql(con, "t.buyer_siret")
    # only the holders of the scope's contracts
    return ("t.supplier_key IN (SELECT h.supplier_key FROM contract_holders h "
            f"JOIN contracts c ON c.uid = h.uid WHERE h.is_current AND {scope})")


def find(settings: Settings, kind: str, text: str | None = None, sort: str | None = None,
         page: int = 1, page_size: int = 50) -> dict[str, Any]:
    """One page of buyers or suppliers (``kind``), those whose name (every word, accents and
    case ignored) or identifier (SIRET, SIREN or their start) matches ``text`` when given."""
    spec = KINDS[kind]
    page_size, page = max(1, min(page_size, MAX_PAGE_SIZE)), max(1, page)
    text = (text or "").strip()[:200]
    prefix = identifier_prefix(text)
    found = [] if prefix else words(text)
    searching = bool(prefix or found)
    sorts = {RELEVANCE: "", **spec.sorts} if searching else spec.sorts
    sort = sort if sort in sorts else (RELEVANCE if searching else spec.default_sort)
    params: list[Any] = []
    cte, join = "", ""
    if prefix:
        cte = ("WITH m AS (SELECT n.key, 0 AS rank FROM search_names n "
               "WHERE n.kind = ? AND starts_with(n.identifier, ?))")
        params = [kind, prefix]
    elif found:
        match, match_params = name_match(found)
        # names that start with the first word first, then those with a word that does
        cte = (f"""WITH m AS (
            SELECT n.key, CASE WHEN starts_with(n.search_key, {WORD}) THEN 0
                               WHEN contains(' ' || n.search_key, ' ' || {WORD}) THEN 1
                               ELSE 2 END AS rank
            FROM search_names n WHERE n.kind = ? AND {match})""")
        first = normalised_words(found[:1])[0]
        params = [first, first, kind, *match_params]
    if cte:
        join = f"JOIN m ON m.key = t.{spec.key}"
    order = "m.rank, t.contract_count DESC" if sort == RELEVANCE else spec.sorts[sort]
    con = open_warehouse(settings)
    try:
        where = _scope(con, kind)
        rows = _dicts(con.execute(
            f"""{cte} SELECT {spec.columns}, count(*) OVER () AS _n
                FROM {spec.table} t {join} WHERE {where}
                ORDER BY {order}, t.{spec.key} LIMIT ? OFFSET ?""",
            [*params, page_size, (page - 1) * page_size]))
        if rows:
            count = int(rows[0]["_n"])
        else:  # nothing, or a page past the last one
            count = int(con.execute(
                f"{cte} SELECT count(*) FROM {spec.table} t {join} WHERE {where}",
                params).fetchall()[0][0])
    finally:
        con.close()
    for r in rows:
        del r["_n"]
    return {"rows": rows, "count": count, "page": page, "page_size": page_size,
            "pages": max(1, -(-count // page_size)), "sort": sort, "sorts": list(sorts),
            "text": text}


def suggest(
    settings: Settings, kind: str, text: str | None, limit: int = 8
) -> list[dict[str, Any]]:
    """The first buyers or suppliers a query finds, best first, for suggestions as one types:
    name, identifier, where to go, and what tells two homonyms apart."""
    if len((text or "").strip()) < 2 or not (identifier_prefix(text) or words(text)):
        return []
    rows = find(settings, kind, text, page_size=max(1, min(limit, 20)))["rows"]
    out = []
    for r in rows:
        if kind == "buyer":
            out.append({"type": "acheteur", "identifiant": r["buyer_siret"], "nom": r["name"],
                        "nom_publie": r["published_name"], "marches": r["contract_count"],
                        "url": f"/acheteurs/{r['buyer_siret']}/"})
        else:
            ident = r["siret"] or r["supplier_key"]
            out.append({"type": "titulaire", "identifiant": r["siret"] or r["holder_id"],
                        "nom": r["name"], "nom_publie": r["published_name"],
                        "marches": r["contract_count"], "commune": r["commune_name"],
                        "url": "/titulaires/" + _quote(ident) + "/"})
    return out


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
