"""The « Dépenses » pages and API (issue 16 §4) through Django's test client and a real browser,
on a data home built as a user builds it (``ingest`` + ``build``): the buyer's real DECP file,
the simulated PES set (demo/data/pes-simule), the demo's real Chorus extracts, the demo's
reference files, and a SIRENE legal-unit line written here that marks one of the set's suppliers
as not diffusible (status ``P``; the demo's SIRENE extracts carry no status).

Expected values are computed here from the files themselves: the PES XML read with lxml (the
pieces' NatPce, TypBord, accounts, amounts, IdMarche; the Retour's payment dates and
suspensions, through tests/test_payments_model.py's helpers), the DECP JSON read with ``json``,
and the set's README (paid per contract)."""

from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from lxml import etree

from observatoire.formatting import number, percent
from tests.conftest import DEMO, Warehouse, live_server, make_warehouse
from tests.test_payments_model import (
    BUYER,
    PES,
    README_PAID,
    xml_lines,
    xml_payment_dates,
    xml_piece_delays,
)

CHORUS = DEMO / "chorus"
DECP_FILE = DEMO / "decp" / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json"
OTHER_BUYER = "13001845000028"  # the demo's other DECP file: no payment loaded for it
#: A supplier of the simulated set marked not diffusible by the SIRENE line written here.
HIDDEN_SIRET = "42134020900129"
HIDDEN_NAME = f"TITULAIRE SIRET {HIDDEN_SIRET}"  # its name in the PES files
PERSON_NAME = "PERSONNE SIMULEE"  # the natural person's Nom in the PES files


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    folder = tmp_path_factory.mktemp("spending-home")
    sirene = folder / "input" / "unites_legales_non_diffusible.csv"
    sirene.parent.mkdir()
    # the layout of INSEE's StockUniteLegale (subset); written for this test, not SIRENE's
    sirene.write_text("siren,statutDiffusionUniteLegale,categorieEntreprise\n"
                      f"{HIDDEN_SIRET[:9]},P,\n", encoding="utf-8")
    wh = make_warehouse(folder / "home", DEMO / "decp" / "v2", DEMO / "ref",
                        *sorted(PES.glob("*.xml")), CHORUS, sirene)
    yield wh
    wh.con.close()


@pytest.fixture(scope="module")
def client(home: Warehouse) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OBSERVATOIRE_HOME", str(home.settings.home))
        env.setenv("OBSERVATOIRE_PROFILE", home.settings.profile)
        env.setenv("DJANGO_SETTINGS_MODULE", "observatoire.web.settings")
        import django

        django.setup()
        from django.test import Client

        yield Client()


