"""The contract explorer: the read side of the web, the API and the CLI (the pages of one
contract, buyer or supplier are ``observatoire.details``).

Every filter value is bound as a parameter; only the code's own column names are written into
the SQL. Amounts are summed per contract, never per holder.
"""

from __future__ import annotations

import calendar
import decimal
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from typing import Any, Self, TypeVar

import duckdb

from observatoire import search as by_name
from observatoire.config import Settings
from observatoire.formatting import number
from observatoire.indicators.domains import DEFAULT_DOMAIN, domain_match_sql
from observatoire.warehouse import open_identified, open_warehouse, scope_sql

T = TypeVar("T")

MAX_PAGE_SIZE = 200
#: The largest page number served: past it a page is empty anyway, and its offset stays far
#: inside the database's 64-bit integers (a 30-digit page number was an internal error).
MAX_PAGE = 1_000_000
SORTS = {
    "date": "c.notification_date DESC NULLS LAST, c.uid",
    "date_asc": "c.notification_date ASC NULLS LAST, c.uid",
    "montant": "c.amount DESC NULLS LAST, c.uid",
    "montant_asc": "c.amount ASC NULLS LAST, c.uid",
    "acheteur": "b.name NULLS LAST, c.uid",
}
#: The same orders on the matching contracts (``search``'s ``m``), before any join.
PAGE_SORTS = {
    "date": "notification_date DESC NULLS LAST, uid",
    "date_asc": "notification_date ASC NULLS LAST, uid",
    "montant": "amount DESC NULLS LAST, uid",
    "montant_asc": "amount ASC NULLS LAST, uid",
    "acheteur": "buyer_name NULLS LAST, uid",
}


class UrlFilters:
    """Filters read from and written to URL parameters (French names), for a frozen dataclass
    whose fields are all optional: each subclass says how one value reads (``parse``, which
    raises ValueError on a value that does not)."""

    @staticmethod
    def parse(name: str, raw: str) -> Any:
        return raw[:200]

    @classmethod
    def from_query(cls, query: dict[str, str]) -> tuple[Self, list[str]]:
        """Read filters from URL parameters; a value that does not read is ignored and said."""
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in fields(cls):  # type: ignore[arg-type]
            raw = (query.get(f.name) or "").strip()
            if not raw:
                continue
            try:
                values[f.name] = cls.parse(f.name, raw)
            except ValueError:
                problems.append(f"Filtre « {f.name} » ignoré : valeur « {raw[:40]} » illisible.")
        return cls(**values), problems

    def as_query(self) -> dict[str, str]:
        out = {}
        for key, value in asdict(self).items():  # type: ignore[call-overload]
            if value is None:
                continue
            if isinstance(value, bool):
                out[key] = "oui" if value else "non"
            elif isinstance(value, float) and value.is_integer():  # 100000, not 100000.0
                out[key] = str(int(value))
            else:
                out[key] = str(value)
        return out


@dataclass(frozen=True)
class ContractFilters(UrlFilters):
    """What a user can filter the contracts on; every field optional (French URL names)."""

    annee: int | None = None
    acheteur: str | None = None  # buyer SIRET, or words of its name
    titulaire: str | None = None  # supplier SIRET, SIREN or supplier key, or words of its name
    domaine: str | None = None  # purchase domain id of the profile
    cpv: str | None = None  # CPV code or prefix
    procedure: str | None = None
    montant_min: float | None = None
    montant_max: float | None = None
    clause_sociale: bool | None = None
    clause_environnementale: bool | None = None
    categorie: str | None = None  # PME, ETI, GE of a holder
    departement: str | None = None  # département of a holder
    texte: str | None = None  # words of the object, buyer, holders or CPV label
    # the contract's best known place (``location_*``) and where it comes from
    lieu_region: str | None = None  # COG région code
    lieu_departement: str | None = None  # COG département code
    lieu_commune: str | None = None  # COG commune code
    lieu_base: str | None = None  # a key of LOCATION_BASES
    acheteur_departement: str | None = None  # département of the buyer (buyers.departement_code)

    @staticmethod
    def parse(name: str, raw: str) -> Any:
        return _parse(name, raw)


def parse_year(raw: str) -> int:
    year = int(raw)
    if not 1990 <= year <= 2100:
        raise ValueError(raw)
    return year


def parse_amount(raw: str) -> float:
    """An amount as people write it (« 100 000,50 »)."""
    amount = float(raw.replace("\u202f", "").replace(" ", "").replace(",", "."))
    if not math.isfinite(amount):  # « nan » or « inf » read as numbers, and match nothing
        raise ValueError(raw)
    return amount


def _parse(name: str, raw: str) -> Any:
    if name == "annee":
        return parse_year(raw)
    if name in ("montant_min", "montant_max"):
        return parse_amount(raw)
    if name in ("clause_sociale", "clause_environnementale"):
        if raw.lower() in ("oui", "1", "true"):
            return True
        if raw.lower() in ("non", "0", "false"):
            return False
        raise ValueError(raw)
    if name == "cpv" and not re.fullmatch(r"\d{1,8}", raw.split("-")[0]):
        raise ValueError(raw)
    if name == "cpv":
        return raw.split("-")[0]
    if name == "categorie" and raw.upper() not in ("PME", "ETI", "GE"):
        raise ValueError(raw)
    if name == "categorie":
        return raw.upper()
    if name in PLACE_CODES:
        code = raw.upper()
        if not re.fullmatch(PLACE_CODES[name], code):
            raise ValueError(raw)
        return code
    if name == "lieu_base" and raw not in LOCATION_BASES:
        raise ValueError(raw)
    return raw[:200]


