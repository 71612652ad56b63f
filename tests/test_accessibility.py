"""Accessibility checks in the spirit of the RGAA, on every public page of the demo site: the
language, one title and one h1, labelled form fields, charts and maps with a text alternative,
table headers, links with text, a skip link, and the contrast of the site's colours."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

from tests.conftest import Warehouse

BASE = Path(__file__).resolve().parents[1] / "src" / "observatoire" / "web" / "templates"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.titles = 0
        self.h1 = 0
        self.fields: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.in_label = 0
        self.svgs: list[dict[str, str | None]] = []
        self.svg_titles = 0
        self.in_svg = 0
        self.th_without_scope = 0
        self.links: list[list[str]] = []
        self.skip = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang") or ""
        elif tag == "title" and not self.in_svg:
            self.titles += 1
        elif tag == "h1":
            self.h1 += 1
        elif tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.label_for.add(a["for"] or "")
        elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.fields.append({**a, "wrapped": "1" if self.in_label else None})
        elif tag == "svg":
            self.in_svg += 1
            self.svgs.append(a)
        elif tag == "title" and self.in_svg:
            self.svg_titles += 1
        elif tag == "th" and a.get("scope") not in ("col", "row"):
            self.th_without_scope += 1
        elif tag == "a":
            self.links.append([a.get("href") or "", a.get("aria-label") or ""])
            if a.get("class") == "skip" and a.get("href") == "#contenu":
                self.skip = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1
        elif tag == "svg":
            self.in_svg -= 1

    def handle_data(self, data: str) -> None:
        if self.links and data.strip():
            self.links[-1][1] += data.strip()


def _pages(wh: Warehouse) -> list[str]:
    siret = wh.value("SELECT buyer_siret FROM buyers ORDER BY contract_count DESC LIMIT 1")
    supplier = wh.value(
        "SELECT siret FROM suppliers WHERE siret IS NOT NULL ORDER BY contract_count DESC LIMIT 1")
    uid = quote(wh.value(
        "SELECT uid FROM contracts WHERE modification_count > 0 ORDER BY uid LIMIT 1"), safe="")
    return ["/", "/indicateurs/marches-pme/", "/indicateurs/marches-pme/marches/",
            "/marches/?annee=2019", f"/marches/{uid}/", f"/acheteurs/{siret}/",
            f"/titulaires/{supplier}/", "/opportunites/", "/qualite/", "/donnees/", "/api/",
            "/egalim/", "/acheteurs/?q=ecole", "/titulaires/"]


def test_every_page_meets_the_basic_criteria(client: object, demo_warehouse: Warehouse) -> None:
    checked = {"fields": 0, "svgs": 0, "links": 0}
    for url in _pages(demo_warehouse):
        response = client.get(url)  # type: ignore[attr-defined]
        assert response.status_code == 200, url
        page = _Page()
        page.feed(response.content.decode("utf-8"))
        assert page.lang == "fr", url
        assert page.titles == 1 and page.h1 == 1, url
        assert page.skip, f"{url}: lien d'évitement vers le contenu"
        for field in page.fields:  # every field has a label
            assert (field.get("id") in page.label_for or field.get("wrapped")
                    or field.get("aria-label")), (url, field)
        for svg in page.svgs:  # charts and maps: an image with a text alternative, or hidden
            assert svg.get("aria-hidden") == "true" or (
                svg.get("role") == "img" and svg.get("aria-labelledby")), (url, svg)
        labelled = [s for s in page.svgs if s.get("role") == "img"]
        assert page.svg_titles >= len(labelled), url
        assert page.th_without_scope == 0, url
        for href, text in page.links:  # no empty link
            assert text, (url, href)
        checked["fields"] += len(page.fields)
        checked["svgs"] += len(page.svgs)
        checked["links"] += len(page.links)
    # the checks above ran on real content, not on empty pages
    assert checked["fields"] >= 5 and checked["svgs"] >= 5 and checked["links"] >= 100, checked


def _luminance(colour: str) -> float:
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_text_colours_have_enough_contrast() -> None:
    """WCAG 2.1 AA (RGAA criterion 3.2): 4.5:1 for text on its background."""
    css = (BASE.parent / "static" / "site.css").read_text(encoding="utf-8")
    colours = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-fA-F]{6})", css))
    assert colours, "the colour variables of site.css"
    for name in ("ink", "muted", "accent", "met", "notmet", "track", "none"):
        if name in colours:
            assert _contrast(colours[name], "#ffffff") >= 4.5, name
    assert _contrast("#ffffff", colours["accent"]) >= 4.5  # header text on the accent colour
    assert _contrast("#1e1e1e", "#fff4e5") >= 4.5  # the simulated-data notice