def _text(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8")
    return str(response.content.decode("utf-8"))


def _json(client: Any, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return json.loads(_text(response))


# --- the PES files, read independently of the readers ---------------------------------------


@dataclass
class Line:
    year: int
    piece: str
    batch_type: str
    piece_nature: str
    account: str
    amount_ht: Decimal
    contract: str | None


def pes_lines() -> list[Line]:
    """Every LigneDePiece of the Aller files with its piece's NatPce and bordereau's TypBord."""
    def v(el: Any, path: str) -> str | None:
        found = el.find(path)
        return found.get("V") if found is not None else None

    out = []
    for path in sorted(PES.glob("SIMULE_PES_DepenseAller_*.xml")):
        for bordereau in etree.parse(str(path)).iter("Bordereau"):
            year = int(v(bordereau, "BlocBordereau/Exer") or 0)
            batch_type = v(bordereau, "BlocBordereau/TypBord") or ""
            for piece in bordereau.iter("Piece"):
                for ln in piece.iter("LigneDePiece"):
                    out.append(Line(year, v(piece, "BlocPiece/InfoPce/IdPce") or "", batch_type,
                                    v(piece, "BlocPiece/InfoPce/NatPce") or "",
                                    v(ln, "BlocLignePiece/InfoLignePce/Nature") or "",
                                    Decimal(v(ln, "BlocLignePiece/InfoLignePce/MtHT") or "0"),
                                    v(ln, "BlocLignePiece/LiensIdent/IdMarche")))
    return out


def kind(line: Line) -> str:
    """The kind of a line from the PES code lists (NatPce 14 avance forfaitaire, 13 dernier
    acompte, 12 retenue de garantie, 06/10 or TypBord 02 annulation; account 6711 interest)."""
    if line.batch_type == "02" or line.piece_nature in ("06", "10"):
        return "annulation"
    if line.account.startswith("6711"):
        return "interets"
    return {"14": "avance", "13": "dernier_acompte", "12": "retenue"}.get(
        line.piece_nature, "acompte" if line.contract else "paiement")


def awarded() -> dict[str, Decimal]:
    """The DECP amount of each of the buyer's contracts, from its JSON file."""
    data = json.loads(DECP_FILE.read_text(encoding="utf-8"))
    return {m["id"]: Decimal(str(m["montant"])) for m in data["marches"]["marche"]}


def chorus_rows() -> int:
    """The payment rows of the demo's Chorus payment extracts (DP and AIFE « CP »): their data
    rows after the header, read with the csv module."""
    rows = 0
    for name in ("dataetat_chorus_DP_demandes_paiement_2024-09-26.csv", "dataetat_aife_cp.csv"):
        text = (CHORUS / name).read_text(encoding="utf-8")
        delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(
            "|") else "|"
        rows += sum(1 for row in csv.reader(io.StringIO(text), delimiter=delimiter)
                    if any(cell.strip() for cell in row)) - 1
    return rows


def uid(ref: str) -> str:
    return f"{BUYER}{ref}"


# --- the contract page ------------------------------------------------------------------------


def test_contract_page_gives_paid_against_awarded_by_year_and_type(client: Any) -> None:
    lines = pes_lines()
    amounts = awarded()
    for ref, readme_paid in README_PAID.items():
        mine = [ln for ln in lines if ln.contract == ref]
        signed = defaultdict(Decimal)
        for ln in mine:
            signed[kind(ln)] += -ln.amount_ht if kind(ln) == "annulation" else ln.amount_ht
        paid = sum(a for k, a in signed.items() if k != "interets")
        assert paid == readme_paid, ref  # the XML and the README agree
        data = _json(client, f"/marches/{uid(ref)}.json")["paiements"]
        api = _json(client, f"/api/v1/marches/{uid(ref)}/paiements")
        assert api == data  # the twin and the API say the same
        assert data["loaded"] and data["linked"]
        assert data["paid"]["paid_ht"] == pytest.approx(float(readme_paid))
        assert data["paid"]["interest_ht"] == pytest.approx(float(signed.get("interets", 0)))
        assert {r["kind"]: r["signed_ht"] for r in data["by_kind"]} == pytest.approx(
            {k: float(a) for k, a in signed.items()})
        assert data["contract"]["amount_awarded"] == pytest.approx(float(amounts[ref]))
        years = defaultdict(int)
        for ln in mine:
            years[ln.year] += 1
        assert {r["year"]: r["lines"] for r in data["by_year"]} == years
        # every line linked by its IdMarche, with a high confidence, from the simulated set
        assert [(r["method"], r["confidence"], r["lines"]) for r in data["links"]] == [
            ("contract_number", "high", len(mine))]
        assert {r["source"] for r in data["sources"]} == {"pes_simule"}
        page = _text(client.get(f"/marches/{quote(uid(ref), safe='')}/"))
        assert f"<strong>{number(readme_paid)} € HT</strong>" in page
        share = readme_paid / amounts[ref]
        assert f"soit {percent(float(share), 0)} du montant attribué" in page
        assert ("au-delà du montant attribué" in page) == (share > 1)
        assert "démonstration simulé" in page and "PES V2 simulé (démonstration)" in page
        assert f'href="/depenses/?marche={quote(uid(ref), safe="")}"' in page
    # the annulled duplicate: its annulation is netted, shown as such
    cancelled = [ln for ln in lines if kind(ln) == "annulation"]
    assert len(cancelled) == 1 and cancelled[0].contract
    data = _json(client, f"/api/v1/marches/{uid(cancelled[0].contract)}/paiements")
    assert data["paid"]["cancellations"] == 1
    assert data["paid"]["cancelled_ht"] == pytest.approx(float(cancelled[0].amount_ht))


def test_contract_of_a_buyer_without_payment_data_says_so(client: Any, home: Warehouse) -> None:
    contract = home.value("SELECT uid FROM contracts WHERE buyer_siret = ? ORDER BY uid LIMIT 1",
                          [OTHER_BUYER])
    page = _text(client.get(f"/marches/{quote(contract, safe='')}/"))
    assert ("Aucune donnée de paiement n'est chargée pour cet acheteur : ce qui a été payé sur "
            "ce marché n'est pas connu.") in page
    assert "Payé à ce jour" not in page
    data = _json(client, f"/api/v1/marches/{quote(contract, safe='')}/paiements")
    assert not data["loaded"] and not data["linked"]
    assert set(data["paid"].values()) == {None}  # never « 0 € paid »
    buyer = _json(client, f"/api/v1/acheteurs/{OTHER_BUYER}/paiements")
    assert not buyer["loaded"] and buyer["delays"] == [] and buyer["suppliers"] == []
    assert set(buyer["supplier_totals"].values()) == {None}
    assert "ses délais de paiement et ses dépenses ne sont pas connus" in _text(
        client.get(f"/acheteurs/{OTHER_BUYER}/"))
    # the explorer filtered on that buyer says so too, and gives no total
    explorer = _json(client, f"/depenses.json?acheteur={OTHER_BUYER}")
    assert (explorer["total"], explorer["acheteur_charge"], explorer["montant_total"],
            explorer["montant_hors_marche"]) == (0, False, None, None)
    page = _text(client.get(f"/depenses/?acheteur={OTHER_BUYER}"))
    assert "ses dépenses ne sont pas connues" in page
    assert "ligne(s) de paiement</strong>" not in page
    assert _json(client, f"/depenses.json?acheteur={BUYER}")["acheteur_charge"] is True


# --- the buyer page ---------------------------------------------------------------------------


def _half(day: date) -> tuple[int, int]:
    return day.year, 1 if day.month <= 6 else 2


def test_buyer_page_gives_delays_per_half_year_with_the_minimum_sample(
        client: Any, home: Warehouse) -> None:
    pieces = xml_piece_delays()
    paid = xml_payment_dates()
    paid_on: dict[tuple[int, str], date] = {}
    for ln in xml_lines():
        if (ln.year, ln.piece, ln.line) in paid:
            day = paid[(ln.year, ln.piece, ln.line)]
            paid_on[(ln.year, ln.piece)] = max(paid_on.get((ln.year, ln.piece), day), day)
    halves: dict[tuple[int, int], list[int]] = defaultdict(list)
    for key, (delay, _) in pieces.items():
        halves[_half(paid_on[key])].append(delay)
    interest: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for ln in xml_lines():
        if ln.nature == "6711":
            interest[_half(paid[(ln.year, ln.piece, ln.line)])] += ln.amount_ht
    minimum = home.value("SELECT min_population FROM indicator_profile")
    data = _json(client, f"/api/v1/acheteurs/{BUYER}/paiements")
    assert _json(client, f"/acheteurs/{BUYER}.json")["paiements"] == data
    rows = {(r["year"], r["half"]): r for r in data["delays"]}
    assert set(rows) == set(halves) | set(interest) | {(None, None)}
    for key, delays in halves.items():
        row = rows[key]
        assert (row["pieces"], row["known"]) == (len(delays), len(delays))
        assert row["mean_days"] == pytest.approx(sum(delays) / len(delays))
        assert row["share_61"] == pytest.approx(sum(d >= 61 for d in delays) / len(delays))
        assert row["small_sample"] == (len(delays) < minimum)
        assert row["interest_ht"] == pytest.approx(float(interest.get(key, 0)))
    every = [d for d, _ in pieces.values()]
    total = rows[(None, None)]
    assert total["mean_days"] == pytest.approx(sum(every) / len(every))
    assert total["interest_ht"] == pytest.approx(float(sum(interest.values())))
    # the same population as B03: the buyer's mean over all years is its B03
    assert total["mean_days"] == pytest.approx(home.value(
        "SELECT value FROM payment_indicator_results WHERE code = 'B03' AND basis = 'mean' "
        "AND period = 'toutes' AND breakdown = 'buyer' AND breakdown_value = ?", [BUYER]))
    # on the page: a half-year below the minimum sample is never a headline
    page = _text(client.get(f"/acheteurs/{BUYER}/"))
    for (year, half), delays in halves.items():
        label = f"{year}, {'1er' if half == 1 else '2d'} semestre"
        cell = page.split(f"<th scope=\"row\">{label}</th>", 1)[1].split("</tr>", 1)[0]
        if len(delays) < minimum:
            assert f"(n\u00a0=\u00a0{len(delays)})" in cell
            assert number(sum(delays) / len(delays), 1) not in cell
        else:
            assert number(sum(delays) / len(delays), 1) in cell
    assert any(len(d) < minimum for d in halves.values())  # the demo has such half-years
    assert len(every) >= minimum
    cell = page.split('<th scope="row">Toutes périodes</th>', 1)[1].split("</tr>", 1)[0]
    assert number(sum(every) / len(every), 1) in cell
    assert number(sum(interest.values())) in cell
    assert f'href="/depenses/?acheteur={BUYER}"' in page


def test_buyer_spending_by_supplier_below_40k_and_outside_contracts(client: Any) -> None:
    amounts = awarded()
    buckets: dict[str, Decimal] = defaultdict(Decimal)
    for ln in pes_lines():
        signed = -ln.amount_ht if kind(ln) == "annulation" else ln.amount_ht
        if ln.contract is None:
            buckets["outside"] += signed
        elif amounts[ln.contract] >= 40_000:
            buckets["above"] += signed
        else:
            buckets["below"] += signed
    data = _json(client, f"/api/v1/acheteurs/{BUYER}/paiements")
    totals = data["supplier_totals"]
    assert totals["above_threshold_ht"] == pytest.approx(float(buckets["above"]))
    assert totals["below_threshold_ht"] == pytest.approx(float(buckets["below"]))
    assert totals["outside_contracts_ht"] == pytest.approx(float(buckets["outside"]))
    assert totals["unknown_amount_ht"] == 0
    assert totals["net_ht"] == pytest.approx(float(sum(buckets.values())))
    # four pieces outside contracts (README), each to a supplier of its own, one a person
    outside = [s for s in data["suppliers"] if s["outside_contracts_ht"]]
    assert len(outside) == 4
    assert sum(s["masked"] for s in outside) == 1
    page = _text(client.get(f"/acheteurs/{BUYER}/"))
    assert f"hors marché : {number(float(buckets['outside']))} €" in page
    assert f"moins de 40\u202f000 € : {number(float(buckets['below']))} €" in page


# --- the explorer -----------------------------------------------------------------------------


def test_explorer_counts_filters_and_sorts_as_the_files_say(client: Any) -> None:
    lines = pes_lines()
    page = _json(client, "/depenses.json?source=pes_simule")
    assert page["total"] == len(lines)
    assert page["effectifs"]["type"] == {k: sum(kind(ln) == k for ln in lines)
                                         for k in page["effectifs"]["type"]}
    outside = _json(client, "/depenses.json?source=pes_simule&marche=non")
    assert outside["total"] == sum(ln.contract is None for ln in lines) == 4
    assert outside["montant_total"] == pytest.approx(
        float(sum(ln.amount_ht for ln in lines if ln.contract is None)))
    everything = _json(client, "/depenses.json")
    chorus = _json(client, "/depenses.json?source=chorus")
    assert chorus["total"] == chorus_rows() > 0
    assert everything["total"] == len(lines) + chorus["total"]
    assert all(e["buyer_id"] is None for e in chorus["elements"])  # State flows: no SIRET
    # the API says what the page's twin says
    api = _json(client, "/api/v1/depenses?source=pes_simule&taille=200")
    assert api == page
    # a buyer by its SIRET, or the start of it (as the contracts explorer's buyer filter)
    assert _json(client, f"/depenses.json?acheteur={BUYER}")["total"] == len(lines)
    assert _json(client, f"/depenses.json?acheteur={BUYER[:9]}")["total"] == len(lines)
    # a contract's lines, by its uid
    ref = "H9O2024T0000356"
    mine = _json(client, f"/depenses.json?marche={uid(ref)}")
    assert mine["total"] == sum(ln.contract == ref for ln in lines)
    # year and amount filters
    year = _json(client, "/depenses.json?source=pes_simule&exercice=2025")
    assert year["total"] == sum(ln.year == 2025 for ln in lines)
    big = _json(client, "/depenses.json?source=pes_simule&montant_min=10000")
    assert big["total"] == sum(ln.amount_ht >= 10_000 for ln in lines)
    # sorted by amount
    ranked = [e["amount_ht"] for e in _json(client, "/depenses.json?tri=montant")["elements"]]
    known = [a for a in ranked if a is not None]  # two AIFE rows give no HT amount
    assert ranked == sorted(known, reverse=True) + [None] * (len(ranked) - len(known))
    # unreadable values are said, and ignored
    bad = _json(client, "/depenses.json?type=pret&exercice=deux")
    assert bad["total"] == everything["total"] and len(bad["filtres_ignores"]) == 2
    html = _text(client.get("/depenses/?tri=montant&texte=%3Cscript%3Ex"))
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    assert 'aria-sort="descending"' in html  # the amount column
    assert '<a href="/depenses/">Dépenses</a>' in html  # in the site's menu


def test_download_columns_have_one_french_header_and_meaning() -> None:
    from observatoire.public_columns import french
    from observatoire.spending import SELECTION_COLUMNS

    names = [french("payments", c) for c in SELECTION_COLUMNS]
    assert len({h for h, _ in names}) == len(names)
    assert all(h and m for h, m in names)


def test_whole_selection_downloads_hold_the_selection(client: Any) -> None:
    query = "source=pes_simule&marche=oui"
    count = _json(client, f"/depenses.json?{query}")["total"]
    response = client.get(f"/depenses/selection.csv?{query}")
    assert response["X-Nombre-De-Lignes"] == str(count)
    body = _text(response)
    assert body.startswith("\ufeffIdentifiant de la ligne,")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert len(rows) - 1 == count
    semicolon = _text(client.get(f"/depenses/selection.csv?{query}&separateur=point-virgule"))
    assert len(list(csv.reader(io.StringIO(semicolon.lstrip("\ufeff")), delimiter=";"))) - 1 \
        == count
    assert semicolon.lstrip("\ufeff").startswith("Identifiant de la ligne;SIRET de l'acheteur;")
    records = json.loads(_text(client.get(f"/depenses/selection.json?{query}")))
    assert len(records) == count and set(records[0]) == set(
        _json(client, f"/depenses.json?{query}")["elements"][0])
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(b"".join(
        client.get(f"/depenses/selection.xlsx?{query}").streaming_content)), read_only=True)
    sheet = book.worksheets[0]
    assert sheet.title == "Dépenses"
    assert sum(1 for _ in sheet.iter_rows(values_only=True)) - 1 == count


def test_persons_and_suppliers_not_diffusible_are_masked_everywhere(client: Any) -> None:
    # the staged rows hold both names (the warehouse masks them): the test can fail
    assert any(PERSON_NAME in path.read_text(encoding="utf-8")
               for path in PES.glob("SIMULE_PES_DepenseAller_*.xml"))
    urls = ["/depenses/", "/depenses.json", "/depenses.csv", "/depenses/selection.csv",
            "/depenses/selection.json", "/api/v1/depenses?taille=200",
            "/depenses/?fournisseur=simulee", f"/acheteurs/{BUYER}/", f"/acheteurs/{BUYER}.json",
            f"/api/v1/acheteurs/{BUYER}/paiements",
            f"/api/v1/marches/{uid('H9O2024T0000456')}/paiements",
            f"/marches/{uid('H9O2024T0000456')}/"]
    bodies = {url: _text(client.get(url)) for url in urls}
    for url, body in bodies.items():
        assert PERSON_NAME not in body.upper(), url
        assert HIDDEN_NAME not in body.upper(), url
    assert "Personne physique (nom masqué)" in bodies["/depenses/selection.csv"]
    assert "Nom non diffusible (SIRENE)" in bodies["/depenses/selection.csv"]
    records = json.loads(bodies["/depenses/selection.json"])
    person = [r for r in records if r["supplier_name"] == "Personne physique (nom masqué)"]
    assert len(person) == 1 and person[0]["supplier_masked"]
    assert person[0]["supplier_siret"] is None and person[0]["object"] is None
    hidden = [r for r in records if r["supplier_siret"] == HIDDEN_SIRET]
    assert hidden and {r["supplier_name"] for r in hidden} == {"Nom non diffusible (SIRENE)"}
    # a name is not found through the masked name
    assert _json(client, "/depenses.json?fournisseur=personne simulee")["total"] == 0
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(b"".join(
        client.get("/depenses/selection.xlsx").streaming_content)), read_only=True)
    cells = " ".join(str(c) for row in book.worksheets[0].iter_rows(values_only=True)
                     for c in row if c is not None).upper()
    assert PERSON_NAME not in cells and HIDDEN_NAME not in cells


