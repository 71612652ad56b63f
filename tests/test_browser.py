"""The site in a real browser: Debian's Chromium driven by Playwright, on the demo data.

Screenshots are kept in ``test-artifacts/screenshots/`` for people to look at.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import ROOT, Warehouse, live_server
from tests.test_search import fold, name_has

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"
# Headless, and nothing that would reach out of the machine.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def site(demo_warehouse: Warehouse) -> Iterator[str]:
    """The site served by waitress on a free port, as ``observatoire serve`` does."""
    os.environ["OBSERVATOIRE_HOME"] = str(demo_warehouse.settings.home)
    with live_server() as url:
        yield url


@pytest.fixture(scope="module")
def page(site: str) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium est introuvable : installez le paquet Debian « chromium » "
                    "(python3 tasks.py test le fait).")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(accept_downloads=True, locale="fr-FR")
        yield context.new_page()
        browser.close()


def test_barometer_then_drill_down_to_the_contracts(page: object, site: str) -> None:
    p: object = page
    p.goto(site + "/")  # type: ignore[attr-defined]
    assert p.locator("h1").inner_text() == "Baromètre des achats responsables"  # type: ignore[attr-defined]
    p.screenshot(path=str(SHOTS / "barometre.png"), full_page=True)  # type: ignore[attr-defined]
    p.get_by_role("link", name="Part des marchés attribués à des PME", exact=True).click()  # type: ignore[attr-defined]
    p.wait_for_url("**/indicateurs/marches-pme/")  # type: ignore[attr-defined]
    # the demo's A01 has values for 2018, 2019 and 2024 (2016, 2017, 2021, 2023 and 2025 hold
    # too few contracts or none known): two runs of the line, a gap between them, never a 0
    assert p.locator("svg polyline").count() == 2  # type: ignore[attr-defined]
    p.screenshot(path=str(SHOTS / "indicateur.png"), full_page=True)  # type: ignore[attr-defined]
    # the 2019 numerator: the contracts that count as awarded to a PME
    p.locator("a[href='/indicateurs/marches-pme/marches/?periode=2019']").click()  # type: ignore[attr-defined]
    p.wait_for_url("**/marches/?periode=2019")  # type: ignore[attr-defined]
    assert "comptés au numérateur" in p.locator("h1").inner_text()  # type: ignore[attr-defined]
    assert p.locator("tbody tr").count() == 50  # type: ignore[attr-defined]
    p.screenshot(path=str(SHOTS / "indicateur-marches.png"))  # type: ignore[attr-defined]


def test_explorer_filter_is_shared_by_url_and_downloads(page: object, site: str) -> None:
    p: object = page
    p.goto(site + "/marches/")  # type: ignore[attr-defined]
    p.select_option("select[name=annee]", "2019")  # type: ignore[attr-defined]
    p.select_option("select[name=tri]", "montant")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Filtrer").click()  # type: ignore[attr-defined]
    p.wait_for_url("**/marches/?*annee=2019*")  # type: ignore[attr-defined]
    shared = p.url  # type: ignore[attr-defined]
    summary = p.locator("main p strong").first.inner_text()  # type: ignore[attr-defined]
    p.goto(site + "/")  # type: ignore[attr-defined]
    p.goto(shared)  # type: ignore[attr-defined]
    assert p.locator("main p strong").first.inner_text() == summary  # type: ignore[attr-defined]
    assert p.locator("select[name=annee]").input_value() == "2019"  # type: ignore[attr-defined]
    p.screenshot(path=str(SHOTS / "marches-2019.png"))  # type: ignore[attr-defined]
    with p.expect_download() as info:  # type: ignore[attr-defined]
        p.get_by_role("link", name="CSV").first.click()  # type: ignore[attr-defined]
    download = info.value
    target = SHOTS.parent / "marches-2019.csv"
    download.save_as(str(target))
    # the whole selection, headed in French (the count is the one the page states)
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert rows[0][0] == "Identifiant du marché"
    assert len(rows) - 1 == int("".join(ch for ch in summary if ch.isdigit()))


def test_charts_become_interactive_where_javascript_runs(page: object, site: str) -> None:
    """uPlot (installed from the lockfile by tasks.py) redraws the yearly chart; the value under
    the pointer is the one the table gives for that year."""
    p: object = page
    p.goto(site + "/indicateurs/marches-pme/")  # type: ignore[attr-defined]
    p.locator("figure.chart.is-interactive .uplot").wait_for(timeout=10_000)  # type: ignore[attr-defined]
    # One chart per figure: the static SVG gives way to the interactive one (it is really hidden,
    # not only marked: Chromium ignores the ``hidden`` attribute on an <svg>).
    figures = p.locator("figure.chart.is-interactive")  # type: ignore[attr-defined]
    for i in range(figures.count()):
        assert not figures.nth(i).locator(":scope > svg").is_visible()
        assert figures.nth(i).locator(".uplot").is_visible()
    over = p.locator("figure.chart .u-over").first  # type: ignore[attr-defined]
    box = over.bounding_box()
    p.mouse.move(box["x"] + box["width"] - 1, box["y"] + box["height"] / 2)  # type: ignore[attr-defined]
    legend = p.locator("figure.chart .u-legend").first.inner_text()  # type: ignore[attr-defined]
    dots = p.locator("figure.chart svg circle title")  # type: ignore[attr-defined]
    last = dots.nth(dots.count() - 1).text_content()  # "2025 : 100,0 %"
    year, value = (part.strip() for part in last.split(" : "))
    assert year in legend and value in legend.replace("\u202f", " ")
    p.screenshot(path=str(SHOTS / "indicateur-interactif.png"))  # type: ignore[attr-defined]


def test_pages_fit_a_phone_screen(page: object, site: str, demo_warehouse: Warehouse) -> None:
    """At a phone's width (375 px) no page of any kind scrolls sideways: wide tables scroll
    inside their frame, cards and charts shrink, long words break."""
    p: object = page
    # the contracts with the longest uid and the longest unbroken word in their object
    extremes = [quote(uid, safe="") for (uid,) in demo_warehouse.rows(
        "(SELECT uid FROM contracts ORDER BY length(uid) DESC, uid LIMIT 1) UNION ALL "
        "(SELECT uid FROM contracts ORDER BY list_max(list_transform("
        "string_split(object, ' '), lambda w: length(w))) DESC NULLS LAST, uid LIMIT 1)")]
    p.set_viewport_size({"width": 375, "height": 800})  # type: ignore[attr-defined]
    try:
        # one page of each kind, reached as a reader would, by a link
        p.goto(site + "/marches/")  # type: ignore[attr-defined]
        links = [p.locator("main a[href^='/marches/']").first.get_attribute("href")]  # type: ignore[attr-defined]
        p.goto(site + links[0])  # type: ignore[attr-defined]
        links.append(p.locator("main a[href^='/acheteurs/']").first.get_attribute("href"))  # type: ignore[attr-defined]
        p.goto(site + links[1])  # type: ignore[attr-defined]
        links.append(p.locator("main a[href^='/titulaires/']").first.get_attribute("href"))  # type: ignore[attr-defined]
        too_wide = []
        for path in ("/", "/marches/", "/indicateurs/marches-pme/",
                     "/indicateurs/marches-pme/marches/", "/egalim/", "/qualite/",
                     "/opportunites/", "/donnees/", "/api/", *links, "/methodologie/",
                     "/mentions-legales/", "/accessibilite/", "/contact/", "/n-existe-pas/",
                     "/acheteurs/", "/titulaires/?q=eiffage",
                     *(f"/marches/{uid}/" for uid in extremes)):
            p.goto(site + path)  # type: ignore[attr-defined]
            width = p.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
            wide = p.evaluate(  # type: ignore[attr-defined]
                "Array.from(document.querySelectorAll('body *')).filter(e => "
                "e.getBoundingClientRect().right > 380 && !e.closest('.table-wrap'))"
                ".slice(0, 3).map(e => e.tagName + ' ' + (e.getAttribute('name') || e.className))")
            if width > 376:
                too_wide.append((path, width, wide))
        assert not too_wide
        p.screenshot(path=str(SHOTS / "telephone-qualite.png"))  # type: ignore[attr-defined]
    finally:
        p.set_viewport_size({"width": 1280, "height": 720})  # type: ignore[attr-defined]


def test_api_page_draws_the_openapi_description_and_runs_an_example(
        page: object, site: str, demo_warehouse: Warehouse) -> None:
    """``/api/``: the viewer (Swagger UI from npm, served by the site) lists every operation of
    /api/openapi.json; « Try it out » then « Execute » on /api/v1/marches with its example
    (annee=2024, tri=montant, taille=10) shows the API's answer, its total counted here."""
    import json
    import urllib.request

    with urllib.request.urlopen(site + "/api/openapi.json") as response:  # noqa: S310
        paths = list(json.load(response)["paths"])
    total = demo_warehouse.value(
        "SELECT count(*) FROM contracts WHERE notification_year = 2024")
    p: object = page
    p.goto(site + "/api/")  # type: ignore[attr-defined]
    p.locator("#api-interactive .opblock").first.wait_for(timeout=20_000)  # type: ignore[attr-defined]
    shown = p.locator("#api-interactive .opblock-summary-path").evaluate_all(  # type: ignore[attr-defined]
        "els => els.map(e => e.dataset.path)")
    assert sorted(shown) == sorted(paths)
    operation = p.locator("#api-interactive .opblock").filter(  # type: ignore[attr-defined]
        has=p.locator(".opblock-summary-path[data-path='/api/v1/marches']"))  # type: ignore[attr-defined]
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table .response-col_description pre").first
    answer.wait_for(timeout=20_000)
    body = json.loads(answer.inner_text())
    assert body["total"] == total and body["taille"] == 10
    amounts = [c["amount"] for c in body["elements"]]
    assert amounts == sorted(amounts, reverse=True)
    p.screenshot(path=str(SHOTS / "api.png"), full_page=True)  # type: ignore[attr-defined]


