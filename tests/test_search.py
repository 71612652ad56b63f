"""Finding buyers, suppliers and contracts by name and words, through a real HTTP server on the
demo warehouse.

Expected results are computed here in plain Python (``unicodedata`` to drop accents) over the
names and objects as published, never by the SQL under test.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from observatoire import explorer, formatting, search
from observatoire.model.search import normalised
from tests.conftest import DEMO, FIXTURES, Warehouse, live_server, make_warehouse


def fold(text: str | None) -> str:
    """Lower case, accents dropped, œ/æ spelled out: what a reader expects to be ignored."""
    text = (text or "").replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def name_has(name: str | None, word: str) -> bool:
    """The published rule, written again: the folded word is in the folded name; in a name with
    garbled characters (U+FFFD) any letter French may accent may stand for one."""
    folded = fold(name)
    if word in folded:
        return True
    if not re.search("\ufffd|a[©¨ª«¢§´®¯¹¼»‰]|a€", folded):
        return False
    # U+FFFD, or double-encoded UTF-8 ("Ã©" folds to "a©")
    pattern = "".join(f"(?:{c}|\ufffd|a[^a-z0-9 ])" if c in "aeiouycn" else re.escape(c)
                      for c in word)
    return re.search(pattern, folded) is not None


def get(base: str, path: str, **params: Any) -> tuple[int, str]:
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (our server)
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def get_json(base: str, path: str, **params: Any) -> Any:
    status, body = get(base, path, **params)
    assert status == 200, (path, params, body[:300])
    return json.loads(body)


@pytest.fixture(scope="module")
def site(demo_warehouse: Warehouse) -> Iterator[str]:
    os.environ["OBSERVATOIRE_HOME"] = str(demo_warehouse.settings.home)
    with live_server() as url:
        yield url


def _all_contracts(site: str, **params: Any) -> tuple[int, set[str]]:
    """Every contract the API finds (all its pages)."""
    uids: set[str] = set()
    page, total = 1, 0
    while True:
        data = get_json(site, "/api/v1/marches", taille=200, page=page, **params)
        total = data["total"]
        uids |= {m["uid"] for m in data["elements"]}
        if page >= data["pages"]:
            return total, uids
        page += 1


# --- buyers and suppliers by name ------------------------------------------------------------


def test_buyers_found_by_name_whatever_the_accents_and_case(
    site: str, demo_warehouse: Warehouse
) -> None:
    answers = [get_json(site, "/acheteurs.json", q=q) for q in ("ecole", "École", "ÉCOLE")]
    found = [{b["buyer_siret"] for b in a["elements"]} for a in answers]
    expected = {siret for siret, name in demo_warehouse.rows(
        "SELECT buyer_siret, published_name FROM buyers") if name_has(name, "ecole")}
    assert found[0] == found[1] == found[2] == expected
    assert answers[0]["total"] == len(expected)
    # a named real buyer, spelled without its capital and plural
    assert "26750034600015" in expected  # Caisse des Ecoles quatorze Ardt de Paris
    # and a name published garbled ("Universit� de Strasbourg") by its right spelling
    strasbourg = get_json(site, "/acheteurs.json", q="université strasbourg")["elements"]
    assert [b["buyer_siret"] for b in strasbourg] == ["13000545700010"]


def test_every_word_counts_and_word_order_does_not(site: str, demo_warehouse: Warehouse) -> None:
    names = demo_warehouse.rows("SELECT supplier_key, published_name FROM suppliers")
    expected = {k for k, n in names if name_has(n, "eiffage") and name_has(n, "energie")}
    assert expected
    for q in ("eiffage énergie", "ENERGIE Eiffage"):
        found = get_json(site, "/titulaires.json", q=q)["elements"]
        assert {s["supplier_key"] for s in found} == expected


def test_identifier_prefix_finds_suppliers(site: str, demo_warehouse: Warehouse) -> None:
    found = get_json(site, "/api/v1/titulaires", q="329 168 157", taille=200)
    expected = demo_warehouse.value(
        "SELECT count(*) FROM suppliers WHERE starts_with(siret, '329168157')")
    assert found["total"] == expected > 0
    assert all(s["siret"].startswith("329168157") for s in found["elements"])


def test_list_pages_read_without_javascript(site: str) -> None:
    status, page = get(site, "/titulaires/", q="eiffage")
    assert status == 200
    assert '<form class="filters name-search" method="get" action="/titulaires/"' in page
    assert 'href="/titulaires/32900955900108/"' in page  # EIFFAGE ENERGIE SYSTEMES - CENTRE LOIRE
    assert 'data-suggestions="titulaire"' in page and "/static/recherche.js" in page
    status, page = get(site, "/acheteurs/", q="<script>alert(1)</script>")
    assert status == 200
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Aucun acheteur ne correspond" in page


def test_lists_sort_by_column_and_have_twins(site: str, demo_warehouse: Warehouse) -> None:
    by_name = get_json(site, "/acheteurs.json", tri="nom")["elements"]
    first = sorted(n for (n,) in demo_warehouse.rows(
        "SELECT name FROM buyers WHERE name IS NOT NULL"))[:200]  # a twin: 200 rows a page
    assert [b["name"] for b in by_name] == first
    smallest = get_json(site, "/acheteurs.json", tri="montant_asc")["elements"]
    amounts = [b["amount_total"] for b in smallest]
    assert amounts == sorted(amounts) and amounts[0] == demo_warehouse.value(
        "SELECT min(amount_total) FROM buyers")
    _, page = get(site, "/acheteurs/", tri="nom")
    assert re.search(r'<th scope="col" aria-sort="ascending"><a class="tri" href="\?tri=nom_desc">'
                     r"Acheteur", page)
    _, csv_text = get(site, "/acheteurs.csv", tri="nom")
    lines = csv_text.splitlines()
    assert lines[0].startswith("buyer_siret,name,published_name")
    assert [line.split(",")[0] for line in lines[1:]] == [b["buyer_siret"] for b in by_name]


def test_explorer_columns_sort_through_links(site: str) -> None:
    status, page = get(site, "/marches/", annee="2019", tri="montant")
    assert status == 200
    assert 'aria-sort="descending"><a class="tri" href="?annee=2019&amp;tri=montant_asc">' in page
    assert 'href="?annee=2019&amp;tri=date"' in page


# --- free text over contracts ---------------------------------------------------------------


def _contract_texts(wh: Warehouse) -> dict[str, list[str]]:
    """Per contract: its object, buyer's names, current holders' names and CPV label."""
    texts: dict[str, list[str]] = {}
    for uid, obj, cpv_label, buyer, buyer_published in wh.rows(
            """SELECT c.uid, c.object, c.cpv_label, b.name, b.published_name
               FROM contracts c LEFT JOIN buyers b USING (buyer_siret)"""):
        texts[uid] = [obj or "", cpv_label or "", buyer or "", buyer_published or ""]
    for uid, name, published in wh.rows(
            """SELECT h.uid, s.name, s.published_name FROM contract_holders h
               JOIN suppliers s USING (supplier_key) WHERE h.is_current"""):
        texts[uid] += [name or "", published or ""]
    return texts


def test_free_text_ignores_accents_and_case(site: str, demo_warehouse: Warehouse) -> None:
    texts = _contract_texts(demo_warehouse)
    expected = {uid for uid, parts in texts.items() if any("ecole" in fold(p) for p in parts)}
    answers = [_all_contracts(site, texte=q) for q in ("ecole", "école", "ÉCOLE")]
    assert answers[0] == answers[1] == answers[2] == (len(expected), expected)
    # the page shows the same count
    _, page = get(site, "/marches/", texte="école")
    assert f"<strong>{formatting.number(len(expected))} marché(s)</strong>" in page


def test_free_text_searches_buyer_holders_and_cpv_label(
    site: str, demo_warehouse: Warehouse
) -> None:
    texts = _contract_texts(demo_warehouse)
    # a word found only in the holders' names of some contracts, not in their object
    only_holder = {uid for uid, parts in texts.items()
                   if "eiffage" in " ".join(fold(p) for p in parts[4:])
                   and "eiffage" not in fold(parts[0])}
    assert only_holder
    _, found = _all_contracts(site, texte="Eiffage")
    assert only_holder <= found
    # a word of the CPV label only: "ferroviaires" (works on railways)
    only_cpv = {uid for uid, parts in texts.items()
                if "ferroviaire" in fold(parts[1]) and "ferroviaire" not in fold(parts[0])}
    assert only_cpv
    _, found = _all_contracts(site, texte="ferroviaire")
    assert only_cpv <= found
    # several words: all of them, anywhere in the contract
    both = {uid for uid, parts in texts.items()
            if all(any(w in fold(p) for p in parts) for w in ("lyon", "eclairage"))}
    assert _all_contracts(site, texte="Lyon éclairage") == (len(both), both)


def test_explorer_filters_on_buyer_and_supplier_names(
    site: str, demo_warehouse: Warehouse
) -> None:
    rows = demo_warehouse.rows(
        "SELECT c.uid, b.published_name FROM contracts c JOIN buyers b USING (buyer_siret)")
    expected = {uid for uid, name in rows
                if all(name_has(name, w) for w in ("caisse", "des", "ecoles"))}
    assert len(expected) > 10
    assert _all_contracts(site, acheteur="caisse des écoles") == (len(expected), expected)
    holders = demo_warehouse.rows(
        """SELECT h.uid, s.published_name FROM contract_holders h
           JOIN suppliers s USING (supplier_key) WHERE h.is_current""")
    expected = {uid for uid, name in holders if name_has(name, "colas")}
    assert expected
    assert _all_contracts(site, titulaire="Colas") == (len(expected), expected)
    # a SIRET still filters by identity
    total, _ = _all_contracts(site, acheteur="23350001600040")
    assert total == demo_warehouse.value(
        "SELECT count(*) FROM contracts WHERE buyer_siret = '23350001600040'")


# --- suggestions as one types ----------------------------------------------------------------


def test_suggestions_best_first(site: str, demo_warehouse: Warehouse) -> None:
    data = get_json(site, "/api/v1/suggestions", type="titulaire", q="Eiff")
    candidates = [(k, n, c) for k, n, c in demo_warehouse.rows(
        "SELECT supplier_key, published_name, contract_count FROM suppliers")
        if name_has(n, "eiff")]
    best = sorted(candidates, key=lambda r: (not fold(r[1]).startswith("eiff"),
                                             " eiff" not in " " + fold(r[1]), -r[2], r[0]))[:8]
    assert [s["identifiant"] for s in data["suggestions"]] == [
        k.split(":", 1)[1] for k, _, _ in best]
    assert data["suggestions"][0]["url"] == f"/titulaires/{best[0][0].split(':', 1)[1]}/"
    assert get_json(site, "/api/v1/suggestions", type="acheteur", q="a")["suggestions"] == []
    status, body = get(site, "/api/v1/suggestions", type="personne", q="x")
    assert status == 400 and "Type inconnu" in json.loads(body)["erreur"]


def test_openapi_describes_the_search(site: str) -> None:
    paths = get_json(site, "/api/openapi.json")["paths"]
    assert {p["name"] for p in paths["/api/v1/suggestions"]["get"]["parameters"]} == {
        "type", "q", "nombre"}
    assert "tri" in {p["name"] for p in paths["/api/v1/acheteurs"]["get"]["parameters"]}


# --- official names and persons SIRENE does not let us name ----------------------------------

MASKED_SIRET = "06120058000027"  # published as "MARTIN RONDEAU" in the AIFE file


@pytest.fixture(scope="module")
def sirene_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Warehouse]]:
    """The demo files plus a SIRENE legal-unit file with names and diffusion statuses."""
    wh = make_warehouse(tmp_path_factory.mktemp("sirene-home"), DEMO / "decp", DEMO / "ref",
                        FIXTURES / "sirene" / "unites_legales_extrait.csv")
    try:
        with live_server() as url:
            yield url, wh
    finally:
        wh.con.close()


@pytest.fixture
def sirene_site(sirene_server: tuple[str, Warehouse]) -> Iterator[tuple[str, Warehouse]]:
    """That server, reading its data home for the time of a test (the pages read the data home
    from the environment at each request)."""
    kept = os.environ.get("OBSERVATOIRE_HOME")
    os.environ["OBSERVATOIRE_HOME"] = str(sirene_server[1].settings.home)
    try:
        yield sirene_server
    finally:
        if kept is not None:
            os.environ["OBSERVATOIRE_HOME"] = kept


def test_garbled_names_shown_with_the_official_name(
    sirene_site: tuple[str, Warehouse]
) -> None:
    site, _ = sirene_site
    found = get_json(site, "/acheteurs.json", q="université strasbourg")["elements"]
    assert [(b["name"], b["published_name"], b["name_source"]) for b in found] == [
        ("Université de Strasbourg", "Universit\ufffd de Strasbourg", "sirene")]
    _, page = get(site, "/acheteurs/13000545700010/")
    assert "<h1>Université de Strasbourg</h1>" in page
    assert "nom publié : « Universit\ufffd de Strasbourg »" in page
    # the contracts list shows it too
    contracts = get_json(site, "/marches.json", acheteur="13000545700010")["elements"]
    assert {c["buyer_name"] for c in contracts} == {"Université de Strasbourg"}
    # a buyer with no official name keeps its published name
    other = get_json(site, "/acheteurs.json", q="Montpellier université")["elements"]
    assert other[0]["name"] == "Universit\ufffd de Montpellier"


def test_persons_not_diffusible_are_never_found_nor_shown_by_name(
    sirene_site: tuple[str, Warehouse], demo_warehouse: Warehouse
) -> None:
    # without the SIRENE status (the demo), the name finds the holder: the test can fail
    assert MASKED_SIRET in {s["siret"] for s in search.find(
        demo_warehouse.settings, "supplier", "rondeau")["rows"]}
    masked_site, wh = sirene_site
    assert MASKED_SIRET not in {s["siret"] for s in get_json(
        masked_site, "/titulaires.json", q="rondeau")["elements"]}
    assert all(s["identifiant"] != MASKED_SIRET for s in get_json(
        masked_site, "/api/v1/suggestions", type="titulaire", q="martin rondeau")["suggestions"])
    uids = {u for (u,) in wh.rows(
        "SELECT uid FROM contract_holders WHERE supplier_key = ?", [f"SIRET:{MASKED_SIRET}"])}
    assert uids
    assert not uids & _all_contracts(masked_site, texte="rondeau")[1]
    # found by its identifier, without a name
    by_id = get_json(masked_site, "/titulaires.json", q=MASKED_SIRET)["elements"]
    assert [(s["name"], s["published_name"], s["name_source"]) for s in by_id] == [
        (None, None, "non_diffusible")]
    pages = [get(masked_site, f"/titulaires/{MASKED_SIRET}/")[1],
             get(masked_site, "/titulaires/", q=MASKED_SIRET)[1],
             get(masked_site, "/marches.json", titulaire=MASKED_SIRET)[1]]
    pages += [get(masked_site, f"/marches/{urllib.parse.quote(u, safe='')}/")[1] for u in uids]
    for body in pages:
        assert "RONDEAU" not in body.upper()
    assert "nom non diffusible" in pages[1] and "nom non diffusible" in pages[3]
    # nor in the warehouse's tables, which analysts read
    for table in ("suppliers", "contract_holders", "source_record_holders", "search_names",
                  "contract_search"):
        columns = [c for (c,) in wh.rows(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
            "AND data_type = 'VARCHAR'", [table])]
        hits = wh.value(f"SELECT count(*) FROM {table} WHERE "
                        + " OR ".join(f'upper("{c}") LIKE \'%RONDEAU%\'' for c in columns))
        assert hits == 0, table


def test_sirene_file_without_names_changes_nothing(demo_warehouse: Warehouse) -> None:
    """The demo's SIRENE extracts have no name column: no name is replaced."""
    assert demo_warehouse.value(
        "SELECT count(*) FROM buyers WHERE name_source = 'sirene' OR official_name IS NOT NULL"
    ) == 0
    assert demo_warehouse.value(
        "SELECT count(*) FROM buyers WHERE name LIKE '%\ufffd%'") == 71



