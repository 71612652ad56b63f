"""The MCP server (``observatoire mcp``) on the demo warehouse, through the official client
SDK: over stdio (the command spawned as a subprocess) and over HTTP (a real server on
127.0.0.1). Each tool's answer must equal the JSON of the matching ``/api/v1`` address
fetched from a live site on the same warehouse."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import pytest
import requests
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.conftest import Warehouse, live_server

OBSERVATOIRE = Path(sys.executable).parent / "observatoire"
TOOLS = {"rechercher_marches", "marche", "rechercher_acheteurs", "acheteur",
         "rechercher_titulaires", "titulaire", "barometre", "indicateurs", "indicateur",
         "preuves_indicateur", "opportunites", "qualite", "rechercher_depenses",
         "paiements_marche", "delais_paiement_acheteur"}


def _env(wh: Warehouse) -> dict[str, str]:
    return {**os.environ, "OBSERVATOIRE_HOME": str(wh.settings.home),
            "OBSERVATOIRE_PROFILE": wh.settings.profile}


@pytest.fixture(scope="module")
def site(demo_warehouse: Warehouse) -> Iterator[str]:
    """The site (and its API) served on a free port, on the demo warehouse."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OBSERVATOIRE_HOME", str(demo_warehouse.settings.home))
        env.setenv("OBSERVATOIRE_PROFILE", demo_warehouse.settings.profile)
        with live_server() as url:
            yield url


@pytest.fixture(scope="module")
def cases(demo_warehouse: Warehouse) -> list[tuple[str, dict[str, Any], str]]:
    """(tool, arguments, the API address that must answer the same), on real keys of the
    demo warehouse: its busiest buyer and supplier, a contract, a year, an indicator."""
    wh = demo_warehouse
    siret = wh.value("SELECT buyer_siret FROM buyers ORDER BY contract_count DESC, "
                     "buyer_siret LIMIT 1")
    key = wh.value("SELECT supplier_key FROM suppliers WHERE siret IS NOT NULL "
                   "ORDER BY contract_count DESC, supplier_key LIMIT 1")
    foreign = wh.value("SELECT supplier_key FROM suppliers WHERE siret IS NULL "
                       "ORDER BY contract_count DESC, supplier_key LIMIT 1")
    uid = wh.value("SELECT uid FROM contracts ORDER BY amount DESC NULLS LAST, uid LIMIT 1")
    year = wh.value("SELECT notification_year FROM contracts GROUP BY 1 "
                    "ORDER BY count(*) DESC, 1 LIMIT 1")
    return [
        ("rechercher_marches", {"annee": year, "tri": "montant", "taille": 7},
         "/api/v1/marches?" + urlencode({"annee": year, "tri": "montant", "taille": 7})),
        ("rechercher_marches", {"acheteur": siret, "tri": "date_asc", "page": 2,
                                "taille": 3},
         "/api/v1/marches?" + urlencode({"acheteur": siret, "tri": "date_asc",
                                         "page": 2, "taille": 3})),
        ("marche", {"uid": uid}, "/api/v1/marches/" + quote(uid, safe="")),
        ("rechercher_acheteurs", {"q": siret[:6]}, f"/api/v1/acheteurs?q={siret[:6]}"),
        ("acheteur", {"siret": siret}, f"/api/v1/acheteurs/{siret}"),
        ("acheteur", {"siret": "00000000000000"}, "/api/v1/acheteurs/00000000000000"),
        ("rechercher_titulaires", {"taille": 5}, "/api/v1/titulaires?taille=5"),
        ("titulaire", {"identifiant": key}, "/api/v1/titulaires/" + quote(key, safe=":")),
        ("titulaire", {"identifiant": foreign},
         "/api/v1/titulaires/" + quote(foreign, safe=":/")),
        ("acheteur", {"siret": siret, "annee": year},
         f"/api/v1/acheteurs/{siret}?annee={year}"),
        ("barometre", {"annee": 2024, "acheteur": siret},
         f"/api/v1/barometre?annee=2024&acheteur={siret}"),
        ("barometre", {"domaine": "travaux"}, "/api/v1/barometre?domaine=travaux"),
        ("indicateurs", {}, "/api/v1/indicateurs"),
        ("indicateur", {"identifiant": "marches-pme"}, "/api/v1/indicateurs/marches-pme"),
        ("preuves_indicateur", {"identifiant": "marches-pme", "periode": "2019"},
         "/api/v1/indicateurs/marches-pme/marches?periode=2019"),
        ("opportunites", {"mois": 60, "taille": 4}, "/api/v1/opportunites?mois=60&taille=4"),
        ("qualite", {}, "/api/v1/qualite"),
    ]


async def _compare(client: Client, site: str,
                   cases: list[tuple[str, dict[str, Any], str]]) -> None:
    listed = await client.list_tools()
    assert {t.name for t in listed.tools} == TOOLS
    for tool, arguments, address in cases:
        api = requests.get(site + address, timeout=30)
        result = await client.call_tool(tool, arguments)
        text = result.content[0].text  # type: ignore[union-attr]
        assert json.loads(text) == api.json(), (tool, arguments)
        assert result.is_error == (api.status_code >= 400), (tool, arguments)
        if isinstance(api.json(), dict):
            assert result.structured_content == api.json(), (tool, arguments)


