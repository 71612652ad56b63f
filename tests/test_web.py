"""The public pages and their twins, through Django's test client, on the real demo data."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator

import pytest

from tests.conftest import Warehouse


@pytest.fixture(scope="module")
def client(demo_warehouse: Warehouse) -> Iterator[object]:
    os.environ["OBSERVATOIRE_HOME"] = str(demo_warehouse.settings.home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatoire.web.settings")
    import django

    django.setup()
    from django.test import Client

    yield Client()


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
    # the A01 card shows the 2024 value, computed independently in test_indicators
    a01 = demo_warehouse.value(
        """SELECT value FROM indicator_results WHERE indicator_id = 'marches-pme'
           AND period = '2024' AND breakdown = 'total'""")
    assert f"{a01 * 100:.1f}".replace(".", ",") + "\u00a0%" in page


def test_barometer_twins_carry_the_same_data(client: object) -> None:
    data = json.loads(_text(client.get("/index.json")))  # type: ignore[attr-defined]
    by_id = {r["indicator_id"]: r for r in data["indicateurs"]}
    assert by_id["marches-pme"]["period"] == "2024"
    assert by_id["marches-pme"]["serie"]
    rows = list(csv.DictReader(io.StringIO(_text(client.get("/index.csv")))))  # type: ignore[attr-defined]
    assert {r["indicator_id"] for r in rows} == set(by_id)
    assert float(next(r for r in rows if r["indicator_id"] == "marches-pme")["value"]) == (
        pytest.approx(by_id["marches-pme"]["value"]))


def test_indicator_page_explains_and_breaks_down(client: object) -> None:
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
    assert data["groupes"][0]["record_count"] == 5179


def test_unknown_indicator_is_404_and_bad_parameters_fall_back(client: object) -> None:
    assert client.get("/indicateurs/n-existe-pas/").status_code == 404  # type: ignore[attr-defined]
    response = client.get(  # type: ignore[attr-defined]
        "/indicateurs/marches-pme/?ventilation=<script>&periode=x&page=abc")
    assert response.status_code == 200
    assert "<script>" not in _text(response)


def test_csv_exports_neutralise_formulas() -> None:
    from observatoire.web.exports import neutralise

    assert neutralise("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")"
    assert neutralise("+33") == "'+33" and neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise("Région Bretagne") == "Région Bretagne" and neutralise(-3.5) == -3.5