def test_filter_values_show_how_many_contracts_they_give(
    site: str, demo_warehouse: Warehouse
) -> None:
    """Each year, procedure and holder category is followed by the contracts that choosing it
    would give, the other filters kept."""
    categories: dict[str, set[str]] = {}
    for uid, category in demo_warehouse.rows(
            """SELECT h.uid, s.category FROM contract_holders h
               JOIN suppliers s USING (supplier_key) WHERE h.is_current"""):
        if category:
            categories.setdefault(uid, set()).add(category)
    contracts = demo_warehouse.rows("SELECT uid, notification_year, procedure FROM contracts")
    data = get_json(site, "/marches.json", annee="2019", categorie="PME")
    counts = data["effectifs"]
    pme_by_year: dict[str, int] = {}
    by_category: dict[str, int] = {}
    for uid, year, _procedure in contracts:
        if year is not None and "PME" in categories.get(uid, ()):
            pme_by_year[str(year)] = pme_by_year.get(str(year), 0) + 1
        if year == 2019:
            for category in categories.get(uid, ()):
                by_category[category] = by_category.get(category, 0) + 1
    assert counts["annee"] == pme_by_year
    assert counts["categorie"] == by_category
    assert counts["categorie"]["PME"] == counts["annee"]["2019"] == data["total"]
    _, page = get(site, "/marches/", annee="2019", categorie="PME")
    assert (f'<option value="2018">2018 ({formatting.number(pme_by_year["2018"])})</option>'
            in page)