def test_stdio_tools_answer_as_the_api(demo_warehouse: Warehouse, site: str,
                                       cases: list[tuple[str, dict[str, Any], str]]) -> None:
    params = StdioServerParameters(command=str(OBSERVATOIRE), args=["mcp"],
                                   env=_env(demo_warehouse))

    async def run() -> None:
        async with Client(params) as client:
            await _compare(client, site, cases)

    anyio.run(run)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mcp_http(demo_warehouse: Warehouse) -> Iterator[str]:
    """``observatoire mcp --transport http`` on a free port (default address: 127.0.0.1)."""
    port = _free_port()
    process = subprocess.Popen([OBSERVATOIRE, "mcp", "--transport", "http", "--port", str(port)],
                               env=_env(demo_warehouse), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stderr.read().decode()  # type: ignore[union-attr]
                                         ) from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)
        process.stderr.close()  # type: ignore[union-attr]


def test_http_listens_on_this_machine_only_by_default(mcp_http: str) -> None:
    """Started without --host, the server answers on 127.0.0.1 and not on the machine's
    network address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 80))  # no packet is sent: this picks the outward address
        address = probe.getsockname()[0]
    assert not address.startswith("127.")
    port = int(mcp_http.rsplit(":", 1)[1].split("/")[0])
    socket.create_connection(("127.0.0.1", port), 2).close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, port), 2)


def test_http_tools_answer_as_the_api(mcp_http: str, site: str,
                                      cases: list[tuple[str, dict[str, Any], str]]) -> None:
    async def run() -> None:
        async with Client(mcp_http) as client:
            await _compare(client, site, cases)

    anyio.run(run)


def test_contract_search_counts_the_warehouse_contracts(demo_warehouse: Warehouse,
                                                        mcp_http: str) -> None:
    """The figures themselves, counted here in SQL on the warehouse (the generic profile
    publishes every buyer's contracts)."""
    wh = demo_warehouse
    year = wh.value("SELECT notification_year FROM contracts GROUP BY 1 "
                    "ORDER BY count(*) DESC, 1 LIMIT 1")
    count, amount = wh.rows("SELECT count(*), sum(amount) FROM contracts "
                            "WHERE notification_year = ?", [year])[0]

    async def run() -> Any:
        async with Client(mcp_http) as client:
            return await client.call_tool("rechercher_marches", {"annee": year, "taille": 1})

    result = anyio.run(run)
    assert result.structured_content["total"] == count
    assert result.structured_content["montant_total"] == pytest.approx(float(amount))
    assert len(result.structured_content["elements"]) == 1


def test_opportunities_evidence_and_quality_count_the_warehouse(
        demo_warehouse: Warehouse, mcp_http: str) -> None:
    """The three services the API gained for the assistants, counted here in SQL."""
    wh = demo_warehouse
    ending = wh.value("SELECT count(*) FROM contracts WHERE estimated_end_date >= current_date "
                      "AND estimated_end_date < current_date + INTERVAL 24 MONTH")
    records = dict(wh.rows("SELECT status, count(*) FROM source_records GROUP BY 1"))
    # the evidence of A01 2019 lists the contracts of its published numerator (PME by the
    # lead holder: the indicators' own tests and audit check that figure)
    pme_2019 = wh.value("""SELECT numerator FROM indicator_results
        WHERE indicator_id = 'marches-pme' AND period = '2019' AND breakdown = 'total'
          AND basis = 'count'""")

    async def run() -> list[Any]:
        async with Client(mcp_http) as client:
            return [await client.call_tool("opportunites", {"mois": 24}),
                    await client.call_tool("qualite", {}),
                    await client.call_tool("preuves_indicateur",
                                           {"identifiant": "marches-pme", "periode": "2019",
                                            "taille": 1})]

    opportunities, quality, evidence = anyio.run(run)
    assert opportunities.structured_content["total"] == ending
    assert {r["status"]: r["records"] for r in quality.structured_content["records"]} == records
    assert evidence.structured_content["total"] == pme_2019


def test_unknown_element_is_a_tool_error_in_french(mcp_http: str) -> None:
    async def run() -> Any:
        async with Client(mcp_http) as client:
            return await client.call_tool("indicateur", {"identifiant": "inconnu"})

    result = anyio.run(run)
    assert result.is_error
    error = json.loads(result.content[0].text)
    assert error["statut"] == 404
    assert error["erreur"] == "Élément inconnu."


def test_tools_describe_their_parameters_in_french(mcp_http: str) -> None:
    async def run() -> Any:
        async with Client(mcp_http) as client:
            return await client.list_tools()

    tools = {t.name: t for t in anyio.run(run).tools}
    search = tools["rechercher_marches"]
    assert "Cherche des marchés publics" in (search.description or "")
    schema = search.input_schema
    assert schema["properties"]["taille"]["maximum"] == 200
    assert schema["properties"]["page"]["minimum"] == 1
    assert schema["properties"]["categorie"]["anyOf"][0]["enum"] == ["PME", "ETI", "GE"]
    assert tools["acheteur"].input_schema["required"] == ["siret"]
    assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())


def test_without_a_warehouse_tools_answer_the_api_503_in_french(tmp_path: Path) -> None:
    """A data home not built yet: the command starts all the same (its warning goes to the
    error stream, stdout carries the protocol) and a tool answers the API's 503."""
    env = {**os.environ, "OBSERVATOIRE_HOME": str(tmp_path), "OBSERVATOIRE_PROFILE": "generique"}
    params = StdioServerParameters(command=str(OBSERVATOIRE), args=["mcp"], env=env)

    async def run() -> Any:
        async with Client(params) as client:
            return await client.call_tool("qualite", {})

    result = anyio.run(run)
    assert result.is_error
    error = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert error == {"statut": 503, "erreur": "Aucun entrepôt n'a encore été construit.",
                     "que_faire": "Lancez « observatoire ingest CHEMIN » puis « observatoire "
                     "build »."}
