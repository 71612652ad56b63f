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


#: What the browser measures on a page: the width of the document, the statuses written
#: with no words (colour alone), and the text whose colour does not reach the WCAG 2.1 AA
#: contrast (RGAA criterion 3.2) on the background it is drawn on, both as the browser computed
#: them from the style sheets: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold).
AUDIT = """() => {
    const rgba = css => {
        const m = css.match(/rgba?\\(([^)]*)\\)/);
        if (!m) return null;
        const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
        return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
    };
    const over = (top, under) => ({r: top.r * top.a + under.r * (1 - top.a),
        g: top.g * top.a + under.g * (1 - top.a), b: top.b * top.a + under.b * (1 - top.a), a: 1});
    const background = el => {
        const layers = [];
        for (let e = el; e; e = e.parentElement) {
            const c = rgba(getComputedStyle(e).backgroundColor);
            if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
        }
        return layers.reverse().reduce((acc, c) => over(c, acc), {r: 255, g: 255, b: 255, a: 1});
    };
    const lum = c => {
        const f = v => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
        };
        return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
    };
    const visible = el => el.getClientRects().length > 0
        && getComputedStyle(el).visibility !== 'hidden';
    const lowContrast = [];
    let texts = 0;
    for (const el of document.body.querySelectorAll('*')) {
        if (el.closest('svg, script, style, option, .skip, [hidden]') || !visible(el)) continue;
        const own = Array.from(el.childNodes).filter(
            n => n.nodeType === 3 && n.textContent.trim()).map(n => n.textContent.trim()).join(' ');
        if (!own) continue;
        texts += 1;
        const style = getComputedStyle(el);
        const bg = background(el);
        const fg = over(rgba(style.color), bg);
        const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
        const ratio = (hi + 0.05) / (lo + 0.05);
        const size = parseFloat(style.fontSize);
        const large = size >= 24 || (size >= 18.66 && parseInt(style.fontWeight, 10) >= 700);
        if (ratio < (large ? 3 : 4.5)) {
            lowContrast.push(`${el.tagName}.${el.className} « ${own.slice(0, 40)} » `
                             + `${style.color} sur ${JSON.stringify(bg)} : ${ratio.toFixed(2)}`);
        }
    }
    const statuses = Array.from(document.querySelectorAll(
        '.status, [class^="status-"], [class*=" status-"], .summary-item')).filter(visible);
    return {
        width: document.documentElement.scrollWidth,
        wide: Array.from(document.querySelectorAll('body *')).filter(e =>
            e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-wrap'))
            .slice(0, 3).map(e => e.tagName + ' ' + (e.getAttribute('name') || e.className)),
        statuses: statuses.length,
        unwritten: statuses.filter(e => !e.innerText.trim()).map(e => e.outerHTML.slice(0, 80)),
        texts, lowContrast: lowContrast.slice(0, 8),
        // the type scale: body text, the page title, its section titles
        scale: ['body', 'main h1', 'main h2:not(nav h2)'].map(sel => {
            const el = document.querySelector(sel);
            return el ? parseFloat(getComputedStyle(el).fontSize) : null;
        }),
        lineHeight: parseFloat(getComputedStyle(document.body).lineHeight)
            / parseFloat(getComputedStyle(document.body).fontSize),
    };
}"""


