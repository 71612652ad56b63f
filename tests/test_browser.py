"""The site in a real browser: Debian's Chromium driven by Playwright, on the demo data.

Screenshots are kept in ``test-artifacts/screenshots/`` for people to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, Warehouse, live_server

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
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("uid,") and len(lines) > 1


def test_charts_become_interactive_where_javascript_runs(page: object, site: str) -> None:
    """uPlot (installed from the lockfile by tasks.py) redraws the yearly chart; the value under
    the pointer is the one the table gives for that year."""
    p: object = page
    p.goto(site + "/indicateurs/marches-pme/")  # type: ignore[attr-defined]
    p.locator("figure.chart.is-interactive .uplot").wait_for(timeout=10_000)  # type: ignore[attr-defined]
    assert p.locator("figure.chart svg[hidden]").count() == 1  # type: ignore[attr-defined]
    over = p.locator("figure.chart .u-over").first  # type: ignore[attr-defined]
    box = over.bounding_box()
    p.mouse.move(box["x"] + box["width"] - 1, box["y"] + box["height"] / 2)  # type: ignore[attr-defined]
    legend = p.locator("figure.chart .u-legend").first.inner_text()  # type: ignore[attr-defined]
    dots = p.locator("figure.chart svg circle title")  # type: ignore[attr-defined]
    last = dots.nth(dots.count() - 1).text_content()  # "2025 : 100,0 %"
    year, value = (part.strip() for part in last.split(" : "))
    assert year in legend and value in legend.replace("\u202f", " ")
    p.screenshot(path=str(SHOTS / "indicateur-interactif.png"))  # type: ignore[attr-defined]


def test_pages_fit_a_phone_screen(page: object, site: str) -> None:
    """At a phone's width (375 px) no page scrolls sideways: wide tables scroll inside their
    frame, cards and charts shrink."""
    p: object = page
    p.set_viewport_size({"width": 375, "height": 800})  # type: ignore[attr-defined]
    try:
        for path in ("/", "/marches/", "/indicateurs/marches-pme/", "/egalim/", "/qualite/"):
            p.goto(site + path)  # type: ignore[attr-defined]
            width = p.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
            wide = p.evaluate(  # type: ignore[attr-defined]
                "Array.from(document.querySelectorAll('body *')).filter(e => "
                "e.getBoundingClientRect().right > 380 && !e.closest('.table-wrap'))"
                ".slice(0, 3).map(e => e.tagName + ' ' + (e.getAttribute('name') || e.className))")
            assert width <= 376, (path, width, wide)
        p.screenshot(path=str(SHOTS / "telephone-qualite.png"))  # type: ignore[attr-defined]
    finally:
        p.set_viewport_size({"width": 1280, "height": 720})  # type: ignore[attr-defined]