#: The shape of the COG codes the place filters take.
PLACE_CODES = {"lieu_region": r"\d{2}", "lieu_departement": r"\d{2,3}|2[AB]",
               "lieu_commune": r"\d{5}|2[AB]\d{3}", "acheteur_departement": r"\d{2,3}|2[AB]"}
#: The bases of a contract's best known place: URL value → (warehouse value, French label).
LOCATION_BASES = {
    "execution": ("execution_place", "lieu d'exécution"),
    "titulaire": ("holder_establishment", "établissement du titulaire"),
    "acheteur": ("buyer_establishment", "établissement de l'acheteur"),
    "inconnu": ("unknown", "lieu inconnu"),
}
#: warehouse value → French label (pages, feeds).
LOCATION_LABELS = dict(LOCATION_BASES.values())


def _where(f: ContractFilters) -> tuple[str, list[Any]]:
    clauses, params = ["TRUE"], []
    simple = (
        ("c.notification_year = ?", f.annee),
        ("ic.purchase_domain = ?", f.domaine),
        ("c.procedure = ?", f.procedure),
        ("c.amount >= ?", f.montant_min),
        ("c.amount <= ?", f.montant_max),
        ("c.has_social_consideration = ?", f.clause_sociale),
        ("c.has_environmental_consideration = ?", f.clause_environnementale),
        ("c.location_region_code = ?", f.lieu_region),
        ("c.location_departement_code = ?", f.lieu_departement),
        ("c.location_commune_code = ?", f.lieu_commune),
        ("c.location_basis = ?", LOCATION_BASES[f.lieu_base][0] if f.lieu_base else None),
    )
    for clause, value in simple:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if f.cpv:
        clauses.append("starts_with(c.cpv, ?)")
        params.append(f.cpv)
    if f.acheteur and re.fullmatch(r"\d{14}", f.acheteur):
        clauses.append("c.buyer_siret = ?")
        params.append(f.acheteur)
    elif f.acheteur:  # a name: the contracts of every buyer it finds
        named, named_params = by_name.keys_named("buyer", f.acheteur)
        clauses.append(f"c.buyer_siret IN ({named})")
        params += named_params
    text = by_name.text_match(f.texte) if f.texte else None
    if text:  # accents and case ignored (observatoire.search)
        clauses.append(text[0])
        params += text[1]
    if f.acheteur_departement:  # the buyer's place (SIRENE, else published with its contracts)
        clauses.append("c.buyer_siret IN (SELECT buyer_siret FROM buyers "
                       "WHERE departement_code = ?)")
        params.append(f.acheteur_departement)
    if f.categorie:
        clauses.append("list_contains(c.holder_categories, ?)")
        params.append(f.categorie)
    if f.departement:
        clauses.append("list_contains(c.holder_departements, ?)")
        params.append(f.departement)
    holder = []
    if f.titulaire and is_supplier_id(f.titulaire):
        holder.append("(s.siret = ? OR s.siren = ? OR s.supplier_key = ?)")
        params += [f.titulaire, f.titulaire, f.titulaire]
    elif f.titulaire:  # a name: the contracts of every supplier it finds
        named, named_params = by_name.keys_named("supplier", f.titulaire)
        holder.append(f"h.supplier_key IN ({named})")
        params += named_params
    if holder:
        # a semi-join (hash) rather than a correlated EXISTS: one pass over the holders
        clauses.append(
            "c.uid IN (SELECT h.uid FROM contract_holders h JOIN suppliers s USING (supplier_key) "
            f"WHERE h.is_current AND {' AND '.join(holder)})"
        )
    return " AND ".join(clauses), params


def is_supplier_id(value: str) -> bool:
    """A SIRET, a SIREN or a supplier key (``SIRET:…``, ``TVA:…``), not words of a name. A key
    holding a line break (``NOM:`` and a name published on two lines) is read as words."""
    return bool(re.fullmatch(r"\d{9}|\d{14}|[A-Z-]+:.+", value))


_FROM = """FROM contracts c
LEFT JOIN buyers b ON b.buyer_siret = c.buyer_siret
LEFT JOIN indicator_contracts ic ON ic.uid = c.uid"""

LIST_COLUMNS = """c.uid, c.kind, c.notification_date, c.notification_year, c.buyer_siret,
    b.name AS buyer_name, c.object, c.cpv, c.cpv_label, c.procedure, c.amount,
    c.duration_months, c.estimated_end_date, c.holder_count,
    c.has_social_consideration, c.has_environmental_consideration, c.corrected_fields,
    c.location_commune_code, c.location_departement_code, c.location_region_code,
    c.location_basis"""


def _cpv_domains(key: tuple[str, int, int, str], con: duckdb.DuckDBPyConnection
                 ) -> tuple[dict[str, str], Any]:
    """The purchase domain of every CPV code of the contracts, as the indicator facts work it
    out (``domain_match_sql``), and the profile's default domain (a code no prefix covers):
    read once per warehouse file, for the pages' contracts (joining ``indicator_contracts``
    scanned its million uids for 50 rows, and matching the page's codes in SQL at each request
    cost 2 to 5 ms)."""

    def read() -> tuple[dict[str, str], Any]:
        rows = con.execute(f"SELECT cpv, domain_id FROM ("
                           f"{domain_match_sql('SELECT DISTINCT cpv FROM contracts')})").fetchall()
        default = con.execute(f"SELECT {DEFAULT_DOMAIN}").fetchall()[0][0]
        return dict(rows), default

    return _per_warehouse(key, ("cpv domains",), read)


def bounded(page: int, page_size: int) -> tuple[int, int]:
    """A page number and size within the bounds the explorer serves."""
    return max(1, min(page, MAX_PAGE)), max(1, min(page_size, MAX_PAGE_SIZE))