def test_api_is_described_and_answers_its_errors_in_json(client: Any) -> None:
    from jsonschema import Draft202012Validator

    document = _json(client, "/api/openapi.json")
    paths = document["paths"]
    for path, component in (("/api/v1/depenses", None),
                            ("/api/v1/marches/{uid}/paiements", "DepensesMarche"),
                            ("/api/v1/acheteurs/{siret}/paiements", "DepensesAcheteur")):
        assert path in paths
        if component:
            assert paths[path]["get"]["responses"]["200"]["content"]["application/json"][
                "schema"] == {"$ref": f"#/components/schemas/{component}"}
    assert {p["name"] for p in paths["/api/v1/depenses"]["get"]["parameters"]} >= {
        "acheteur", "fournisseur", "exercice", "type", "marche", "montant_min", "montant_max",
        "source", "tri", "page", "taille"}

    def check(answer: Any, path: str) -> None:
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": document["components"]})
        errors = [e.message for e in validator.iter_errors(answer)]
        assert not errors, errors[:3]

    check(_json(client, "/api/v1/depenses?taille=200"), "/api/v1/depenses")
    check(_json(client, f"/api/v1/marches/{uid('H9O2024T0000656')}/paiements"),
          "/api/v1/marches/{uid}/paiements")
    check(_json(client, f"/api/v1/acheteurs/{BUYER}/paiements"),
          "/api/v1/acheteurs/{siret}/paiements")
    check(_json(client, f"/api/v1/acheteurs/{OTHER_BUYER}/paiements"),
          "/api/v1/acheteurs/{siret}/paiements")
    for url in ("/api/v1/marches/inconnu/paiements", "/api/v1/acheteurs/00000000000000/paiements",
                "/depenses/inconnu.json"):
        response = client.get(url)
        assert response.status_code == 404 and response["Content-Type"].startswith(
            "application/json"), url
        assert set(json.loads(_text(response))) == {"statut", "erreur", "que_faire"}


