"""The site's basics on the real demo data: freshness and licence on every page, methodology,
legal notice, accessibility statement, contact, robots.txt, sitemap.xml, favicon, descriptions.

Expected values are read from the load and build logs with sqlite3 and from the warehouse with
plain SQL, never from the pages' own helpers.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from html import unescape

import pytest
from lxml import etree

from observatoire.config import Settings
from observatoire.errors import ConfigError
from tests.conftest import Warehouse

MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre"]
PAGES = ["/", "/marches/", "/depenses/", "/opportunites/", "/qualite/", "/donnees/", "/api/",
         "/methodologie/", "/mentions-legales/", "/accessibilite/", "/contact/"]


def _text(response: object) -> str:
    return response.content.decode("utf-8")  # type: ignore[attr-defined]


def _catalog(wh: Warehouse, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(wh.settings.catalog_path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_page_says_when_the_data_was_built_and_under_which_licence(
        client: object, demo_warehouse: Warehouse) -> None:
    [(finished,)] = _catalog(demo_warehouse, "SELECT finished_at FROM builds "
                             "WHERE status = 'succeeded' ORDER BY build_id DESC LIMIT 1")
    moment = datetime.fromisoformat(str(finished))
    expected = f"{moment.day} {MONTHS[moment.month - 1]} {moment.year} à {moment:%H:%M} (UTC)"
    for path in PAGES:
        page = _text(client.get(path))  # type: ignore[attr-defined]
        assert f"Données mises à jour le {expected}" in page.replace("\u00a0", " "), path
        assert "Licence Ouverte / Open Licence 2.0" in page, path
        for link in ("/methodologie/", "/mentions-legales/", "/accessibilite/", "/contact/"):
            assert f'href="{link}"' in page, (path, link)


def test_methodology_lists_every_source_with_its_newest_file(
        client: object, demo_warehouse: Warehouse) -> None:
    page = _text(client.get("/methodologie/"))  # type: ignore[attr-defined]
    rows = _catalog(demo_warehouse, "SELECT source, count(*), sum(records) FROM loads "
                    "GROUP BY source")
    assert rows
    for source, files, records in rows:
        newest = _catalog(demo_warehouse, "SELECT file_name FROM loads WHERE source = '"
                          f"{source}' ORDER BY loaded_at DESC, load_id DESC LIMIT 1")[0][0]
        row = re.search(r"<tr><th scope=\"row\">" + re.escape(str(source)) + r"</th>(.*?)</tr>",
                        page)
        assert row, source
        cells = [re.sub(r"\s", "", unescape(c)) for c in re.findall(r"<td>([^<]*)</td>",
                                                                    row.group(1))]
        assert cells[:3] == [str(files), str(records), str(newest)], (source, cells)


def test_robots_keeps_crawlers_out_of_the_stewardship_side(client: object) -> None:
    response = client.get("/robots.txt")  # type: ignore[attr-defined]
    assert response["Content-Type"].startswith("text/plain")
    lines = _text(response).splitlines()
    assert "User-agent: *" in lines and "Disallow: /gestion/" in lines
    assert "Sitemap: http://testserver/sitemap.xml" in lines


def test_sitemap_lists_pages_indicators_and_buyers_that_all_answer(
        client: object, demo_warehouse: Warehouse) -> None:
    response = client.get("/sitemap.xml")  # type: ignore[attr-defined]
    assert response["Content-Type"].startswith("application/xml")
    tree = etree.fromstring(response.content)
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    urls = [u.text for u in tree.findall("s:url/s:loc", ns)]
    assert len(urls) == len(set(urls)) <= 50_000
    paths = [u.removeprefix("http://testserver") for u in urls if u]
    for page in PAGES:
        assert page in paths
    indicators = {i for (i,) in demo_warehouse.rows(
        "SELECT DISTINCT indicator_id FROM indicator_results")}
    assert {f"/indicateurs/{i}/" for i in indicators} <= set(paths)
    buyers = demo_warehouse.value(
        "SELECT count(DISTINCT buyer_siret) FROM contracts "
        "WHERE regexp_full_match(buyer_siret, '[0-9]{14}')")
    listed = [p for p in paths if p.startswith("/acheteurs/")]
    assert len(listed) == buyers
    for path in paths[:15] + listed[:10]:
        assert client.get(path).status_code == 200, path  # type: ignore[attr-defined]


def test_favicon_is_served(client: object) -> None:
    response = client.get("/favicon.ico")  # type: ignore[attr-defined]
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"
    icon = client.get("/static/favicon.svg")  # type: ignore[attr-defined]
    assert icon.status_code == 200 and icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)


def test_pages_have_their_own_description(client: object, demo_warehouse: Warehouse) -> None:
    uid = demo_warehouse.value("SELECT min(uid) FROM contracts")
    seen = set()
    for path in [*PAGES, "/indicateurs/marches-pme/", f"/marches/{uid}/"]:
        page = _text(client.get(path))  # type: ignore[attr-defined]
        found = re.findall(r'<meta name="description" content="([^"]+)">', page)
        assert len(found) == 1 and len(found[0]) > 40, path
        seen.add(found[0])
    assert len(seen) >= 10  # each kind of page describes itself


def test_contact_and_host_come_from_the_settings(
        client: object, monkeypatch: pytest.MonkeyPatch) -> None:
    page = _text(client.get("/contact/"))  # type: ignore[attr-defined]
    assert "pas encore indiqué d'adresse de contact" in page
    monkeypatch.setenv("OBSERVATOIRE_CONTACT", "donnees@region.example")
    monkeypatch.setenv("OBSERVATOIRE_HOST", "Hébergeur & Cie, 1 rue de l'Exemple, Rennes")
    assert 'href="mailto:donnees@region.example"' in _text(
        client.get("/contact/"))  # type: ignore[attr-defined]
    legal = _text(client.get("/mentions-legales/"))  # type: ignore[attr-defined]
    assert "Hébergeur &amp; Cie, 1 rue de l&#x27;Exemple, Rennes" in legal


@pytest.mark.parametrize("value", ["javascript:alert(1)", "pas une adresse", "a@b"])
def test_a_contact_that_is_neither_mail_nor_web_address_is_refused(
        value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSERVATOIRE_CONTACT", value)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env()
    assert raised.value.where == "OBSERVATOIRE_CONTACT"
    assert "ni une adresse électronique ni une adresse web" in raised.value.message


def test_accessibility_statement_says_not_compliant_without_an_audit(client: object) -> None:
    page = _text(client.get("/accessibilite/"))  # type: ignore[attr-defined]
    assert "<strong>non conforme</strong>" in page and "RGAA" in page
    assert "Défenseur des droits" in page


def test_site_pages_answer_only_reads(client: object) -> None:
    for path in ("/methodologie/", "/contact/", "/robots.txt", "/sitemap.xml"):
        response = client.post(path)  # type: ignore[attr-defined]
        assert response.status_code == 405, path
        assert response["Allow"] == "GET, HEAD"