def _joins(sql: str) -> str:
    """The joins an SQL fragment of the explorer needs (buyers ``b``, indicator facts ``ic``)."""
    out = ""
    if "b." in sql:
        out += " LEFT JOIN buyers b ON b.buyer_siret = c.buyer_siret"
    if "ic." in sql:
        out += " LEFT JOIN indicator_contracts ic ON ic.uid = c.uid"
    return out


def _dicts(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def search(
    settings: Settings, filters: ContractFilters, sort: str = "date", page: int = 1,
    page_size: int = 50, facets: bool = False,
) -> dict[str, Any]:
    """One page of contracts, the number of contracts matching and their total amount: the
    matching contracts are found once (filters, words, holders) and give the totals, whatever
    the page (past the last one too), and the page's row ids, in one statement; the page's
    rows are then read by those ids, and their holders' names by their uids. With
    ``facets``, the counts of every facet too (``facet_counts``: what each year, procedure
    and holders' category would give, the other filters kept) and, without place filter, the
    places (``places`` then answers from its cache)."""
    page, page_size = bounded(page, page_size)
    sort = sort if sort in SORTS else "date"
    # first: no warehouse is said as such (WarehouseMissing)
    con, key = _open_keyed(settings)
    try:
        return _search(settings, con, key, filters, sort, page, page_size, facets)
    finally:
        con.close()


def _search(settings: Settings, con: duckdb.DuckDBPyConnection, key: WarehouseKey,
            filters: ContractFilters, sort: str, page: int, page_size: int,
            facets: bool) -> dict[str, Any]:
    """:func:`search` on an open cursor of the warehouse, whose file ``key`` names."""
    # The facets' filters (year, procedure, category) are left out of the scan when their
    # counts are wanted: the scan keeps the contracts of the other filters (``base``), counted
    # by year × procedure × categories (``cube``: a few hundred rows, from which each facet's
    # counts and the totals are summed), and ``m`` is those that pass the facets' filters too.
    # Without any other filter the cube is the warehouse's own (``_cube``), and the scan is
    # that of the facets' filters alone.
    fixed = [n for n in FACETS if getattr(filters, n) is not None] if facets else []
    own_cube = facets and not _only_facets(filters)
    # the cube of the same other filters, counted by an earlier request (another page, sort
    # or choice of facets' values): the scan then applies every filter and counts nothing
    cube_key = (key, replace(filters, **dict.fromkeys(FACETS)))
    known_cube = _FOUND_CUBES.get(cube_key) if own_cube else None
    count_cube = own_cube and known_cube is None
    with_places = (facets and not any(getattr(filters, n) for n in PLACE_FILTERS)
                   and _places_key(key, filters, None) not in _PLACES)
    scope = _scope(key, con)
    columns = ["c.rowid AS rid", "c.uid", "c.amount"]
    if sort in ("date", "date_asc"):
        columns.append("c.notification_date")
    if sort == "acheteur":
        columns.append("b.name AS buyer_name")
    if count_cube:
        columns += ["c.notification_year AS y", "c.procedure AS p",
                    *(f"list_contains(c.holder_categories, '{k}') AS k_{k}"
                      for k in CATEGORIES)]
    if with_places:
        columns += ["c.location_region_code", "c.location_departement_code",
                    "c.location_commune_code", "c.location_basis"]
    where, params = _where(replace(filters, **dict.fromkeys(fixed)) if count_cube
                           else filters)
    where = f"{where} AND {scope}"
    scan = (f"SELECT {', '.join(columns)} FROM contracts c "
            f"{_joins(where + (' b.' if sort == 'acheteur' else ''))} WHERE {where}")
    aggregates: list[str] = []
    if count_cube:
        flags, flag_params = _cube_flags(filters, fixed)
        kinds = ", ".join(f"k_{k}" for k in CATEGORIES)
        if len(fixed) > 1:  # a contract that fails two facets' filters counts in none
            scan = (f"SELECT * FROM ({scan}) WHERE "
                    + " + ".join(f"(NOT COALESCE({f}, FALSE))::INTEGER" for f in flags)
                    + " <= 1")
            params = [*params, *flag_params]
        ctes = (f"base AS {_materialized(filters)} ({scan}), "
                f"m AS (SELECT * FROM base WHERE {' AND '.join(flags) or 'TRUE'}), "
                # grouped by the year as a number, written as text after (faster)
                f"cube AS (SELECT CAST(y AS VARCHAR) AS y, p, {kinds}, n, known, total "
                f"FROM (SELECT y, p, {kinds}, count(*) AS n, count(amount) AS known, "
                "sum(CAST(amount AS DECIMAL(38, 6))) AS total FROM base GROUP BY ALL))")
        params = [*params, *flag_params]
        aggregates.append("(SELECT list(cube) FROM cube) AS _cube")
    else:
        # without facets (a buyer's or a supplier's latest contracts, the CSV twin): kept,
        # for the page and the totals
        ctes = f"m AS {_materialized(filters) if facets else 'MATERIALIZED'} ({scan})"
    if not facets:
        # an exact sum: a float sum depends on the threads' order (not reproducible)
        aggregates.append("(SELECT struct_pack(n := count(*), "
                          "total := sum(CAST(amount AS DECIMAL(38, 6))), "
                          "unknown := count(*) - count(amount)) FROM m) AS _totals")
    if with_places:
        aggregates.append(f"(SELECT list(pl) FROM ({_places_sql('m c', 'NULL')}) pl) "
                          "AS _places")
    # the totals whatever the page (past the last one too), and the row ids of the page
    aggregates.append(f"(SELECT list(rid ORDER BY {PAGE_SORTS[sort]}) FROM page) AS _rids")
    first = _dicts(con.execute(
        f"""WITH {ctes},
            page AS (SELECT * FROM m ORDER BY {PAGE_SORTS[sort]} LIMIT ? OFFSET ?)
            SELECT {', '.join(aggregates)}""",
        [*params, page_size, (page - 1) * page_size],
    ))[0]
    # the page's rows fetched by row id, by a statement of their own: in the statement above
    # DuckDB scanned the contracts' row groups for them (10 ms more at a million contracts)
    rows = _dicts(con.execute(
        # the domain (``_cpv_domains``), in its place among the columns
        f"""SELECT {LIST_COLUMNS}, NULL AS purchase_domain
            FROM contracts c LEFT JOIN buyers b ON b.buyer_siret = c.buyer_siret
            WHERE c.rowid IN (SELECT unnest(?)) ORDER BY {SORTS[sort]}""",
        [first["_rids"]])) if first["_rids"] else []
    found_facets = None
    if facets:
        if count_cube:
            cube = [tuple(c.values()) for c in first["_cube"] or []]
            if len(fixed) <= 1:  # the whole cube of the other filters (see above)
                _keep_cube(cube_key, cube)
        else:
            cube = known_cube if known_cube is not None else _cube(settings, con, key)
        count, total, unknown = _totals_from_cube(cube, filters)
        found_facets = _counts_from_cube(cube, filters)
    else:
        count, total, unknown = (first["_totals"][k] for k in ("n", "total", "unknown"))
    if with_places:
        _keep_places(_places_key(key, filters, None), _places_found(
            key, con, [tuple(p.values()) for p in first["_places"] or []], None))
    if rows:
        domains, default = _cpv_domains(key, con)
        names = _holder_names(con, [r["uid"] for r in rows])
        for r in rows:
            r["purchase_domain"] = domains.get(r["cpv"], default)
            r["holders"] = names.get(r["uid"], [])
    return {
        "contracts": rows,
        "count": int(count),
        "amount_total": float(total) if total is not None else 0.0,
        "amount_unknown": int(unknown),
        "page": page,
        "page_size": page_size,
        "pages": max(1, -(-int(count) // page_size)),
        "facets": found_facets,
    }


#: (warehouse file identity, the filters but the facets') -> their contracts counted as
#: ``_cube`` counts the whole warehouse's: what any page, sort or choice of the facets' values
#: of the same other filters sums its totals and facets' counts from.
_FOUND_CUBES: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}


def _keep_cube(key: tuple[Any, ...], cube: list[tuple[Any, ...]]) -> None:
    # only the warehouse in service is kept, and a few hundred rows each
    if len(_FOUND_CUBES) > 128 or any(k[0] != key[0] for k in _FOUND_CUBES):
        _FOUND_CUBES.clear()
    _FOUND_CUBES[key] = cube


def _materialized(filters: ContractFilters) -> str:
    """Whether the matching contracts are kept for the page, the totals, the facets and the
    places (the words and the holders would cost more to search again), or found again by
    each from a scan of their columns (cheaper than keeping hundreds of thousands of rows:
    CPU at a million contracts, ``montant_min=1000``: 182 against 257 ms; words: 327 against
    273 ms)."""
    return "MATERIALIZED" if filters.texte or filters.titulaire else "NOT MATERIALIZED"


def _cube_flags(filters: ContractFilters, fixed: list[str]) -> tuple[list[str], list[Any]]:
    """The filters of the facets ``fixed`` on ``base``'s columns (see ``search``)."""
    flags: list[str] = []
    params: list[Any] = []
    for name in fixed:
        if name == "annee":
            flags.append("y = ?")
            params.append(filters.annee)
        elif name == "procedure":
            flags.append("p = ?")
            params.append(filters.procedure)
        else:  # a category of CATEGORIES (``_parse``): a column name of the code
            flags.append(f"k_{CATEGORIES[CATEGORIES.index(str(filters.categorie))]}")
    return flags, params


#: The columns of a downloaded selection: those of the explorer's list, in its order.
SELECTION_COLUMNS = [
    "uid", "kind", "notification_date", "buyer_siret", "buyer_name", "object", "cpv",
    "cpv_label", "procedure", "amount", "duration_months", "estimated_end_date", "holder_count",
    "holders", "purchase_domain", "has_social_consideration", "has_environmental_consideration",
    "corrected_fields", "location_commune_code", "location_departement_code",
    "location_region_code", "location_basis",
]
_SELECTION_SQL = {
    "buyer_name": "b.name", "holders": "hold.holders", "purchase_domain": "ic.purchase_domain",
}


def selection_count(settings: Settings, filters: ContractFilters) -> int:
    """The number of contracts of a selection (what its download holds)."""
    return _count(settings, *_where(filters))


def selection(settings: Settings, filters: ContractFilters,
              sort: str = "date") -> Iterator[tuple[Any, ...]]:
    """Every contract of a selection, in the list's order, as rows of ``SELECTION_COLUMNS``."""
    where, params = _where(filters)
    return _rows(settings, where, params, SORTS[sort if sort in SORTS else "date"],
                 SELECTION_COLUMNS)


def _count(settings: Settings, where: str, params: list[Any]) -> int:
    con = open_warehouse(settings)
    try:
        where = f"{where} AND {scope_sql(con)}"
        return int(con.execute(f"SELECT count(*) FROM contracts c {_joins(where)} WHERE {where}",
                               params).fetchall()[0][0])
    finally:
        con.close()


def _rows(settings: Settings, where: str, params: list[Any], order: str,
          names: list[str]) -> Iterator[tuple[Any, ...]]:
    """The contracts matching ``where``, in ``order``, as rows of ``names``: read from the
    database in batches, so that memory stays flat whatever their number. The connection
    closes when the rows are exhausted or the generator is closed."""
    columns = ", ".join(f"{_SELECTION_SQL.get(c, 'c.' + c)} AS {c}" for c in names)
    con = open_warehouse(settings)
    try:
        where = f"{where} AND {scope_sql(con)}"
        cursor = con.execute(
            f"""WITH m AS (SELECT c.uid FROM contracts c {_joins(where)} WHERE {where}),
                hold AS (
                    SELECT h.uid, list(DISTINCT COALESCE(s.name, h.holder_id) ORDER BY
                                       COALESCE(s.name, h.holder_id)) AS holders
                    FROM contract_holders h LEFT JOIN suppliers s USING (supplier_key)
                    WHERE h.is_current AND h.uid IN (SELECT uid FROM m) GROUP BY h.uid)
                SELECT {columns}
                FROM contracts c
                LEFT JOIN buyers b ON b.buyer_siret = c.buyer_siret
                LEFT JOIN indicator_contracts ic ON ic.uid = c.uid
                LEFT JOIN hold ON hold.uid = c.uid
                WHERE c.uid IN (SELECT uid FROM m)
                ORDER BY {order}""", params)
        while batch := cursor.fetchmany(1_000):
            yield from batch
    finally:
        con.close()


#: The explorer's selects that show how many contracts each value would give: the column
#: grouped for a value list, or the values of the holders' categories (``c.holder_categories``).
FACETS = {"annee": "c.notification_year", "procedure": "c.procedure", "categorie": None}
CATEGORIES = ("PME", "ETI", "GE")
def _facet_sql(source: str, names: list[str]) -> str:
    """SQL over ``source`` (contracts as ``c``, filtered): grouped by each facet of ``names`` at
    once (``GROUPING SETS``), the holder categories counted on the whole set (``()``)."""
    columns = [c for c in (FACETS[n] for n in names) if c]
    groupings = ", ".join(f"GROUPING({c}) AS g{i}" for i, c in enumerate(columns))
    categories = ", ".join(
        f"count(*) FILTER (WHERE list_contains(c.holder_categories, '{k}')) AS n_{k}"
        for k in CATEGORIES)
    sets = ", ".join([f"({c})" for c in columns] + ["()"])
    return (f"SELECT {', '.join([*columns, groupings] if columns else ['1 AS one'])}, "
            f"count(*) AS n, {categories} FROM {source} GROUP BY GROUPING SETS ({sets})")


def _read_facets(rows: list[tuple[Any, ...]], names: list[str]) -> dict[str, dict[str, int]]:
    """The counts of the facets ``names`` from the rows of :func:`_facet_sql`."""
    columns = [n for n in names if FACETS[n]]
    counts: dict[str, dict[str, int]] = {name: {} for name in names}
    for row in rows:
        values, grouped = row[:len(columns)], row[len(columns):2 * len(columns)]
        n, by_category = row[-1 - len(CATEGORIES)], row[-len(CATEGORIES):]
        if columns and not all(grouped):  # a row of one facet's values
            i = list(grouped).index(0)
            if values[i] is not None:
                counts[columns[i]][str(values[i])] = int(n)
        elif "categorie" in names:  # the whole set: its holder categories
            counts["categorie"] = {k: int(v) for k, v in zip(CATEGORIES, by_category,
                                                            strict=True) if v}
    return counts


def facet_counts(settings: Settings, filters: ContractFilters,
                 known: dict[str, dict[str, int]] | None = None) -> dict[str, dict[str, int]]:
    """For each facet, the contracts per value with every other filter applied (what choosing
    that value would give). The facets whose filter is not set are counted in one scan of the
    contracts the filters find (or taken from ``known``: ``search(..., facets=True)``); a facet
    whose filter is set gets its own scan, without it."""
    if _only_facets(filters):
        return _counts_from_cube(_cube(settings), filters)
    counts: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    free = [name for name in FACETS if getattr(filters, name) is None]
    scans = [] if known is not None or not free else [(free, filters)]
    if known is not None:
        counts.update(known)
    scans += [([name], replace(filters, **{name: None})) for name in FACETS
              if name not in free and name not in (known or {})]
    if not scans:
        return counts
    con = open_warehouse(settings)
    try:
        scope = scope_sql(con)
        for names, applied in scans:
            where, params = _where(applied)
            source = f"contracts c {_joins(where)} WHERE {where} AND {scope}"
            rows = con.execute(_facet_sql(source, names), params).fetchall()
            counts.update(_read_facets(rows, names))
    finally:
        con.close()
    return counts


def _only_facets(filters: ContractFilters) -> bool:
    """No filter but the facets': their counts come from the cube, with no scan."""
    return all(getattr(filters, f.name) is None for f in fields(filters) if f.name not in FACETS)


#: warehouse file identity -> contracts counted by year, procedure and holder categories
_CUBES: dict[tuple[str, int, int, str], list[tuple[Any, ...]]] = {}
#: warehouse file identity -> its scope clause (``scope_sql``: a query of the warehouse)
_SCOPES: dict[tuple[str, int, int, str], str] = {}


#: a warehouse file (path, inode, modification time) and the profile its pages are read with
WarehouseKey = tuple[str, int, int, str]


def _open_keyed(settings: Settings) -> tuple[duckdb.DuckDBPyConnection, WarehouseKey]:
    """A cursor on the warehouse in service and the key of the very file it reads, for the
    caches of values read through it."""
    con, (inode, mtime_ns) = open_identified(settings)
    return con, (str(settings.warehouse_path), inode, mtime_ns, settings.profile)


def _warehouse_key(settings: Settings) -> tuple[str, int, int, str]:
    """The identity of the warehouse in service (a build replaces the file) and profile."""
    try:
        stat = settings.warehouse_path.stat()
    except FileNotFoundError:  # no warehouse yet: said as everywhere (WarehouseMissing)
        open_warehouse(settings).close()
        raise

    return (str(settings.warehouse_path), stat.st_ino, stat.st_mtime_ns, settings.profile)


def _scope(key: tuple[str, int, int, str], con: duckdb.DuckDBPyConnection) -> str:
    """``scope_sql(con)`` for the contracts ``c``, read once per warehouse file."""
    found = _SCOPES.get(key)
    if found is None:
        found = scope_sql(con)
        _SCOPES.clear()  # only the warehouse in service is kept
        _SCOPES[key] = found
    return found


#: (warehouse file identity, what) -> small values read from it once (names, labels)
_MEMO: dict[tuple[tuple[str, int, int, str], tuple[Any, ...]], Any] = {}


def _per_warehouse(key: tuple[str, int, int, str], what: tuple[Any, ...],
                   read: Callable[[], T]) -> T:
    """``read()``, kept until the warehouse in service changes (the values of the file in
    service only; callers do not change what they get)."""
    if (key, what) not in _MEMO:
        if any(k != key for k, _ in _MEMO):
            _MEMO.clear()
        if len(_MEMO) > 512:  # communes' names per département: bounded all the same
            _MEMO.clear()
        _MEMO[(key, what)] = read()
    return _MEMO[(key, what)]  # type: ignore[no-any-return]


def _cube(settings: Settings, con: duckdb.DuckDBPyConnection | None = None,
          key: WarehouseKey | None = None) -> list[tuple[Any, ...]]:
    """The contracts of the scope counted by (year, procedure, a PME / ETI / GE among the
    holders), with how many have an amount and its exact sum: a few hundred rows, computed
    once per warehouse file and process (the data only changes with a build), from which the
    facets and the totals of any choice of year, procedure and category are summed without a
    scan. On ``con``, a cursor of the file ``key`` names, or on a cursor of its own."""
    if con is None or key is None:
        con, key = _open_keyed(settings)
        try:
            return _cube(settings, con, key)
        finally:
            con.close()
    cached = _CUBES.get(key)
    if cached is not None:
        return cached
    has = ", ".join(f"list_contains(c.holder_categories, '{k}')" for k in CATEGORIES)
    rows = con.execute(
        f"SELECT CAST(c.notification_year AS VARCHAR), c.procedure, {has}, count(*), "
        f"count(c.amount), sum(CAST(c.amount AS DECIMAL(38, 6))) "
        f"FROM contracts c WHERE {_scope(key, con)} GROUP BY ALL").fetchall()
    _CUBES.clear()  # only the warehouse in service is kept
    _CUBES[key] = rows
    return rows


def _cube_rows(cube: list[tuple[Any, ...]], filters: ContractFilters
               ) -> Iterator[tuple[bool, bool, bool, tuple[Any, ...]]]:
    """Each row of a cube (``_cube``'s columns) with whether it passes the year's, the
    procedure's and the category's filter."""
    year = None if filters.annee is None else str(filters.annee)
    category = None if filters.categorie is None else CATEGORIES.index(filters.categorie)
    for row in cube:
        yield (year is None or row[0] == year,
               filters.procedure is None or row[1] == filters.procedure,
               category is None or bool(row[2 + category]), row)


def _counts_from_cube(cube: list[tuple[Any, ...]],
                      filters: ContractFilters) -> dict[str, dict[str, int]]:
    """Each facet's counts with the other facets' filters applied, summed from the cube
    (values in order: the same answer whatever the order of the cube's rows)."""
    counts: dict[str, dict[str, int]] = {name: {} for name in FACETS}
    for year_ok, procedure_ok, category_ok, row in _cube_rows(cube, filters):
        row_year, procedure, has, n = row[0], row[1], row[2:5], int(row[5])
        if procedure_ok and category_ok and row_year is not None:
            counts["annee"][row_year] = counts["annee"].get(row_year, 0) + n
        if year_ok and category_ok and procedure is not None:
            counts["procedure"][procedure] = counts["procedure"].get(procedure, 0) + n
        if year_ok and procedure_ok:
            for k, held in zip(CATEGORIES, has, strict=True):
                if held:
                    counts["categorie"][k] = counts["categorie"].get(k, 0) + n
    return {name: dict(sorted(values.items())) for name, values in counts.items()}


def _totals_from_cube(cube: list[tuple[Any, ...]], filters: ContractFilters
                      ) -> tuple[int, decimal.Decimal | None, int]:
    """The contracts that pass every facet's filter: their number, the exact sum of their
    amounts (None without any amount, as SQL's ``sum``) and how many have no amount."""
    count, known, total = 0, 0, None
    with decimal.localcontext() as exact:
        exact.prec = 80  # the cube's sums are DECIMAL(38, 6): their sum is exact
        for year_ok, procedure_ok, category_ok, row in _cube_rows(cube, filters):
            if year_ok and procedure_ok and category_ok:
                count += int(row[5])
                known += int(row[6])
                if row[7] is not None:
                    total = row[7] if total is None else total + row[7]
    return count, total, count - known


def with_counts(options: dict[str, list[tuple[str, str]]],
                counts: dict[str, dict[str, int]]) -> dict[str, list[tuple[str, str]]]:
    """The selects' options, each label followed by its number of contracts."""
    return {name: [(v, f"{label} ({number(counts[name].get(v, 0))})") for v, label in values]
            if name in counts else values for name, values in options.items()}


#: The place filters, left out of the counts of places (what choosing each would give).
PLACE_FILTERS = ("lieu_region", "lieu_departement", "lieu_commune", "lieu_base")
#: (warehouse file identity, filters) -> places of that selection: their counts are the same
#: until the next build, and the explorer asks for the same few selections again and again.
_PLACES: dict[tuple[Any, ...], dict[str, Any]] = {}


def _places_key(warehouse: WarehouseKey, filters: ContractFilters,
                ending: tuple[date, int] | None) -> tuple[Any, ...]:
    free = replace(filters, **dict.fromkeys(PLACE_FILTERS))
    return (*warehouse, free, filters.lieu_departement, ending)


def _places_sql(source: str, chosen: str) -> str:
    """SQL over ``source`` (contracts as ``c``, filtered): the contracts per région,
    département, basis of their place, and commune of the département ``chosen`` (an SQL
    expression: a parameter, or NULL)."""
    sets = ["(c.location_region_code)", "(c.location_departement_code)", "(c.location_basis)",
            "(c.location_departement_code, c.location_commune_code)"]
    return f"""SELECT GROUPING(c.location_region_code) AS g_region,
                    GROUPING(c.location_departement_code) AS g_departement,
                    GROUPING(c.location_commune_code) AS g_commune,
                    c.location_region_code, c.location_departement_code,
                    c.location_commune_code, c.location_basis, count(*) AS n
                FROM {source}
                GROUP BY GROUPING SETS ({", ".join(sets)})
                -- communes: those of the chosen département only
                HAVING GROUPING(c.location_commune_code) = 1
                    OR c.location_departement_code IS NOT DISTINCT FROM {chosen}"""


def _places_found(key: tuple[str, int, int, str], con: duckdb.DuckDBPyConnection,
                  rows: list[tuple[Any, ...]], departement: str | None) -> dict[str, Any]:
    """:func:`places`'s answer from the rows of :func:`_places_sql`, with the COG's names."""

    def read() -> dict[str, dict[str, str]]:
        return {
            "lieu_region": dict(con.execute(
                "SELECT region_code, min(region_name) FROM ref_regions GROUP BY 1").fetchall()),
            "lieu_departement": dict(con.execute(
                "SELECT departement_code, min(departement_name) FROM ref_departements "
                "GROUP BY 1").fetchall()),
            "lieu_commune": dict(con.execute(
                "SELECT commune_code, min(commune_name) FROM ref_communes "
                "WHERE departement_code = ? GROUP BY 1", [departement]).fetchall()),
        }

    names = _per_warehouse(key, ("place names", departement), read)
    counts: dict[str, dict[str, int]] = {name: {} for name in PLACE_FILTERS}
    bases = {warehouse: url for url, (warehouse, _) in LOCATION_BASES.items()}
    for g_region, g_departement, g_commune, region, departement_code, commune, basis, n in rows:
        if not g_commune:
            if commune is not None:
                counts["lieu_commune"][commune] = int(n)
        elif not g_region:
            if region is not None:
                counts["lieu_region"][region] = int(n)
        elif not g_departement:
            if departement_code is not None:
                counts["lieu_departement"][departement_code] = int(n)
        elif basis is not None:
            counts["lieu_base"][bases[basis]] = int(n)
    total = sum(counts["lieu_base"].values())
    return {
        "counts": counts, "total": total,
        "located": total - counts["lieu_base"].get("inconnu", 0),
        "names": names,
    }


def _keep_places(key: tuple[Any, ...], found: dict[str, Any]) -> None:
    if len(_PLACES) > 256:
        _PLACES.clear()
    _PLACES[key] = found


def places(settings: Settings, filters: ContractFilters,
           ending: tuple[date, int] | None = None) -> dict[str, Any]:
    """Where the contracts of a selection are, by their best known place: the counts per
    région, département and basis of that place (« lieu_base », which is the coverage), and
    per commune of the chosen département; counted with every filter but the place filters
    (what choosing each value would give). ``ending`` (today, months): only the contracts
    ending in those months (the opportunities). Names from the COG. A selection without place
    filter was counted by ``search(..., facets=True)`` already, with its page."""
    con, warehouse = _open_keyed(settings)
    try:
        key = _places_key(warehouse, filters, ending)
        if key in _PLACES:
            return _PLACES[key]
        free = key[4]
        where, params = _upcoming_where(*ending, free) if ending else _where(free)
        where = f"{where} AND {scope_sql(con)}"
        rows = con.execute(
            _places_sql(f"contracts c {_joins(where)} WHERE {where}", "?"),
            [*params, filters.lieu_departement]).fetchall()
        found = _places_found(warehouse, con, rows, filters.lieu_departement)
    finally:
        con.close()
    _keep_places(key, found)
    return found


def place_options(found: dict[str, Any],
                  filters: ContractFilters) -> dict[str, list[tuple[str, str]]]:
    """The place selects' options: the values the selection has (and the chosen one), each
    labelled with its name and its number of contracts."""
    options = {}
    for name in ("lieu_region", "lieu_departement", "lieu_commune"):
        counts, names = found["counts"][name], found["names"][name]
        codes = set(counts) | ({getattr(filters, name)} if getattr(filters, name) else set())
        options[name] = [
            (code, f"{code} {names.get(code) or ''} ({number(counts.get(code, 0))})".replace(
                "  ", " "))
            for code in sorted(codes, key=lambda c: (names.get(c) is None, c))]
    options["lieu_base"] = [(url, f"{label} ({number(found['counts']['lieu_base'].get(url, 0))})")
                            for url, (_, label) in LOCATION_BASES.items()]
    return options


def buyer_departements(settings: Settings) -> list[tuple[str, str]]:
    """The départements the buyers are placed in, with their names (the buyers' select); read
    once per warehouse file."""
    key = _warehouse_key(settings)

    def read() -> list[tuple[str, str]]:
        con = open_warehouse(settings)
        try:
            rows = con.execute(
                f"""SELECT b.departement_code, min(d.departement_name), count(*) FROM buyers b
                    LEFT JOIN ref_departements d ON d.departement_code = b.departement_code
                    WHERE b.departement_code IS NOT NULL
                      AND {scope_sql(con, 'b.buyer_siret')}
                    GROUP BY 1 ORDER BY 1""").fetchall()
        finally:
            con.close()
        return [(code, f"{code} {name or ''} ({number(n)} acheteur{'s' if n > 1 else ''})")
                for code, name, n in rows]

    return list(_per_warehouse(key, ("buyer departements",), read))


def choices(settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """Values offered by the explorer's selects: years, procedures, purchase domains (years
    and procedures from the cube of the facets: no scan of the contracts)."""
    cube = _cube(settings)
    years = sorted({r[0] for r in cube if r[0] is not None}, key=int, reverse=True)
    procedures = sorted({r[1] for r in cube if r[1] is not None})

    def read() -> list[tuple[str, str]]:
        con = open_warehouse(settings)
        try:
            return con.execute("SELECT domain_id, min(label) FROM profile_purchase_domains "
                               "GROUP BY 1 ORDER BY 2").fetchall()
        finally:
            con.close()

    domains = _per_warehouse(_warehouse_key(settings), ("domains",), read)
    return {
        "annee": [(y, y) for y in years],
        "procedure": [(p, p) for p in procedures],
        "domaine": [(d, label) for d, label in domains],
        "categorie": [("PME", "PME"), ("ETI", "ETI"), ("GE", "Grande entreprise")],
    }


def buyers(settings: Settings, text: str | None = None, page: int = 1,
           page_size: int = 50, sort: str | None = None) -> dict[str, Any]:
    """Buyers, largest first; ``text`` searches their names (accents and case ignored) and the
    start of their SIRET (``observatoire.search``)."""
    return by_name.find(settings, "buyer", text, sort, page, page_size)


def suppliers(settings: Settings, text: str | None = None, page: int = 1,
              page_size: int = 50, sort: str | None = None) -> dict[str, Any]:
    """Suppliers, most contracts first; ``text`` searches their names and identifiers."""
    return by_name.find(settings, "supplier", text, sort, page, page_size)


def upcoming(
    settings: Settings, today: date, months: int = 12,
    filters: ContractFilters | None = None, page: int = 1, page_size: int = 50,
) -> dict[str, Any]:
    """Contracts whose estimated end (notification + duration after modifications) falls in the
    coming months, among those the explorer's ``filters`` select: what companies can prepare
    to bid for again. Each with its current holders (a person SIRENE does not let us name is
    shown by its identifier, as everywhere on the site)."""
    months = max(1, min(months, 60))
    page, page_size = bounded(page, page_size)
    where, params = _upcoming_where(today, months, filters or ContractFilters())
    con = open_warehouse(settings)
    try:
        where = f"{where} AND {scope_sql(con)}"
        count, total = con.execute(
            f"SELECT count(*), sum(CAST(c.amount AS DECIMAL(38, 6))) {_FROM} WHERE {where}",
            params).fetchall()[0]
        rows = _dicts(con.execute(
            f"""SELECT {LIST_COLUMNS}, ic.purchase_domain, c.place_departement_code,
                    c.is_framework_agreement
                {_FROM} WHERE {where}
                ORDER BY {UPCOMING_ORDER} LIMIT ? OFFSET ?""",
            [*params, page_size, (page - 1) * page_size]))
        names = _holder_names(con, [r["uid"] for r in rows])
        for r in rows:
            r["holders"] = names.get(r["uid"], [])
    finally:
        con.close()
    return {"contracts": rows, "count": int(count), "amount_total": float(total or 0),
            "page": page, "pages": max(1, -(-int(count) // page_size)), "months": months,
            "until": _add_months(today, months)}


def _holder_names(con: duckdb.DuckDBPyConnection, uids: list[str]) -> dict[str, list[str]]:
    """The current holders of ``uids``, by name (by identifier when not diffusible).

    The rows of a page's uids are found by the index on ``contract_holders.uid``
    (``observatoire.lookups``: 8 against 34 ms at a million contracts): DuckDB uses it for
    the uids as a list of values, alone in their scan's filter (the holder rows are kept
    first, then filtered on ``is_current``)."""
    if not uids:
        return {}
    return dict(con.execute(
        f"""WITH h AS MATERIALIZED (
               SELECT uid, supplier_key, holder_id, is_current FROM contract_holders
               WHERE uid IN ({', '.join('?' for _ in uids)}))
           SELECT h.uid, list(DISTINCT COALESCE(s.name, h.holder_id) ORDER BY
               COALESCE(s.name, h.holder_id))
           FROM h LEFT JOIN suppliers s USING (supplier_key)
           WHERE h.is_current GROUP BY h.uid""",
        uids).fetchall())


def _upcoming_where(today: date, months: int,
                    filters: ContractFilters) -> tuple[str, list[Any]]:
    where, params = _where(filters)
    return (f"c.estimated_end_date >= ? AND c.estimated_end_date < ? AND {where}",
            [today, _add_months(today, max(1, min(months, 60))), *params])


#: The columns of a downloaded list of coming ends: a selection's (with the place).
UPCOMING_COLUMNS = [*SELECTION_COLUMNS, "place_departement_code"]
UPCOMING_ORDER = "c.estimated_end_date, c.uid"


def upcoming_count(settings: Settings, today: date, months: int = 12,
                   filters: ContractFilters | None = None) -> int:
    """The number of contracts ending in the coming months (what their download holds)."""
    return _count(settings, *_upcoming_where(today, months, filters or ContractFilters()))


def upcoming_rows(settings: Settings, today: date, months: int = 12,
                  filters: ContractFilters | None = None) -> Iterator[tuple[Any, ...]]:
    """Every contract ending in the coming months, soonest first, as ``UPCOMING_COLUMNS``."""
    where, params = _upcoming_where(today, months, filters or ContractFilters())
    return _rows(settings, where, params, UPCOMING_ORDER, UPCOMING_COLUMNS)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