# --- in a real browser --------------------------------------------------------------------------


def test_pages_in_a_browser_at_desktop_and_phone_widths(home: Warehouse) -> None:
    """The explorer, a contract's and the buyer's payments at 1366 and 375 px: reached from
    the menu and the pages' links, screenshots kept, no sideways scroll on a phone."""
    from tests.test_browser import CHROMIUM, FLAGS, SHOTS

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium est introuvable : installez le paquet Debian « chromium ».")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    kept = os.environ.get("OBSERVATOIRE_HOME")
    os.environ["OBSERVATOIRE_HOME"] = str(home.settings.home)
    try:
        with live_server() as site, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_context(locale="fr-FR").new_page()
            page.goto(site + "/")
            page.get_by_role("navigation", name="Navigation principale").get_by_role(
                "link", name="Dépenses").click()
            page.wait_for_url("**/depenses/")
            page.select_option("select[name=marche]", "non")
            page.get_by_role("button", name="Filtrer").click()
            page.wait_for_url("**/depenses/?*marche=non*")
            outside = sum(ln.contract is None for ln in pes_lines()) + chorus_rows()
            assert f"{outside} ligne(s) de paiement" in page.locator("main").inner_text()
            ref = quote(uid("H9O2024T0000656"), safe="")
            too_wide = []
            for width in (1366, 375):
                page.set_viewport_size({"width": width, "height": 900})
                for name, path in (("depenses", "/depenses/"),
                                   ("marche-paiements", f"/marches/{ref}/"),
                                   ("acheteur-paiements", f"/acheteurs/{BUYER}/")):
                    page.goto(site + path)
                    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
                    scroll = page.evaluate("document.documentElement.scrollWidth")
                    if scroll > width + 1:
                        too_wide.append((path, width, scroll))
            assert not too_wide
            # from the contract's payments to its lines in the explorer
            page.goto(site + f"/marches/{ref}/")
            page.get_by_role("link", name="Voir ces lignes de paiement dans l'explorateur "
                             "des dépenses").click()
            page.wait_for_url("**/depenses/?marche=*")
            lines = sum(ln.contract == "H9O2024T0000656" for ln in pes_lines())
            assert f"{lines} ligne(s) de paiement" in page.locator("main").inner_text()
            browser.close()
    finally:
        if kept is not None:
            os.environ["OBSERVATOIRE_HOME"] = kept


