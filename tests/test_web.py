"""The public pages and their twins, through Django's test client, on the real demo data."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from html import escape
from itertools import pairwise

import pytest

from tests.conftest import Warehouse


def _text(response: object) -> str:
    return response.content.decode("utf-8")  # type: ignore[attr-defined]


def test_barometer_shows_axes_and_indicators(client: object, demo_warehouse: Warehouse) -> None:
    response = client.get("/")  # type: ignore[attr-defined]
    assert response.status_code == 200
    page = _text(response)
    assert '<html lang="fr">' in page
    assert "Accès amélioré à la commande publique" in page
    assert 'href="/indicateurs/marches-pme/"' in page
    assert "Données non disponibles" in page  # Egalim, accounting…
    # every card shows the reference year, the last complete one; in the demo it holds a
    # handful of contracts: A01 publishes no value, only its sample size (below 30)
    reference = date.today().year - 1
    assert f"Période de référence de toutes les valeurs : <strong>{reference}</strong>" in page
    categories: dict[str, list[str | None]] = {}
    for uid, category in demo_warehouse.rows(
        """SELECT c.uid, s.category FROM contracts c
           JOIN contract_holders h ON h.uid = c.uid AND h.is_current
           LEFT JOIN suppliers s ON s.supplier_key = h.supplier_key
           WHERE c.kind = 'marche' AND c.notification_year = ?""", [reference]):
        categories.setdefault(uid, []).append(category)
    known = sum(1 for cats in categories.values() if "PME" in cats or all(cats))
    assert known < 30
    assert f"Échantillon trop petit (n\u00a0=\u00a0{known})" in page


def test_barometer_twins_carry_the_same_data(client: object) -> None:
    data = json.loads(_text(client.get("/index.json")))  # type: ignore[attr-defined]
    by_id = {r["indicator_id"]: r for r in data["indicateurs"]}
    # the same reference period for every indicator computed
    assert {r["period"] for r in data["indicateurs"] if r["available"]} == {
        str(date.today().year - 1)}
    assert by_id["marches-pme"]["serie"]
    rows = list(csv.DictReader(io.StringIO(_text(client.get("/index.csv")))))  # type: ignore[attr-defined]
    assert {r["indicator_id"] for r in rows} == set(by_id)
    csv_a01 = next(r for r in rows if r["indicator_id"] == "marches-pme")
    assert (csv_a01["period"], csv_a01["status"]) == (
        by_id["marches-pme"]["period"], by_id["marches-pme"]["status"])
    assert int(csv_a01["known_count"]) == by_id["marches-pme"]["known_count"]


def test_indicator_page_explains_and_breaks_down(
    client: object, demo_warehouse: Warehouse
) -> None:
    response = client.get(  # type: ignore[attr-defined]
        "/indicateurs/marches-pme/?ventilation=purchase_domain&periode=2024&base=count")
    assert response.status_code == 200
    page = _text(response)
    assert "Part des marchés attribués à des PME" in page
    assert "supplier_is_sme" in page and "Comment c'est calculé" in page
    assert "Travaux" in page  # the 2024 extract is works contracts only
    data = json.loads(_text(client.get(  # type: ignore[attr-defined]
        "/indicateurs/marches-pme.json?ventilation=purchase_domain&periode=2024")))
    assert [g["breakdown_value"] for g in data["groupes"]] == ["travaux"]
    # every 2024 contract (the lots of a reused id are contracts of their own)
    assert data["groupes"][0]["record_count"] == demo_warehouse.value(
        "SELECT count(*) FROM contracts WHERE kind = 'marche' AND notification_year = 2024")


def test_unknown_indicator_is_404_and_bad_parameters_fall_back(client: object) -> None:
    assert client.get("/indicateurs/n-existe-pas/").status_code == 404  # type: ignore[attr-defined]
    response = client.get(  # type: ignore[attr-defined]
        "/indicateurs/marches-pme/?ventilation=<script>&periode=x&page=abc")
    assert response.status_code == 200
    assert "<script>" not in _text(response)


def test_csv_exports_neutralise_formulas() -> None:
    from observatoire.datasets import neutralise

    assert neutralise("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert neutralise("+33") == "'+33" and neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise("Région Bretagne") == "Région Bretagne" and neutralise(-3.5) == -3.5


def test_explorer_counts_and_totals_match_plain_sql(
    client: object, demo_warehouse: Warehouse
) -> None:
    data = json.loads(_text(client.get(  # type: ignore[attr-defined]
        "/marches.json?annee=2019&procedure=Proc%C3%A9dure+adapt%C3%A9e&tri=montant")))
    count, total = demo_warehouse.rows(
        """SELECT count(*), sum(amount) FROM contracts
           WHERE notification_year = 2019 AND procedure = 'Procédure adaptée'""")[0]
    assert (data["total"], data["montant_total"]) == (count, pytest.approx(total))
    amounts = [m["amount"] for m in data["elements"] if m["amount"] is not None]
    assert amounts == sorted(amounts, reverse=True)
    assert data["filtres"] == {"annee": "2019", "procedure": "Procédure adaptée"}


def test_explorer_sums_contracts_not_holders(client: object, demo_warehouse: Warehouse) -> None:
    # contracts of 2024 with a PME among their holders: several have more than one holder
    data = json.loads(_text(client.get("/marches.json?annee=2024&categorie=PME")))  # type: ignore[attr-defined]
    count, total, multi = demo_warehouse.rows(
        """SELECT count(*), sum(amount), count(*) FILTER (WHERE holder_count > 1)
           FROM contracts c WHERE notification_year = 2024 AND EXISTS (
               SELECT 1 FROM contract_holders h JOIN suppliers s USING (supplier_key)
               WHERE h.uid = c.uid AND h.is_current AND s.category = 'PME')""")[0]
    assert multi > 0
    assert (data["total"], data["montant_total"]) == (count, pytest.approx(total))


def test_explorer_text_filter_is_escaped_and_bad_values_said(client: object) -> None:
    page = _text(client.get(  # type: ignore[attr-defined]
        "/marches/?texte=%3Cscript%3Ealert(1)%3C%2Fscript%3E&annee=deux-mille"))
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Filtre « annee » ignoré" in page
    # amounts that Python reads as numbers but that are none (they matched nothing, silently)
    data = json.loads(_text(client.get(  # type: ignore[attr-defined]
        "/marches.json?montant_min=nan&montant_max=inf")))
    assert data["filtres"] == {}


def test_contract_page_shows_versions_holders_provenance_and_quality(
    client: object, demo_warehouse: Warehouse
) -> None:
    uid, modifications = demo_warehouse.rows(
        """SELECT uid, modification_count FROM contracts WHERE modification_count > 0
           AND uid IN (SELECT uid FROM findings) ORDER BY uid LIMIT 1""")[0]
    response = client.get(f"/marches/{uid}/")  # type: ignore[attr-defined]
    assert response.status_code == 200
    page = _text(response)
    assert "Versions et modifications" in page and "Provenance" in page
    data = json.loads(_text(client.get(f"/marches/{uid}.json")))  # type: ignore[attr-defined]
    assert len(data["versions"]) == modifications + 1
    assert data["findings"] and all(f["title"] for f in data["findings"])
    assert data["records"][0]["status"] in ("kept", "duplicate")
    assert client.get("/marches/pas-un-marche/").status_code == 404  # type: ignore[attr-defined]


def test_buyer_page_and_twins_match_plain_sql(client: object, demo_warehouse: Warehouse) -> None:
    siret, count = demo_warehouse.rows(
        "SELECT buyer_siret, contract_count FROM buyers ORDER BY contract_count DESC, 1 LIMIT 1")[0]
    response = client.get(f"/acheteurs/{siret}/")  # type: ignore[attr-defined]
    assert response.status_code == 200
    data = json.loads(_text(client.get(f"/acheteurs/{siret}.json")))  # type: ignore[attr-defined]
    assert sum(y["contracts"] for y in data["by_year"]) == count
    assert sum(c["contracts"] for c in data["categories"]) == count
    top = demo_warehouse.rows(
        """SELECT h.supplier_key, sum(c.amount) AS amount FROM contracts c
           JOIN contract_holders h ON h.uid = c.uid AND h.is_current
           WHERE c.buyer_siret = ? GROUP BY 1 ORDER BY amount DESC NULLS LAST, 1 LIMIT 1""",
        [siret])[0]
    assert data["suppliers"][0]["amount"] == pytest.approx(top[1])
    assert client.get("/acheteurs/00000000000000/").status_code == 404  # type: ignore[attr-defined]


def test_supplier_page_by_siret(client: object, demo_warehouse: Warehouse) -> None:
    siret, key = demo_warehouse.rows(
        """SELECT s.siret, s.supplier_key FROM suppliers s WHERE s.siret IS NOT NULL
           ORDER BY s.contract_count DESC, 1 LIMIT 1""")[0]
    response = client.get(f"/titulaires/{siret}/")  # type: ignore[attr-defined]
    assert response.status_code == 200
    data = json.loads(_text(client.get(f"/titulaires/{siret}.json")))  # type: ignore[attr-defined]
    contracts = demo_warehouse.value(
        "SELECT count(DISTINCT uid) FROM contract_holders WHERE supplier_key = ? AND is_current",
        [key])
    assert sum(y["contracts"] for y in data["by_year"]) == contracts


def test_api_answers_as_its_openapi_description_says(
    client: object, demo_warehouse: Warehouse
) -> None:
    spec = json.loads(_text(client.get("/api/openapi.json")))  # type: ignore[attr-defined]
    assert spec["openapi"].startswith("3.")
    siret = demo_warehouse.value(
        "SELECT buyer_siret FROM buyers ORDER BY contract_count DESC LIMIT 1")
    uid = demo_warehouse.value("SELECT uid FROM contracts ORDER BY uid LIMIT 1")
    supplier = demo_warehouse.value(
        "SELECT siret FROM suppliers WHERE siret IS NOT NULL ORDER BY siret LIMIT 1")
    values = {"uid": uid, "siret": siret, "id": supplier}

    def resolved(schema: dict[str, object]) -> dict[str, object]:  # a $ref to components
        name = str(schema.get("$ref", "")).rpartition("/")[2]
        return spec["components"]["schemas"][name] if name else schema

    for path, item in spec["paths"].items():
        op = item["get"]
        url = path
        for p in op["parameters"]:
            if p["in"] == "path":
                value = "marches-pme" if "indicateurs" in path else values[p["name"]]
                url = url.replace("{" + p["name"] + "}", value)
        response = client.get(url)  # type: ignore[attr-defined]
        assert response.status_code == 200, url
        body = json.loads(_text(response))
        schema = resolved(op["responses"]["200"]["content"]["application/json"]["schema"])
        if schema["type"] == "object":
            assert set(schema.get("required", [])) <= set(body), url
            items = resolved(schema["properties"].get("elements", {}).get("items", {}))
            if items and body["elements"]:
                assert set(items.get("required", [])) <= set(body["elements"][0]), url
        else:
            assert isinstance(body, list) and body
            assert set(resolved(schema["items"])["required"]) <= set(body[0]), url
    page = json.loads(_text(client.get(  # type: ignore[attr-defined]
        "/api/v1/marches?annee=2019&taille=10&page=2")))
    assert page["total"] == demo_warehouse.value(
        "SELECT count(*) FROM contracts WHERE notification_year = 2019")
    assert len(page["elements"]) == 10 and page["page"] == 2
    assert client.get("/api/v1/marches/inconnu").status_code == 404  # type: ignore[attr-defined]
    assert "GET /api/v1/marches" in _text(client.get("/api/"))  # type: ignore[attr-defined]


def test_opportunities_list_the_contracts_ending_soon(
    client: object, demo_warehouse: Warehouse
) -> None:
    import calendar
    from datetime import date

    today = date.today()
    # the same day 24 months later, or the last day of that month
    last_day = calendar.monthrange(today.year + 2, today.month)[1]
    until = date(today.year + 2, today.month, min(today.day, last_day))
    data = json.loads(_text(client.get("/opportunites.json?mois=24")))  # type: ignore[attr-defined]
    expected = demo_warehouse.value(
        "SELECT count(*) FROM contracts WHERE estimated_end_date >= ? AND estimated_end_date < ?",
        [today, until])
    assert data["total"] == expected
    ends = [c["estimated_end_date"] for c in data["elements"]]
    assert ends == sorted(ends)
    feed = client.get("/opportunites.atom?mois=24")  # type: ignore[attr-defined]
    assert feed["Content-Type"].startswith("application/atom+xml")
    assert _text(feed).count("<entry>") == min(data["total"], 200)
    assert client.get("/opportunites/").status_code == 200  # type: ignore[attr-defined]


def test_quality_page_reconciles_records(client: object, demo_warehouse: Warehouse) -> None:
    page = _text(client.get("/qualite/"))  # type: ignore[attr-defined]
    total = demo_warehouse.value("SELECT count(*) FROM source_records")
    assert "15\u202f127 enregistrements lus" in page and total == 15_127
    data = json.loads(_text(client.get("/qualite.json")))  # type: ignore[attr-defined]
    assert sum(r["records"] for r in data["records"]) == total
    sources = {s for (s,) in demo_warehouse.rows(
        "SELECT DISTINCT source FROM source_records WHERE status = 'kept'")}
    assert {s["source"] for s in data["completeness"]} == sources
    assert sum(s["contracts"] for s in data["completeness"]) == demo_warehouse.value(
        "SELECT count(*) FROM contracts")


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet", "xlsx"])
def test_datasets_download_in_every_format(
    client: object, demo_warehouse: Warehouse, fmt: str
) -> None:
    response = client.get(f"/donnees/acheteurs.{fmt}")  # type: ignore[attr-defined]
    assert response.status_code == 200
    content = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    buyers = demo_warehouse.value("SELECT count(*) FROM buyers")
    if fmt == "csv":
        assert len(list(csv.reader(io.StringIO(content.decode("utf-8"))))) == buyers + 1
    elif fmt == "json":
        assert len(json.loads(content)) == buyers
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        assert pq.read_table(io.BytesIO(content)).num_rows == buyers
    else:
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(content), read_only=True).active
        assert sheet is not None and sum(1 for _ in sheet.iter_rows()) == buyers + 1


def test_xlsx_and_csv_exports_never_hold_a_formula(client: object) -> None:
    """Real objects published as '-\tAcquisition…' (AIFE) must stay text in a spreadsheet."""
    from openpyxl import load_workbook

    response = client.get("/donnees/constats.xlsx")  # type: ignore[attr-defined]
    content = b"".join(response.streaming_content)
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    neutralised = 0
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f", cell.value
            neutralised += isinstance(cell.value, str) and cell.value.startswith("'-\t")
    assert neutralised == 2  # the two findings on those objects


def test_data_page_lists_datasets_with_their_dictionary(client: object) -> None:
    page = _text(client.get("/donnees/"))  # type: ignore[attr-defined]
    assert "/donnees/marches.parquet" in page and "Dictionnaire des données" in page
    assert client.get("/donnees/inconnu.csv").status_code == 404  # type: ignore[attr-defined]


def test_indicator_drills_down_to_the_contracts_counted(
    client: object, demo_warehouse: Warehouse
) -> None:
    num, records = demo_warehouse.rows(
        """SELECT numerator, record_count FROM indicator_results WHERE indicator_id = 'marches-pme'
           AND period = '2019' AND breakdown = 'total'""")[0]
    counted = json.loads(_text(client.get(  # type: ignore[attr-defined]
        "/indicateurs/marches-pme/marches.json?periode=2019")))
    population = json.loads(_text(client.get(  # type: ignore[attr-defined]
        "/indicateurs/marches-pme/marches.json?periode=2019&partie=population")))
    assert (counted["total"], population["total"]) == (num, records)
    # one group of a breakdown: the PME contracts of the works domain in 2019
    group = demo_warehouse.value(
        """SELECT numerator FROM indicator_results WHERE indicator_id = 'marches-pme'
           AND period = '2019' AND breakdown = 'purchase_domain' AND breakdown_value = 'travaux'""")
    works = json.loads(_text(client.get(  # type: ignore[attr-defined]
        "/indicateurs/marches-pme/marches.json?periode=2019&ventilation=purchase_domain"
        "&groupe=travaux")))
    assert works["total"] == group
    page = _text(client.get("/indicateurs/marches-pme/"))  # type: ignore[attr-defined]
    assert "/indicateurs/marches-pme/marches/?periode=2019" in page
    listing = client.get("/indicateurs/marches-pme/marches/?periode=2019")  # type: ignore[attr-defined]
    assert listing.status_code == 200 and "/marches/" in _text(listing)


def test_maps_are_svg_with_their_values_in_words(
    client: object, demo_warehouse: Warehouse
) -> None:
    page = _text(client.get(  # type: ignore[attr-defined]
        "/indicateurs/repartition-departements-titulaires/?periode=2024&base=count"))
    import re

    assert re.search(r'<svg viewBox="0 0 560\.0 \d+\.\d"', page)  # no French decimal commas
    assert page.count("<path ") == 96
    count = demo_warehouse.value(
        """SELECT numerator FROM indicator_results
           WHERE indicator_id = 'repartition-departements-titulaires' AND period = '2024'
           AND breakdown = 'total' AND basis = 'count' AND category = '35'""")
    assert f"Ille-et-Vilaine (35) : {int(count)} marchés" in page
    siret = demo_warehouse.value(
        "SELECT siret FROM suppliers WHERE siret IS NOT NULL ORDER BY contract_count DESC LIMIT 1")
    supplier_page = _text(client.get(f"/titulaires/{siret}/"))  # type: ignore[attr-defined]
    assert "Où s'exécutent ses marchés" in supplier_page and "<svg" in supplier_page


def test_indicator_chart_has_a_point_per_year_with_its_value(
    client: object, demo_warehouse: Warehouse
) -> None:
    page = _text(client.get("/indicateurs/marches-pme/"))  # type: ignore[attr-defined]
    years = demo_warehouse.rows(
        """SELECT period_year, value FROM indicator_results WHERE indicator_id = 'marches-pme'
           AND breakdown = 'total' AND period_year IS NOT NULL AND value IS NOT NULL
           ORDER BY 1""")
    assert "<polyline" in page and page.count("<circle") == len(years)
    assert 'viewBox="0 0 560.0 220.0"' in page
    year, value = years[-1]
    assert f"<title>{year} : {value * 100:.1f}".replace(".", ",") in page


def test_every_route_and_its_twins_answer(client: object, demo_warehouse: Warehouse) -> None:
    from urllib.parse import quote

    siret = demo_warehouse.value(
        "SELECT buyer_siret FROM buyers ORDER BY contract_count DESC LIMIT 1")
    supplier = demo_warehouse.value(
        "SELECT siret FROM suppliers WHERE siret IS NOT NULL ORDER BY contract_count DESC LIMIT 1")
    uid = quote(demo_warehouse.value(
        "SELECT uid FROM contracts WHERE modification_count > 0 ORDER BY uid LIMIT 1"), safe="")
    pages = ["/", "/indicateurs/marches-pme/", "/indicateurs/marches-pme/marches/", "/marches/",
             f"/marches/{uid}/", f"/acheteurs/{siret}/", f"/titulaires/{supplier}/",
             "/opportunites/", "/qualite/", "/donnees/", "/api/"]
    twins = {"/": "/index", "/indicateurs/marches-pme/": "/indicateurs/marches-pme",
             "/indicateurs/marches-pme/marches/": "/indicateurs/marches-pme/marches",
             "/marches/": "/marches", f"/marches/{uid}/": f"/marches/{uid}",
             f"/acheteurs/{siret}/": f"/acheteurs/{siret}",
             f"/titulaires/{supplier}/": f"/titulaires/{supplier}",
             "/opportunites/": "/opportunites", "/qualite/": "/qualite"}
    for page in pages:
        response = client.get(page)  # type: ignore[attr-defined]
        assert response.status_code == 200, page
        assert _text(response).count("<h1") == 1, page
        if page in twins:
            for fmt, kind in (("json", "application/json"), ("csv", "text/csv")):
                twin = client.get(f"{twins[page]}.{fmt}")  # type: ignore[attr-defined]
                assert twin.status_code == 200 and twin["Content-Type"].startswith(kind), (
                    page, fmt)


def test_static_files_are_scripts_and_styles_only(client: object) -> None:
    ok = client.get("/static/charts.js")  # type: ignore[attr-defined]
    assert ok.status_code == 200 and ok["Content-Type"].startswith("text/javascript")
    assert b"uPlot" in b"".join(ok.streaming_content)
    vendor = client.get("/static/vendor/uPlot.iife.min.js")  # type: ignore[attr-defined]
    assert vendor.status_code == 200  # installed from the lockfile by tasks.py
    vendor.close()
    for path in ("/static/../settings.py", "/static/..%2Fsettings.py", "/static/vendor/.installed",
                 "/static/nothing.js"):
        assert client.get(path).status_code == 404, path  # type: ignore[attr-defined]
    page = _text(client.get("/indicateurs/marches-pme/"))  # type: ignore[attr-defined]
    assert '<script src="/static/charts.js" defer></script>' in page
    assert 'data-chart="{&quot;points&quot;: [[' in page


def test_buyer_page_maps_the_holders_communes_of_the_territory(
    client: object, demo_warehouse: Warehouse
) -> None:
    siret, commune, name, contracts = demo_warehouse.rows(
        """SELECT c.buyer_siret, s.commune_code, min(s.commune_name), count(DISTINCT c.uid) AS n
           FROM contracts c JOIN contract_holders h ON h.uid = c.uid AND h.is_current
           JOIN suppliers s ON s.supplier_key = h.supplier_key
           WHERE s.region_code = '53' AND s.commune_code IS NOT NULL
           GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 1""")[0]
    page = _text(client.get(f"/acheteurs/{siret}/"))  # type: ignore[attr-defined]
    assert "Marchés par commune des titulaires (Bretagne)" in page
    assert f"<td>{escape(name)} ({commune})</td><td class=\"num\">{contracts}</td>" in page
    assert page.count("<svg") >= 2


def test_explorer_lists_the_purchase_domain_the_indicators_count(
    client: object, demo_warehouse: Warehouse
) -> None:
    """The list works out each page's domains from their CPV codes (not by joining the million
    rows of indicator_contracts): it must give the domain the indicators count, every page."""
    expected = dict(demo_warehouse.rows("SELECT uid, purchase_domain FROM indicator_contracts"))
    seen: dict[str, str] = {}
    page, pages = 1, 1
    while page <= pages:
        body = json.loads(_text(client.get(f"/marches.json?page={page}")))  # type: ignore[attr-defined]
        pages = body["pages"]
        seen.update({c["uid"]: c["purchase_domain"] for c in body["elements"]})
        page += 1
    assert len(seen) == len(expected) > 1000
    assert seen == expected


@pytest.mark.appdb
def test_stewards_pages_bound_their_parameters(
    client: object, application_database: object
) -> None:
    """``/gestion/cibles/?echeance=abc`` was an internal error (the text went to a date
    column's query); it now pre-fills the form without a change in force."""
    from tests.conftest import make_account, signed_in

    admin = signed_in(make_account("admin-echeance", "administrateur").user)
    for deadline in ("abc", "2025-13-45", "9" * 30):
        response = admin.get("/gestion/cibles/?indicateur=marches-pme&base=count"
                             f"&echeance={deadline}")
        assert response.status_code == 200, deadline
        assert 'name="valeur"' in _text(response)
    # the stewards' lists, paged like the public ones
    for path in ("/gestion/", "/gestion/correspondances/", "/gestion/corrections/",
                 "/gestion/journal/"):
        assert admin.get(f"{path}?page={'9' * 30}").status_code == 200, path


def test_indicator_page_shows_gaps_small_samples_and_the_holder_methods(
    client: object, demo_warehouse: Warehouse
) -> None:
    page = _text(client.get(  # type: ignore[attr-defined]
        "/indicateurs/marches-pme/?periode=2024&base=count"))
    years = [y for (y,) in demo_warehouse.rows(
        """SELECT period_year FROM indicator_results WHERE indicator_id = 'marches-pme'
           AND breakdown = 'total' AND period_year IS NOT NULL AND value IS NOT NULL
           ORDER BY 1""")]
    # a year without a value breaks the line: one polyline per run of consecutive years
    runs = 1 + sum(1 for a, b in pairwise(years) if b != a + 1)
    assert page.count("<polyline") == runs > 1
    small = demo_warehouse.rows(
        """SELECT known_count FROM indicator_results WHERE indicator_id = 'marches-pme'
           AND breakdown = 'total' AND status = 'small_sample'""")
    assert small and all(f"échantillon trop petit (n\u00a0=\u00a0{n})" in page for (n,) in small)
    assert "Marchés à plusieurs titulaires" in page and "titulaire principal" in page
    data = json.loads(_text(client.get(  # type: ignore[attr-defined]
        "/indicateurs/marches-pme.json?periode=2024&base=count")))
    lead = next(m for m in data["methodes_plusieurs_titulaires"] if m["method"] == "lead")
    published = demo_warehouse.rows(
        """SELECT numerator, denominator FROM indicator_results WHERE indicator_id = 'marches-pme'
           AND period = '2024' AND breakdown = 'total'""")[0]
    assert (lead["numerator"], lead["denominator"]) == published