def test_every_contract_has_one_text(demo_warehouse: Warehouse) -> None:
    assert demo_warehouse.rows(
        """SELECT count(*), count(DISTINCT s.uid) FROM contract_search s
           JOIN contracts c USING (uid)""") == [
        (demo_warehouse.value("SELECT count(*) FROM contracts"),) * 2]

#: Queries of every kind the free text meets: accents and case, apostrophes (straight and
#: typographic), several words, a word of a CPV label only, holders' and buyers' names, digits,
#: one letter, a ligature, a garbled character.
FREE_TEXT_QUERIES = [
    "ecole", "école", "ÉCOLE", "l'école", "travaux", "Lyon éclairage", "eiffage",
    "Eiffage construction", "ferroviaire", "caisse des écoles", "Université", "d'", "œuvre",
    "maîtrise d’œuvre", "maitrise d'oeuvre", "SNCF", "colas", "x", "e", "de", "2019", "35",
    "bâtiment électricité", "hopital", "Saint-Étienne", "qu'il", "nettoyage locaux",
    "restauration scolaire", "génie climatique", "travaux de voirie rennes",
    "Universit\ufffd de Strasbourg",
]


def test_free_text_finds_the_contracts_one_text_per_contract_found(
    demo_warehouse: Warehouse,
) -> None:
    """The free text matches each part in its own table; it finds exactly the contracts that
    the former definition found: every word in one text per contract made of the normalised
    object, buyer's name, current holders' names and CPV label, parts joined by spaces and
    ``|`` (composed here in SQL as the build composed it before)."""
    norm = normalised
    # a connection of its own: its temporary table is not seen by the other tests
    con = duckdb.connect(str(demo_warehouse.settings.warehouse_path), read_only=True)
    con.execute(f"""
        CREATE TEMP TABLE one_text AS
        WITH holders AS (
            SELECT h.uid, string_agg(n.search_key, ' ' ORDER BY n.search_key) AS names
            FROM contract_holders h
            JOIN search_names n ON n.kind = 'supplier' AND n.key = h.supplier_key
            WHERE h.is_current AND n.search_key <> '' GROUP BY h.uid),
        cpv AS (SELECT DISTINCT cpv, {norm('cpv_label')} AS label FROM contracts
                WHERE cpv_label IS NOT NULL)
        SELECT c.uid, concat_ws(' | ', {norm('c.object')}, b.search_key, holders.names,
                                cpv.label) AS text
        FROM contracts c
        LEFT JOIN search_names b ON b.kind = 'buyer' AND b.key = c.buyer_siret
        LEFT JOIN holders ON holders.uid = c.uid
        LEFT JOIN cpv ON cpv.cpv = c.cpv""")
    sizes = []
    for query in FREE_TEXT_QUERIES:
        found = search.words(query)
        assert found, query
        # each word normalised here by the stored keys' SQL, in the query
        word = f"(SELECT {norm('q')} FROM (SELECT CAST(? AS VARCHAR) AS q))"
        every_word = " AND ".join(f"contains(t.text, {word})" for _ in found)
        expected = {u for (u,) in con.execute(
            f"SELECT uid FROM one_text t WHERE {every_word}", found).fetchall()}
        clause, params = search.text_match(query)  # type: ignore[misc]
        got = {u for (u,) in con.execute(
            f"SELECT c.uid FROM contracts c WHERE {clause}", params).fetchall()}
        assert got == expected, query
        sizes.append(len(expected))
    con.close()
    # the list finds nothing, a few and nearly every contract
    assert min(sizes) == 0 and max(sizes) > 10_000 and any(0 < n < 10 for n in sizes)


