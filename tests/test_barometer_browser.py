"""The barometer, a buyer's scorecard and the indicator charts in Debian's Chromium (Playwright):
what only a browser can tell — the selection made with the form lands in the URL, no page
scrolls sideways at 375 px, no chart text is drawn outside its chart. Screenshots at 1366 and
375 px are kept in ``test-artifacts/screenshots/`` for people to look at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import Warehouse
from tests.test_browser import SHOTS, page, site  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def buyer(demo_warehouse: Warehouse) -> str:
    """The buyer with the most marchés notified in 2024."""
    return str(demo_warehouse.value(
        """SELECT buyer_siret FROM contracts WHERE kind = 'marche' AND notification_year = 2024
           GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"""))


def _pages(buyer: str) -> list[tuple[str, str, str]]:
    """Name, address and what the page must show (the part this work added)."""
    return [
        ("barometre", "/", ".summary-counts"),
        ("barometre-acheteur", f"/?annee=2024&acheteur={buyer}", ".summary-counts"),
        ("acheteur-spaser", f"/acheteurs/{buyer}/", "#spaser ~ .table-wrap"),
        ("indicateur-procedures", "/indicateurs/procedures/?periode=2024",
         "svg[aria-labelledby=repartition-titre]"),
        ("indicateur-departements", "/indicateurs/repartition-departements-titulaires/"
                                    "?periode=2024", "svg[aria-labelledby=repartition-titre]"),
        ("indicateur-par-acheteur", "/indicateurs/marches-pme/?ventilation=buyer&periode=2024",
         "details.technical"),
    ]


def test_barometer_year_and_buyer_chosen_in_the_form_land_in_the_url(
        page: object, site: str, buyer: str) -> None:  # noqa: F811
    p: object = page
    p.set_viewport_size({"width": 1366, "height": 900})  # type: ignore[attr-defined]
    try:
        p.goto(site + "/")  # type: ignore[attr-defined]
        items = p.locator(".summary-counts li")  # type: ignore[attr-defined]
        # each count is written with its status and what it means (never colour alone)
        texts = [items.nth(i).inner_text() for i in range(items.count())]
        assert len(texts) >= 5
        first_lines = [t.split("\n")[0].split(" ", 1) for t in texts]
        assert all(n.isdigit() and label.strip() for n, label in first_lines), texts
        assert all(len(t.split("\n")) == 2 and len(t.split("\n")[1]) > 20 for t in texts)
        form = p.locator("form[aria-label='Année et périmètre du baromètre']")  # type: ignore[attr-defined]
        form.locator("select[name=annee]").select_option("2024")
        form.locator("input[name=acheteur]").fill(buyer)
        form.get_by_role("button", name="Afficher").click()
        p.wait_for_url(f"**/?annee=2024&acheteur={buyer}*")  # type: ignore[attr-defined]
        assert "2024" in p.locator("#synthese").inner_text()  # type: ignore[attr-defined]
        assert p.locator("main .notice").count() == 0  # type: ignore[attr-defined]
        # a jump link goes to its axis
        first = p.locator("nav.jump a").first  # type: ignore[attr-defined]
        target = first.get_attribute("href")
        first.click()
        p.wait_for_url(f"**{target}")  # type: ignore[attr-defined]
        assert p.locator(target).is_visible()  # type: ignore[attr-defined]
    finally:
        p.set_viewport_size({"width": 1280, "height": 720})  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [1366, 375])
def test_barometer_buyer_and_indicator_pages_fit_their_screen(
        page: object, site: str, buyer: str, width: int) -> None:  # noqa: F811
    """At 1366 and 375 px: no sideways scroll (wide tables scroll in their own frame), a
    screenshot of each page."""
    p: object = page
    p.set_viewport_size({"width": width, "height": 900})  # type: ignore[attr-defined]
    too_wide = []
    try:
        for name, path, shown in _pages(buyer):
            p.goto(site + path)  # type: ignore[attr-defined]
            assert p.locator(shown).count() >= 1, (path, shown)  # type: ignore[attr-defined]
            scroll = p.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
            if scroll > width + 1:
                too_wide.append((path, scroll))
            p.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)  # type: ignore[attr-defined]
    finally:
        p.set_viewport_size({"width": 1280, "height": 720})  # type: ignore[attr-defined]
    assert not too_wide


@pytest.fixture(scope="module")
def static_page(page: object) -> Iterator[object]:  # noqa: F811
    """A page without JavaScript, in the same browser: the charts as the server draws them."""
    context = page.context.browser.new_context(  # type: ignore[attr-defined]
        java_script_enabled=False, locale="fr-FR", viewport={"width": 1366, "height": 900})
    yield context.new_page()
    context.close()


def test_no_chart_text_is_drawn_outside_its_chart(static_page: object, site: str,  # noqa: F811
                                                  buyer: str) -> None:
    """Every label, value and n of the server-drawn charts lies inside its chart's box."""
    p: object = static_page
    checked = 0
    for _, path, _ in _pages(buyer):
        p.goto(site + path)  # type: ignore[attr-defined]
        outside = p.evaluate("""() => {  // noqa
            const out = [];
            let n = 0;
            document.querySelectorAll('figure.chart svg').forEach(svg => {
                const box = svg.viewBox.baseVal;
                svg.querySelectorAll('text').forEach(t => {
                    const b = t.getBBox();
                    n += 1;
                    if (b.x < -0.5 || b.y < -0.5 || b.x + b.width > box.width + 0.5
                        || b.y + b.height > box.height + 0.5) {
                        out.push(t.textContent + ' ' + [b.x, b.width, box.width].join('/'));
                    }
                });
            });
            return {out, n};
        }""")
        assert not outside["out"], (path, outside["out"])
        checked += outside["n"]
    assert checked >= 30