def test_suggestions_as_one_types_lead_to_a_supplier(
    page: object, site: str, demo_warehouse: Warehouse
) -> None:
    """Typing part of a name, without its accents, lists the suppliers it finds as options;
    the keyboard picks one and opens its page."""
    p: object = page
    p.goto(site + "/titulaires/")  # type: ignore[attr-defined]
    field = p.get_by_role("combobox", name="Nom, SIRET ou SIREN du titulaire")  # type: ignore[attr-defined]
    field.press_sequentially("eiffage energ", delay=30)
    options = p.get_by_role("listbox", name="Titulaires suggérés").get_by_role("option")  # type: ignore[attr-defined]
    options.first.wait_for(timeout=10_000)
    assert field.get_attribute("aria-expanded") == "true"
    # the most contracts first among the names that start with the word
    # (the rule written again in plain Python: tests.test_search.name_has; a garbled
    # "Eiffage �nergie" is found too)
    found = [(key, name, count) for key, name, count in demo_warehouse.rows(
        "SELECT supplier_key, name, contract_count FROM suppliers")
        if name_has(name, "eiffage") and name_has(name, "energ")]
    best = sorted(found, key=lambda r: (not fold(r[1]).startswith("eiffage"), -r[2], r[0]))
    expected = [name for _, name, _ in best[:8]]
    shown = [options.nth(i).locator(".suggestion-name").inner_text()
             for i in range(options.count())]
    assert shown == expected
    p.screenshot(path=str(SHOTS / "suggestions-titulaires.png"))  # type: ignore[attr-defined]
    field.press("ArrowDown")
    field.press("ArrowDown")
    assert field.get_attribute("aria-activedescendant") == options.nth(1).get_attribute("id")
    field.press("Enter")
    p.wait_for_url("**/titulaires/*/")  # type: ignore[attr-defined]
    assert p.locator("h1").inner_text() == expected[1]  # type: ignore[attr-defined]