def test_a_query_word_normalised_never_holds_a_space_nor_a_bar() -> None:
    """What the free text relies on to match each part on its own: no word of a query (every
    Unicode character a word may hold) is normalised into a space or a ``|``, so no word can
    straddle two parts of a contract's text."""
    characters = [chr(c) for c in range(0x110000)
                  if not 0xD800 <= c <= 0xDFFF and search.words(chr(c)) == [chr(c)]]
    assert len(characters) > 100_000
    con = duckdb.connect()
    bad = con.execute(
        f"""SELECT list(c) FROM (SELECT unnest(?) AS c)
            WHERE contains({normalised('c')}, ' ') OR contains({normalised('c')}, '|')""",
        [characters]).fetchall()[0][0]
    assert not bad


def test_filter_values_count_within_a_free_text_too(
    site: str, demo_warehouse: Warehouse
) -> None:
    """With a filter that is not a facet (words), the counts are those of the contracts the
    words find, per year and per procedure."""
    texts = _contract_texts(demo_warehouse)
    matching = {uid for uid, parts in texts.items() if any("ecole" in fold(p) for p in parts)}
    by_year: dict[str, int] = {}
    by_procedure: dict[str, int] = {}
    for uid, year, procedure in demo_warehouse.rows(
            "SELECT uid, notification_year, procedure FROM contracts"):
        if uid in matching and year is not None:
            by_year[str(year)] = by_year.get(str(year), 0) + 1
        if uid in matching and procedure is not None:
            by_procedure[procedure] = by_procedure.get(procedure, 0) + 1
    counts = get_json(site, "/marches.json", texte="école")["effectifs"]
    assert counts["annee"] == by_year and counts["procedure"] == by_procedure
    # and a year chosen besides: the years still count without it
    assert get_json(site, "/marches.json", texte="école", annee="2019")["effectifs"][
        "annee"] == by_year


