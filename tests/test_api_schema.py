"""The API's answers against their typed OpenAPI description.

Schemathesis (schema-driven: it reads /api/openapi.json and makes queries from each
operation's parameters) runs against a real server on 127.0.0.1 on the demo warehouse, with a
small example budget: no answer is a server error, every status and every body is one the
description declares. The kinds declared for the warehouse's columns are checked against the
warehouse's own types.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from observatoire.web.api import openapi_document
from observatoire.web.api_schemas import TABLE_COLUMNS
from tests.conftest import Warehouse, live_server


@pytest.fixture(scope="module")
def site(demo_warehouse: Warehouse) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OBSERVATOIRE_HOME", str(demo_warehouse.settings.home))
        env.setenv("OBSERVATOIRE_PROFILE", demo_warehouse.settings.profile)
        with live_server() as url:
            yield url


# The description as /api/openapi.json serves it (the view dumps this document); loaded
# here because schemathesis's fixture-based loader does not run on pytest 9 (it sets a node
# attribute pytest no longer has). The queries go to the live server all the same.
schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_described(case: Any, site: str) -> None:
    case.call_and_validate(base_url=site, checks=[
        not_a_server_error, status_code_conformance, content_type_conformance,
        response_schema_conformance])


def test_the_served_description_is_the_one_checked(site: str) -> None:
    served = requests.get(site + "/api/openapi.json", timeout=30).json()
    assert served == json.loads(json.dumps(openapi_document()))


def test_every_answer_is_typed(site: str) -> None:
    """Each operation declares its 200 answer and its errors; every value in the 200
    schemas has a type, but where any value is allowed on purpose."""
    document = requests.get(site + "/api/openapi.json", timeout=30).json()
    components = document["components"]["schemas"]
    untyped: list[str] = []

    def walk(node: dict[str, Any], where: str) -> None:
        if "$ref" in node:
            return  # the components are walked on their own
        if "type" not in node and not where.endswith(("source_value", "corrected_value")):
            untyped.append(where)
        for name, child in node.get("properties", {}).items():
            walk(child, f"{where}.{name}")
        if isinstance(node.get("items"), dict):
            walk(node["items"], where + "[]")

    for name, component in components.items():
        walk(component, name)
    for path, item in document["paths"].items():
        responses = item["get"]["responses"]
        assert {"200", "400", "404", "405", "503"} <= set(responses), path
        walk(responses["200"]["content"]["application/json"]["schema"], path)
    assert untyped == []

KINDS = {"VARCHAR": "s", "BIGINT": "i", "INTEGER": "i", "DOUBLE": "n", "BOOLEAN": "b",
         "DATE": "d", "VARCHAR[]": "l"}


def test_declared_kinds_are_the_warehouse_types(demo_warehouse: Warehouse) -> None:
    for table, spec in TABLE_COLUMNS.items():
        declared = dict(part.split(":") for part in spec.split())
        actual = {name: "a" if kind.endswith("[]") and kind.startswith("STRUCT") else KINDS[kind]
                  for name, kind, *_ in demo_warehouse.rows(f"DESCRIBE {table}")}
        assert declared == actual, table



def test_twins_and_api_share_one_vocabulary(site: str, demo_warehouse: Warehouse) -> None:
    """A page's .json twin and the matching /api/v1 address answer the same JSON (a twin's
    page holds 200 elements: the API is asked for taille=200): the same names for pages,
    totals and filters."""
    wh = demo_warehouse
    siret = wh.value("SELECT buyer_siret FROM buyers ORDER BY contract_count DESC LIMIT 1")
    key = wh.value("SELECT supplier_key FROM suppliers WHERE siret IS NOT NULL "
                   "ORDER BY contract_count DESC, supplier_key LIMIT 1")
    uid = wh.value("SELECT uid FROM contracts ORDER BY amount DESC NULLS LAST, uid LIMIT 1")
    pairs = [
        ("/marches.json?annee=2024&tri=montant&cpv=45&page=2&xyz=1",
         "/api/v1/marches?annee=2024&tri=montant&cpv=45&page=2&xyz=1&taille=200"),
        ("/marches.json?annee=deux-mille", "/api/v1/marches?annee=deux-mille&taille=200"),
        ("/opportunites.json?mois=24", "/api/v1/opportunites?mois=24&taille=200"),
        ("/indicateurs/marches-pme/marches.json?periode=2019&partie=population",
         "/api/v1/indicateurs/marches-pme/marches?periode=2019&partie=population&taille=200"),
        (f"/acheteurs/{siret}.json", f"/api/v1/acheteurs/{siret}"),
        (f"/titulaires/{key}.json", f"/api/v1/titulaires/{key}"),
        (f"/marches/{uid}.json", f"/api/v1/marches/{uid}"),
        ("/qualite.json", "/api/v1/qualite"),
    ]
    for twin, api in pairs:
        page = requests.get(site + twin, timeout=30).json()
        assert page == requests.get(site + api, timeout=30).json(), twin
    listing = requests.get(site + pairs[0][0], timeout=30).json()
    assert {"page", "taille", "pages", "total", "elements", "montant_total", "filtres",
            "filtres_ignores", "tri", "effectifs"} == set(listing)
    assert listing["filtres"] == {"annee": "2024", "cpv": "45"} and listing["page"] == 2
    ignored = requests.get(site + pairs[1][0], timeout=30).json()
    assert ignored["filtres_ignores"] == [
        "Filtre « annee » ignoré : valeur « deux-mille » illisible."]