def test_explorer_buyer_field_suggests_and_filters(
    page: object, site: str, demo_warehouse: Warehouse
) -> None:
    """In the explorer, choosing a suggested buyer puts its SIRET in the filter; the filtered
    list holds that buyer's contracts. Typed with capitals and accents the data has not."""
    p: object = page
    p.goto(site + "/marches/")  # type: ignore[attr-defined]
    field = p.locator("input[name=acheteur]")  # type: ignore[attr-defined]
    field.press_sequentially("RÉGION BRETAGNE", delay=30)
    option = p.get_by_role("listbox", name="Acheteurs suggérés").get_by_role("option").first  # type: ignore[attr-defined]
    option.wait_for(timeout=10_000)
    assert "REGION BRETAGNE" in option.inner_text()
    option.click()
    assert field.input_value() == "23350001600040"
    p.get_by_role("button", name="Filtrer").click()  # type: ignore[attr-defined]
    p.wait_for_url("**/marches/?*acheteur=23350001600040*")  # type: ignore[attr-defined]
    count = demo_warehouse.value(
        "SELECT count(*) FROM contracts WHERE buyer_siret = '23350001600040'")
    assert p.locator("main p strong").first.inner_text() == f"{count} marché(s)"  # type: ignore[attr-defined]


def test_opportunities_place_filter_leads_to_the_feed_of_that_selection(
    page: object, site: str, demo_warehouse: Warehouse
) -> None:
    from datetime import date

    from observatoire.explorer import _add_months

    p: object = page
    p.goto(site + "/opportunites/?mois=60")  # type: ignore[attr-defined]
    p.select_option("select[name=lieu_departement]", "74")  # type: ignore[attr-defined]
    p.get_by_role("button", name="Afficher").click()  # type: ignore[attr-defined]
    p.wait_for_url("**/opportunites/?*lieu_departement=74*")  # type: ignore[attr-defined]
    p.screenshot(path=str(SHOTS / "opportunites-74.png"), full_page=True)  # type: ignore[attr-defined]
    today = date.today()
    # the département chosen offers its communes that have contracts (a select only then)
    communes = demo_warehouse.value(
        """SELECT count(DISTINCT location_commune_code) FROM contracts
           WHERE location_departement_code = '74' AND estimated_end_date >= ?
           AND estimated_end_date < ?""", [today, _add_months(today, 60)])
    options = p.locator("select[name=lieu_commune] option").count()  # type: ignore[attr-defined]
    assert options == (communes + 1 if communes else 0)
    expected = demo_warehouse.value(
        """SELECT count(*) FROM contracts WHERE location_departement_code = '74'
           AND estimated_end_date >= ? AND estimated_end_date < ?""",
        [today, _add_months(today, 60)])
    summary = p.locator("main p strong").first.inner_text()  # type: ignore[attr-defined]
    assert int("".join(ch for ch in summary if ch.isdigit())) == expected
    href = p.get_by_role("link", name="flux Atom de ces filtres").get_attribute("href")  # type: ignore[attr-defined]
    feed = p.request.get(site + href).text()  # type: ignore[attr-defined]
    assert feed.count("<entry>") == expected