def test_downloads_never_hold_a_formula(client: Any, home: Warehouse, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A piece's object that a spreadsheet would run (a copy of the home whose one object is
    made to start with « = ») is written inert in the CSV and XLSX downloads."""
    import shutil

    import duckdb
    from openpyxl import load_workbook

    copy = tmp_path / "home"
    shutil.copytree(home.settings.home, copy, ignore=shutil.ignore_patterns("exports"))
    con = duckdb.connect(str(copy / "warehouse.duckdb"))
    try:
        con.execute("UPDATE payments SET object = '=HYPERLINK(\"http://x\";\"SIMULE\")' "
                    "WHERE payment_key = (SELECT min(payment_key) FROM payments "
                    "WHERE object IS NOT NULL)")
    finally:
        con.close()
    monkeypatch.setenv("OBSERVATOIRE_HOME", str(copy))
    body = _text(client.get("/depenses/selection.csv?separateur=point-virgule"))
    objects = [row[9] for row in csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";")]
    assert objects[0] == "Objet"
    assert "'=HYPERLINK(\"http://x\";\"SIMULE\")" in objects
    assert not any(o.startswith("=") for o in objects)
    book = load_workbook(io.BytesIO(b"".join(
        client.get("/depenses/selection.xlsx").streaming_content)), read_only=True)
    cells = [c for row in book.worksheets[0].iter_rows(values_only=True) for c in row
             if isinstance(c, str)]
    assert "'=HYPERLINK(\"http://x\";\"SIMULE\")" in cells
    assert not any(c.startswith("=") for c in cells)


def test_pages_meet_the_basic_accessibility_criteria(client: Any) -> None:
    """The checks of tests/test_accessibility.py on the pages with payments."""
    from tests.test_accessibility import _Page

    for url in ("/depenses/", "/depenses/?marche=non&tri=delai", f"/acheteurs/{BUYER}/",
                f"/marches/{quote(uid('H9O2024T0000356'), safe='')}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        page = _Page()
        page.feed(_text(response))
        assert page.lang == "fr" and page.titles == 1 and page.h1 == 1 and page.skip, url
        for field in page.fields:
            assert (field.get("id") in page.label_for or field.get("wrapped")
                    or field.get("aria-label")), (url, field)
        assert page.th_without_scope == 0, url
        assert all(text for _, text in page.links), url


# --- the whole dataset on /donnees/ (issue 17) -----------------------------------------------


def test_payments_dataset_is_published_whole_with_persons_masked_and_french_headers(
    home: Warehouse,
) -> None:
    """What the publisher writes after a build (``datasets.publish``, run by ``serve`` for each
    new build): every payment line (the PES set's lines read with lxml, plus the Chorus rows read
    with the csv module) in CSV, XLSX and JSON, headed in French, persons masked; listed on
    /donnees/ with its row count and sizes, and served with its validators."""
    from openpyxl import load_workbook

    from observatoire import datasets
    from tests.test_downloads import fetch

    written = datasets.publish(home.settings)
    names = {p.name for p in written}
    assert {"paiements.csv", "paiements.xlsx", "paiements.json", "paiements.parquet"} <= names
    folder = next(p.parent for p in written if p.name == "paiements.csv")
    expected = len(pes_lines()) + chorus_rows()
    rows = list(csv.reader(io.StringIO(
        (folder / "paiements.csv").read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["Identifiant de la ligne", "SIRET de l'acheteur", "Nom de l'acheteur"]
    assert len(rows) - 1 == expected
    records = json.loads((folder / "paiements.json").read_text(encoding="utf-8"))
    assert len(records) == expected
    person = [r for r in records if r["supplier_name"] == "Personne physique (nom masqué)"]
    assert len(person) == 1 and person[0]["supplier_siret"] is None
    assert person[0]["object"] is None
    book = load_workbook(io.BytesIO((folder / "paiements.xlsx").read_bytes()), read_only=True)
    cells = [c for row in book.worksheets[0].iter_rows(values_only=True) for c in row
             if isinstance(c, str)]
    assert cells[0] == "Identifiant de la ligne"
    for text in (folder / "paiements.csv").read_text(encoding="utf-8-sig"), " ".join(cells):
        assert PERSON_NAME not in text.upper() and HIDDEN_NAME not in text.upper()
    with live_server() as site:
        page = fetch(f"{site}/donnees/").body.decode()
        listed = {d["id"]: d for d in fetch(f"{site}/donnees.json").json()}
        answer = fetch(f"{site}/donnees/paiements.csv")
        again = fetch(f"{site}/donnees/paiements.csv",
                      headers={"If-None-Match": answer.headers["ETag"]})
    assert answer.status == 200 and again.status == 304
    body = answer.body
    assert body == (folder / "paiements.csv").read_bytes()
    assert answer.headers["Last-Modified"]
    assert listed["paiements"]["lignes"] == expected and listed["paiements"]["disponible"]
    assert listed["paiements"]["telechargements"]["json"]["octets"] == \
        (folder / "paiements.json").stat().st_size
    assert f"{number(expected)} ligne(s)" in page
    assert '<a href="/donnees/paiements.xlsx">XLSX</a>' in page
    assert "<td>Nom masqué</td><td><code>supplier_masked</code></td>" in page