def test_places_of_a_free_text_are_those_of_its_contracts(
    site: str, demo_warehouse: Warehouse
) -> None:
    """The places of a free text's contracts (counted with its page, the text searched once)
    per région, département and basis of their best known place, as counted here."""
    texts = _contract_texts(demo_warehouse)
    matching = {uid for uid, parts in texts.items() if any("ecole" in fold(p) for p in parts)}
    bases = {warehouse: url for url, (warehouse, _) in explorer.LOCATION_BASES.items()}
    expected: dict[str, dict[str, int]] = {"lieu_region": {}, "lieu_departement": {},
                                           "lieu_base": {}}
    for uid, region, departement, basis in demo_warehouse.rows(
            """SELECT uid, location_region_code, location_departement_code, location_basis
               FROM contracts"""):
        if uid not in matching:
            continue
        for name, value in (("lieu_region", region), ("lieu_departement", departement),
                            ("lieu_base", bases.get(basis))):
            if value is not None:
                expected[name][value] = expected[name].get(value, 0) + 1
    assert sum(expected["lieu_base"].values()) == len(matching) > 0
    counts = get_json(site, "/marches.json", texte="école", n="places")["effectifs"]
    for name, values in expected.items():
        assert counts[name] == values, name
    # a département chosen besides: the others still count, and its communes are listed
    chosen = max(expected["lieu_departement"], key=expected["lieu_departement"].get)
    within = get_json(site, "/marches.json", texte="école", lieu_departement=chosen)
    assert within["effectifs"]["lieu_departement"] == expected["lieu_departement"]
    assert within["total"] == expected["lieu_departement"][chosen]
    assert sum(within["effectifs"]["lieu_commune"].values()) <= within["total"]