@pytest.fixture(scope="module")
def page_types(demo_warehouse: Warehouse) -> list[tuple[str, str]]:
    """One page of every public type (name of its screenshot, address): the contract with the
    longest uid, the buyer and the supplier with the most contracts."""
    contract = demo_warehouse.value(
        "SELECT uid FROM contracts ORDER BY length(uid) DESC, uid LIMIT 1")
    buyer = demo_warehouse.value(
        "SELECT buyer_siret FROM contracts GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
    supplier = demo_warehouse.value(
        """SELECT COALESCE(siret, supplier_key) FROM suppliers WHERE name IS NOT NULL
           ORDER BY contract_count DESC, supplier_key LIMIT 1""")
    return [
        ("barometre", "/"), ("indicateur", "/indicateurs/marches-pme/"),
        ("marches", "/marches/"), ("marche", f"/marches/{quote(contract, safe='')}/"),
        ("acheteur", f"/acheteurs/{buyer}/"),
        ("titulaire", f"/titulaires/{quote(supplier, safe='')}/"),
        ("acheteurs", "/acheteurs/"), ("titulaires", "/titulaires/"),
        ("opportunites", "/opportunites/"), ("depenses", "/depenses/"),
        ("donnees", "/donnees/"),
        ("methodologie", "/methodologie/"), ("mentions-legales", "/mentions-legales/"),
        ("accessibilite", "/accessibilite/"), ("page-introuvable", "/n-existe-pas/"),
    ]


def test_explorer_filters_fold_on_a_phone_but_never_hide_one_in_use(
        page: object, site: str) -> None:
    """At 375 px the explorer shows its first two fields, the filters in use and one « Plus de
    filtres » button, so that the results start on the first screen; the button unfolds the
    others. At 1366 px every field is shown and there is no button."""
    p: object = page
    labels = "form.filters > label"
    try:
        p.set_viewport_size({"width": 375, "height": 812})  # type: ignore[attr-defined]
        p.goto(site + "/marches/?cpv=45&tri=montant")  # type: ignore[attr-defined]
        fields = p.locator(labels)  # type: ignore[attr-defined]
        total = fields.count()
        shown = [fields.nth(i).locator("input, select").first.get_attribute("name")
                 for i in range(total) if fields.nth(i).is_visible()]
        # the first two fields, then the CPV filter and the sort chosen in the address
        assert shown == ["texte", "annee", "cpv", "tri"]
        more = p.locator("button.filters-more")  # type: ignore[attr-defined]
        assert more.inner_text() == f"Plus de filtres ({total - len(shown)})"
        assert more.get_attribute("aria-expanded") == "false"
        results = p.locator("main p strong").first  # type: ignore[attr-defined]
        assert results.bounding_box()["y"] < 812  # the count of results on the first screen
        p.screenshot(path=str(SHOTS / "marches-filtres-plies-375.png"))  # type: ignore[attr-defined]
        more.click()
        assert all(fields.nth(i).is_visible() for i in range(total))
        assert more.get_attribute("aria-expanded") == "true"
        assert more.inner_text() == "Moins de filtres"
        p.set_viewport_size({"width": 1366, "height": 900})  # type: ignore[attr-defined]
        p.goto(site + "/marches/")  # type: ignore[attr-defined]
        assert all(fields.nth(i).is_visible() for i in range(fields.count()))
        assert not p.locator("button.filters-more").is_visible()  # type: ignore[attr-defined]
    finally:
        p.set_viewport_size({"width": 1280, "height": 720})  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [1366, 375])
def test_every_page_type_fits_its_screen_writes_its_statuses_and_reads_well(
        page: object, site: str, demo_warehouse: Warehouse, page_types: list[tuple[str, str]],
        width: int) -> None:
    """At 1366 and 375 px, every public page type and a few more: no sideways scroll (wide
    tables scroll in their own frame, long words break), every status written in words (never
    colour alone), every text at WCAG AA contrast as the browser computes it from the style
    sheets; a screenshot of each page type in ``test-artifacts/screenshots/pages/``."""
    p: object = page
    shots = SHOTS / "pages"
    shots.mkdir(parents=True, exist_ok=True)
    # the contract with the longest unbroken word in its object, and a few more pages
    long_word = demo_warehouse.value(
        """SELECT uid FROM contracts ORDER BY list_max(list_transform(
           string_split(object, ' '), lambda w: length(w))) DESC NULLS LAST, uid LIMIT 1""")
    more = ["/indicateurs/marches-pme/marches/", "/egalim/", "/qualite/", "/api/",
            "/contact/", "/titulaires/?q=eiffage", f"/marches/{quote(long_word, safe='')}/"]
    p.set_viewport_size({"width": width, "height": 900})  # type: ignore[attr-defined]
    problems: list[tuple[str, str, object]] = []
    checked = {"statuses": 0, "texts": 0}
    # one type scale on every page: body text, page title, section title (sizes in px)
    scale: dict[str, set[float]] = {"texte": set(), "titre": set(), "section": set()}
    try:
        for name, path in [*page_types, *((None, m) for m in more)]:
            response = p.goto(site + path)  # type: ignore[attr-defined]
            assert response.status == (404 if name == "page-introuvable" else 200), path
            found = p.evaluate(AUDIT)  # type: ignore[attr-defined]
            if found["width"] > width + 1:
                problems.append((path, "défilement horizontal", (found["width"], found["wide"])))
            if found["unwritten"]:
                problems.append((path, "état sans texte", found["unwritten"]))
            if found["lowContrast"]:
                problems.append((path, "contraste insuffisant", found["lowContrast"]))
            if found["lineHeight"] < 1.4:
                problems.append((path, "interligne trop serré", found["lineHeight"]))
            for level, size in zip(scale, found["scale"], strict=True):
                if size is not None:
                    scale[level].add(size)
            checked["statuses"] += found["statuses"]
            checked["texts"] += found["texts"]
            if name:
                p.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)  # type: ignore[attr-defined]
    finally:
        p.set_viewport_size({"width": 1280, "height": 720})  # type: ignore[attr-defined]
    assert not problems, "\n".join(map(str, problems))
    assert all(len(sizes) == 1 for sizes in scale.values()), scale
    text, title, section = (sizes.pop() for sizes in scale.values())
    assert text >= 16 and text < section < title, (text, section, title)
    # the checks ran on real content: statuses of the barometer, the texts of every page
    assert checked["statuses"] >= 20 and checked["texts"] >= 1000, checked
    assert sorted(f.name for f in shots.glob(f"*-{width}.png")) == sorted(
        f"{name}-{width}.png" for name, _ in page_types)


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
