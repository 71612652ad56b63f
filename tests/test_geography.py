"""The best known place of a contract, the place filters and maps, and the opportunities.

Expected places are worked out here from the raw published records and the reference files
(COG, SIRENE extract) with plain Python; expected counts by plain SQL on the warehouse.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from observatoire import explorer
from observatoire.web import maps
from tests.conftest import DEMO, FIXTURES, Warehouse, make_warehouse

REF = DEMO / "ref"
TABULAR = DEMO / "decp" / "tabular" / "decpinfo_tabular_2024H2_travaux_cpv4521.csv"
AIFE = DEMO / "decp" / "v1" / "data.gouv.fr_aife.json"

# --- the reference files, read with the csv module --------------------------------------------


def _cog() -> dict[str, tuple[str, str]]:
    """commune code → (département, région), from the COG file."""
    with (REF / "code_officiel_geographique_communes.csv").open(encoding="utf-8") as f:
        return {r["commune_code"]: (r["departement_code"], r["region_code"])
                for r in csv.DictReader(f)}


def _sirene_communes() -> dict[str, str]:
    """SIRET → INSEE commune code of the establishment, from the SIRENE extract."""
    with (REF / "sirene_etablissements_titulaires_decp_2022.csv").open(encoding="utf-8") as f:
        return {r["siret"]: r["codeCommuneEtablissement"] for r in csv.DictReader(f)
                if r["codeCommuneEtablissement"]}


def _buyers_published(path: Path = TABULAR) -> dict[str, tuple[str, str]]:
    """buyer SIRET → the (département, région) its rows of a consolidated CSV publish most
    often (ties: the largest codes)."""
    pairs: dict[str, Counter[tuple[str, str]]] = {}
    with path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r.get("acheteur_departement_code") or r.get("acheteur_region_code"):
                pairs.setdefault(r["acheteur_id"], Counter())[
                    (r["acheteur_departement_code"], r["acheteur_region_code"])] += 1
    return {buyer: max(counts, key=lambda p: (counts[p], p)) for buyer, counts in pairs.items()}


COG = _cog()
REGION_OF = {dep: reg for dep, reg in COG.values()}
SIRENE = _sirene_communes()
BUYERS_PUBLISHED = _buyers_published()


def _aife(uid: str) -> dict[str, Any]:
    """The published AIFE record of a contract (buyer SIRET + id)."""
    records = json.loads(AIFE.read_text(encoding="utf-8"))["marches"]
    return next(r for r in records if r.get("acheteur", {}).get("id", "") + str(r.get("id")) == uid)


def _tabular(uid: str, path: Path = TABULAR) -> dict[str, str]:
    with path.open(encoding="utf-8") as f:
        return next(r for r in csv.DictReader(f) if r["uid"] == uid)


def _place_by_hand(place_type: str | None, place_code: str | None, holder: str | None,
                   holder_dep: str | None, holder_reg: str | None, buyer: str,
                   buyers_published: dict[str, tuple[str, str]] = BUYERS_PUBLISHED,
                   ) -> tuple[str | None, str | None, str | None, str]:
    """The rule, written again: execution place the COG resolves, else the holder's SIRENE
    establishment (else its published département), else the buyer's SIRENE establishment
    (else the département the consolidated CSV publishes for it)."""
    if place_type == "Code commune" and place_code in COG:
        return (place_code, *COG[place_code], "execution_place")
    if place_type == "Code département" and place_code in REGION_OF:
        return (None, place_code, REGION_OF[place_code], "execution_place")
    if holder and SIRENE.get(holder) in COG:
        return (SIRENE[holder], *COG[SIRENE[holder]], "holder_establishment")
    if holder_dep:
        return (None, holder_dep, holder_reg or REGION_OF.get(holder_dep), "holder_establishment")
    if SIRENE.get(buyer) in COG:
        return (SIRENE[buyer], *COG[SIRENE[buyer]], "buyer_establishment")
    if buyer in buyers_published:
        dep, reg = buyers_published[buyer]
        return (None, dep or None, reg or REGION_OF.get(dep), "buyer_establishment")
    return (None, None, None, "unknown")


def _from_aife(uid: str) -> tuple[str | None, str | None, str | None, str]:
    r = _aife(uid)
    (holder,) = r["titulaires"]
    return _place_by_hand(r["lieuExecution"]["typeCode"], r["lieuExecution"]["code"],
                          holder["id"], None, None, r["acheteur"]["id"])


def _from_tabular(uid: str, path: Path = TABULAR) -> tuple[str | None, str | None, str | None,
                                                            str]:
    r = _tabular(uid, path)
    return _place_by_hand(None, None, r["titulaire_id"], r.get("titulaire_departement_code")
                          or None, r.get("titulaire_region_code") or None, r["acheteur_id"],
                          _buyers_published(path))


def _stored(wh: Warehouse, uid: str) -> tuple[Any, ...]:
    return wh.rows("""SELECT location_commune_code, location_departement_code,
                          location_region_code, location_basis FROM contracts WHERE uid = ?""",
                   [uid])[0]


# --- the best known place ---------------------------------------------------------------------


@pytest.mark.parametrize("uid, case", [
    ("261302368003012018U1yqVOJsqM00", "commune of execution (Marseille) in the COG"),
    ("358801082000352018IK6yG_0xkO00", "département of execution"),
    ("211300397000182018jAiR9ay9k100", "commune code 13270 unknown to the COG: the holder's"),
    ("110000023000172018cRu1fGVZY_00", "a country code, a holder and a buyer nowhere placed"),
])
def test_best_place_of_published_records_follows_execution_place_then_holder(
    demo_warehouse: Warehouse, uid: str, case: str
) -> None:
    expected = _from_aife(uid)
    if uid.startswith("21130039700018"):  # the premise of that case, read from the COG file
        assert "13270" not in COG and expected[3] == "holder_establishment"
    assert _stored(demo_warehouse, uid) == expected, case


@pytest.mark.parametrize("uid, case", [
    ("2000625860015720241300104", "holder placed by SIRENE (commune)"),
    ("20006258600157202413008", "holder placed by the département the file publishes"),
    ("225900018012442023119300100", "no holder's place: the buyer's published département"),
])
def test_best_place_of_consolidated_rows_follows_holder_establishment(
    demo_warehouse: Warehouse, uid: str, case: str
) -> None:
    assert _stored(demo_warehouse, uid) == _from_tabular(uid), case


@pytest.fixture(scope="module")
def buyer_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """A contract that only its buyer's establishment places, with the demo's references."""
    wh = make_warehouse(tmp_path_factory.mktemp("geo-buyer"),
                        FIXTURES / "geography" / "decpinfo_buyer_placed_only.csv", REF)
    yield wh
    wh.con.close()


def test_contract_without_execution_place_nor_placed_holder_takes_the_buyers_place(
    buyer_only: Warehouse,
) -> None:
    uid = "4565005370001824-1063142"
    path = FIXTURES / "geography" / "decpinfo_buyer_placed_only.csv"
    row = _tabular(uid, path)
    assert row["titulaire_id"] not in SIRENE and "titulaire_departement_code" not in row
    expected = _from_tabular(uid, path)
    assert expected[3] == "buyer_establishment"
    assert _stored(buyer_only, uid) == expected


def test_a_buyer_placed_by_a_consolidated_file_places_its_contracts_of_other_files(
    demo_warehouse: Warehouse,
) -> None:
    # a PES record without a place of execution nor a placed holder: its buyer publishes its
    # département in the consolidated CSV
    uid = "20003357900018201800013300"
    buyer = uid[:14]
    records = json.loads((DEMO / "decp" / "v1" / "data.gouv.fr_pes.json").read_text(
        encoding="utf-8"))["marches"]
    record = next(r for r in records if r["acheteur"]["id"] + str(r["id"]) == uid)
    (holder,) = record["titulaires"]
    expected = _place_by_hand((record.get("lieuExecution") or {}).get("typeCode"),
                              (record.get("lieuExecution") or {}).get("code"), holder["id"],
                              None, None, buyer)
    assert expected[3] == "buyer_establishment" and buyer not in SIRENE
    assert _stored(demo_warehouse, uid) == expected


def test_buyers_are_placed_by_sirene_else_by_what_the_consolidated_file_publishes(
    demo_warehouse: Warehouse,
) -> None:
    stored = {b: (d, r, s) for b, d, r, s in demo_warehouse.rows(
        "SELECT buyer_siret, departement_code, region_code, location_source FROM buyers")}
    for buyer in stored:
        if SIRENE.get(buyer) in COG:
            expected = (*COG[SIRENE[buyer]], "sirene")
        elif buyer in BUYERS_PUBLISHED:
            dep, reg = BUYERS_PUBLISHED[buyer]
            expected = (dep or None, reg or REGION_OF.get(dep), "publication")
        else:
            expected = (None, None, None)
        assert stored[buyer] == expected, buyer


def test_buyer_departement_filter_of_the_opportunities_selects_that_departements_buyers(
    client: Any, demo_warehouse: Warehouse
) -> None:
    buyers = {b for b, (dep, _) in BUYERS_PUBLISHED.items() if dep == "74"
              and SIRENE.get(b) not in COG} | {b for b, c in SIRENE.items()
                                              if COG.get(c, ("",))[0] == "74"}
    start, until = _window(60)
    expected = {u for (u,) in demo_warehouse.rows(
        """SELECT uid FROM contracts WHERE estimated_end_date >= ? AND estimated_end_date < ?
           AND list_contains(?, buyer_siret)""", [start, until, sorted(buyers)])}
    assert expected
    page = _json(client, "/opportunites.json?mois=60&acheteur_departement=74")
    assert {c["uid"] for c in page["elements"]} == expected


def test_every_contract_has_one_basis_and_levels_only_when_placed(
    demo_warehouse: Warehouse,
) -> None:
    bad = demo_warehouse.value("""
        SELECT count(*) FROM contracts
        WHERE location_basis NOT IN ('execution_place', 'holder_establishment',
                                     'buyer_establishment', 'unknown')
           OR (location_basis = 'unknown') <> (location_departement_code IS NULL
                                               AND location_region_code IS NULL)
           OR (location_basis = 'execution_place') <> (place_departement_code IS NOT NULL
                                                       OR place_region_code IS NOT NULL)""")
    assert bad == 0


# --- filters, counts, coverage and the map on the explorer ------------------------------------


def _json(client: Any, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, url
    return json.loads(response.content)


def test_place_counts_of_the_explorer_equal_plain_sql(
    client: Any, demo_warehouse: Warehouse
) -> None:
    page = _json(client, "/marches.json?annee=2019&lieu_departement=13")
    counts = page["effectifs"]
    by_dep = dict(demo_warehouse.rows(
        """SELECT location_departement_code, count(*) FROM contracts
           WHERE notification_year = 2019 AND location_departement_code IS NOT NULL
           GROUP BY 1"""))
    by_reg = dict(demo_warehouse.rows(
        """SELECT location_region_code, count(*) FROM contracts
           WHERE notification_year = 2019 AND location_region_code IS NOT NULL GROUP BY 1"""))
    by_commune = dict(demo_warehouse.rows(
        """SELECT location_commune_code, count(*) FROM contracts
           WHERE notification_year = 2019 AND location_departement_code = '13'
             AND location_commune_code IS NOT NULL GROUP BY 1"""))
    by_basis = dict(demo_warehouse.rows(
        """SELECT location_basis, count(*) FROM contracts WHERE notification_year = 2019
           GROUP BY 1"""))
    assert counts["lieu_departement"] == by_dep
    assert counts["lieu_region"] == by_reg
    assert counts["lieu_commune"] == by_commune and by_commune
    names = {"execution_place": "execution", "holder_establishment": "titulaire",
             "buyer_establishment": "acheteur", "unknown": "inconnu"}
    assert counts["lieu_base"] == {names[k]: v for k, v in by_basis.items()}
    assert page["total"] == by_dep["13"]
    assert page["filtres"]["lieu_departement"] == "13"
    # the API answers the same
    api = _json(client, "/api/v1/marches?annee=2019&lieu_departement=13&taille=50")
    assert api["effectifs"] == counts and api["total"] == page["total"]


def test_commune_region_and_basis_filters_select_what_sql_selects(
    client: Any, demo_warehouse: Warehouse
) -> None:
    for query, where in [
        ("lieu_commune=13055", "location_commune_code = '13055'"),
        ("lieu_region=53", "location_region_code = '53'"),
        ("lieu_base=titulaire&lieu_region=84",
         "location_basis = 'holder_establishment' AND location_region_code = '84'"),
        ("lieu_base=inconnu", "location_basis = 'unknown'"),
    ]:
        expected = demo_warehouse.value(f"SELECT count(*) FROM contracts WHERE {where}")
        assert expected > 0, query
        assert _json(client, f"/marches.json?{query}")["total"] == expected, query
        assert _json(client, f"/api/v1/marches?{query}")["total"] == expected, query


def test_unreadable_place_value_is_ignored_and_said(client: Any) -> None:
    page = _json(client, "/marches.json?lieu_departement=ZZZ&lieu_base=partout")
    assert "lieu_departement" not in page["filtres"] and "lieu_base" not in page["filtres"]
    assert len(page["filtres_ignores"]) == 2


def test_explorer_states_coverage_and_draws_a_map_with_a_legend(
    client: Any, demo_warehouse: Warehouse
) -> None:
    html = client.get("/marches/?annee=2019").content.decode()
    total, located = demo_warehouse.rows(
        """SELECT count(*), count(*) FILTER (WHERE location_basis <> 'unknown')
           FROM contracts WHERE notification_year = 2019""")[0]
    spaced = f"{located:,}".replace(",", "\u202f")
    assert f"<strong>{spaced} ont un lieu connu</strong>" in html
    assert f"{total:,}".replace(",", "\u202f") + " marchés de ces filtres" in html
    assert '<figure class="map">' in html and 'class="map-legend"' in html


def test_no_map_is_drawn_for_a_selection_without_a_located_contract(
    client: Any, demo_warehouse: Warehouse
) -> None:
    buyer = demo_warehouse.value(
        """SELECT buyer_siret FROM contracts GROUP BY 1
           HAVING bool_and(location_basis = 'unknown') ORDER BY count(*) DESC, 1 LIMIT 1""")
    html = client.get(f"/marches/?acheteur={buyer}").content.decode()
    assert '<figure class="map">' not in html
    assert "Pas de carte : aucune valeur n'est localisée" in html


def test_map_legend_gives_each_shade_the_values_it_stands_for() -> None:
    carte = maps.departements({"35": 1.0, "29": 10.0, "971": 4.0}, "essai", unit="marchés")
    assert carte["located"] == 2 and carte["elsewhere"] == ["971"]
    fills = {f["code"]: f["fill"] for f in carte["features"]}
    assert [(entry["low"], entry["high"]) for entry in carte["legend"]] == [(1.0, 1.0),
                                                                            (10.0, 10.0)]
    assert [entry["fill"] for entry in carte["legend"]] == [fills["35"], fills["29"]]
    assert maps.departements({}, "vide")["located"] == 0


# --- opportunities ----------------------------------------------------------------------------


def _window(months: int) -> tuple[date, date]:
    today = date.today()
    return today, explorer._add_months(today, months)


OPPORTUNITY_FILTERS = [
    ("lieu_departement=74", "c.location_departement_code = '74'"),
    ("lieu_region=84&montant_min=100000", "c.location_region_code = '84' AND c.amount >= 100000"),
    ("cpv=4521&montant_max=50000", "starts_with(c.cpv, '4521') AND c.amount <= 50000"),
    ("acheteur=75920075100130", "c.buyer_siret = '75920075100130'"),
    # a word, accents ignored, in the object, the CPV label, the buyer's or a holder's name
    ("texte=cimetiere", """EXISTS (
        SELECT 1 FROM buyers b WHERE b.buyer_siret = c.buyer_siret AND contains(lower(
            strip_accents(concat_ws(' ', c.object, c.cpv_label, b.name))), 'cimetiere'))
        OR EXISTS (SELECT 1 FROM contract_holders h JOIN suppliers s USING (supplier_key)
                   WHERE h.uid = c.uid AND h.is_current
                     AND contains(lower(strip_accents(s.name)), 'cimetiere'))"""),
]


@pytest.mark.parametrize("query, where", OPPORTUNITY_FILTERS)
def test_opportunities_feed_holds_exactly_the_contracts_of_the_pages_selection(
    client: Any, demo_warehouse: Warehouse, query: str, where: str
) -> None:
    start, until = _window(60)
    expected = {u for (u,) in demo_warehouse.rows(
        f"""SELECT c.uid FROM contracts c WHERE c.estimated_end_date >= ?
            AND c.estimated_end_date < ? AND {where}""", [start, until])}
    assert 0 < len(expected) <= 200, query
    page = _json(client, f"/opportunites.json?mois=60&{query}&taille=200")
    assert {c["uid"] for c in page["elements"]} == expected and page["total"] == len(expected)
    # the page links to the feed of its own filters
    html = client.get(f"/opportunites/?mois=60&{query}").content.decode()
    (feed_url,) = set(re.findall(r'href="(/opportunites\.atom\?[^"]*)"', html))
    feed_url = feed_url.replace("&amp;", "&")
    assert parse_qs(urlsplit(feed_url).query) == parse_qs(f"mois=60&{query}")
    feed = client.get(feed_url).content.decode()
    ids = re.findall(r"<entry>.*?<id>[^<]*/marches/([^<]*)/</id>", feed)
    assert {quote(u, safe="") for u in expected} == set(ids) and len(ids) == len(expected)


def test_opportunities_show_and_export_the_current_holders(
    client: Any, demo_warehouse: Warehouse
) -> None:
    start, until = _window(60)
    holders: dict[str, set[str]] = {}
    for uid, name in demo_warehouse.rows(
        """SELECT c.uid, COALESCE(s.name, h.holder_id) FROM contracts c
           JOIN contract_holders h ON h.uid = c.uid AND h.is_current
           LEFT JOIN suppliers s ON s.supplier_key = h.supplier_key
           WHERE c.estimated_end_date >= ? AND c.estimated_end_date < ?
             AND c.location_departement_code = '74'""", [start, until]):
        holders.setdefault(uid, set()).add(name)
    assert holders
    response = client.get("/opportunites.csv?mois=60&lieu_departement=74")
    rows = list(csv.DictReader(response.content.decode("utf-8-sig").splitlines()))
    assert {r["uid"] for r in rows} == set(holders)
    for r in rows:  # lists are joined with « | » in the CSV files
        assert set(r["holders"].split(" | ")) == holders[r["uid"]], r["uid"]
    html = client.get("/opportunites/?mois=60&lieu_departement=74").content.decode()
    assert "Titulaire(s) actuel(s)" in html


@pytest.fixture(scope="module")
def with_persons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The demo with the SIRENE legal-unit fixture, which marks one holder as a person that
    SIRENE does not let us name (tests/fixtures/sirene/README.md)."""
    wh = make_warehouse(tmp_path_factory.mktemp("geo-persons"), DEMO / "decp", REF,
                        FIXTURES / "sirene" / "unites_legales_extrait.csv")
    yield wh
    wh.con.close()


def test_opportunities_show_a_person_sirene_does_not_let_us_name_by_identifier_only(
    with_persons: Warehouse,
) -> None:
    siret = "06120058000027"  # published as « MARTIN RONDEAU » in the AIFE file
    uid, end = with_persons.rows(
        """SELECT c.uid, c.estimated_end_date FROM contracts c
           JOIN contract_holders h ON h.uid = c.uid AND h.is_current
           WHERE h.holder_id = ? AND c.estimated_end_date IS NOT NULL
           ORDER BY c.uid LIMIT 1""", [siret])[0]
    found = explorer.upcoming(with_persons.settings, end, 1,
                              explorer.ContractFilters(acheteur=uid[:14]))
    (contract,) = [c for c in found["contracts"] if c["uid"] == uid]
    assert contract["holders"] == [siret]


def test_old_departement_parameter_of_opportunities_keeps_meaning_the_place(
    client: Any, demo_warehouse: Warehouse
) -> None:
    old = _json(client, "/opportunites.json?mois=60&departement=74")
    new = _json(client, "/opportunites.json?mois=60&lieu_departement=74")
    assert old["total"] == new["total"] > 0
    assert old == _json(client, "/api/v1/opportunites?mois=60&departement=74&taille=200")