def test_a_page_past_the_last_keeps_the_totals_and_every_count(
    site: str, demo_warehouse: Warehouse
) -> None:
    """An amount and two facets chosen: the total, the amount, each facet's counts (the other
    filters kept) and the places are those counted here, on the first page as past the last
    one (where they come from the same statement as the empty page)."""
    categories: dict[str, set[str]] = {}
    for uid, category in demo_warehouse.rows(
            """SELECT h.uid, s.category FROM contract_holders h
               JOIN suppliers s USING (supplier_key) WHERE h.is_current"""):
        if category:
            categories.setdefault(uid, set()).add(category)
    procedure = "Appel d'offres ouvert"
    rows = [r for r in demo_warehouse.rows(
        """SELECT uid, notification_year, procedure, amount, location_departement_code
           FROM contracts""") if r[3] is not None and r[3] >= 40_000]
    chosen = [r for r in rows if r[1] == 2019 and r[2] == procedure]
    by_year: dict[str, int] = {}
    by_procedure: dict[str, int] = {}
    by_category: dict[str, int] = {}
    by_departement: dict[str, int] = {}
    for uid, year, proc, _amount, departement in rows:
        if proc == procedure and year is not None:
            by_year[str(year)] = by_year.get(str(year), 0) + 1
        if year == 2019 and proc is not None:
            by_procedure[proc] = by_procedure.get(proc, 0) + 1
        if year == 2019 and proc == procedure:
            for category in categories.get(uid, ()):
                by_category[category] = by_category.get(category, 0) + 1
            if departement is not None:
                by_departement[departement] = by_departement.get(departement, 0) + 1
    assert 50 < len(chosen) < 1_000  # more than a page, fewer than the pages asked below
    for page in (1, 2, 500):
        data = get_json(site, "/api/v1/marches", montant_min="40000", annee="2019",
                        procedure=procedure, taille="50", page=str(page))
        assert data["total"] == len(chosen), page
        assert data["montant_total"] == pytest.approx(sum(r[3] for r in chosen), rel=1e-12)
        assert len(data["elements"]) == (0 if page == 500 else 50), page
        counts = data["effectifs"]
        assert counts["annee"] == by_year, page
        assert counts["procedure"] == by_procedure, page
        assert counts["categorie"] == by_category, page
        assert counts["lieu_departement"] == by_departement, page
    _, html = get(site, "/marches/", montant_min="40000", annee="2019", procedure=procedure,
                  page="500")
    assert f"<strong>{formatting.number(len(chosen))} marché(s)</strong>" in html
    assert "Aucun marché ne correspond à ces filtres." in html
    # the chosen value selected, its apostrophe escaped as the template escapes text
    assert (f'<option value="Appel d&#x27;offres ouvert" selected>Appel d&#x27;offres ouvert '
            f'({formatting.number(by_procedure[procedure])})</option>') in html


def test_counts_kept_for_the_same_other_filters_give_every_page_and_facet(
    demo_warehouse: Warehouse
) -> None:
    """The contracts of an amount counted once by year, procedure and category are kept and
    give the totals and the facets' counts of every later page, sort and choice of those
    facets: the same as counted here, and as counted afresh."""
    categories: dict[str, set[str]] = {}
    for uid, category in demo_warehouse.rows(
            """SELECT h.uid, s.category FROM contract_holders h
               JOIN suppliers s USING (supplier_key) WHERE h.is_current"""):
        if category:
            categories.setdefault(uid, set()).add(category)
    rows = [r for r in demo_warehouse.rows(
        "SELECT uid, notification_year, procedure, amount FROM contracts")
        if r[3] is not None and r[3] >= 25_000]
    settings = demo_warehouse.settings

    def expected(year: int | None, category: str | None) -> tuple[int, float, dict[str, Any]]:
        def keeps(r: tuple[Any, ...], skip: str = "") -> bool:
            return ((skip == "annee" or year is None or r[1] == year)
                    and (skip == "categorie" or category is None
                         or category in categories.get(r[0], ())))
        chosen = [r for r in rows if keeps(r)]
        counts: dict[str, dict[str, int]] = {"annee": {}, "procedure": {}, "categorie": {}}
        for r in rows:
            if keeps(r, "annee") and r[1] is not None:
                counts["annee"][str(r[1])] = counts["annee"].get(str(r[1]), 0) + 1
            if keeps(r) and r[2] is not None:
                counts["procedure"][r[2]] = counts["procedure"].get(r[2], 0) + 1
            if keeps(r, "categorie"):
                for k in categories.get(r[0], ()):
                    counts["categorie"][k] = counts["categorie"].get(k, 0) + 1
        return len(chosen), sum(r[3] for r in chosen), counts

    # two facets chosen first: their scan leaves out contracts that fail both, so its counts
    # are not kept; the next request's are
    asked = [(2019, "PME", "date", 1), (None, None, "date", 1), (2019, None, "montant", 2),
             (None, "GE", "acheteur", 3)]
    answers = {}
    for kept in (False, True):
        explorer._FOUND_CUBES.clear()
        first: list[Any] = []
        for year, category, sort, page in asked:
            if not kept:
                explorer._FOUND_CUBES.clear()
            filters = explorer.ContractFilters(montant_min=25_000, annee=year,
                                               categorie=category)
            found = explorer.search(settings, filters, sort=sort, page=page, facets=True)
            count, total, counts = expected(year, category)
            assert found["count"] == count > 50, (year, category)
            assert found["amount_total"] == pytest.approx(total, rel=1e-12)
            assert {k: v for k, v in found["facets"].items() if v} == {
                k: v for k, v in counts.items() if v}
            answers.setdefault((year, category, sort, page), found)
            assert found == answers[(year, category, sort, page)]
            first = first or list(explorer._FOUND_CUBES.values())
        if kept:  # the second request's counts, kept, served the two others
            assert list(explorer._FOUND_CUBES.values()) == first
            assert next(iter(explorer._FOUND_CUBES.values())) is first[0]
