"""The MCP server's spending tools (``rechercher_depenses``, ``paiements_marche``,
``delais_paiement_acheteur``) on a data home with payments, built as a user builds it: the
buyer's real DECP file, the simulated PES set and the demo's real Chorus extracts. As in
tests/test_agents.py, each tool's answer must equal the JSON of the matching ``/api/v1``
address fetched from a live site on the same warehouse; figures are also counted here in SQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args
from urllib.parse import quote, urlencode

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.conftest import DEMO, Warehouse, live_server, make_warehouse
from tests.test_agents import OBSERVATOIRE, _compare, _env
from tests.test_payments_model import BUYER, PES

DECP_FILE = DEMO / "decp" / "v2" / "megalis_decp-59920013600241-2024-07-09-01.json"
CONTRACT = f"{BUYER}H9O2024T0000356"


@pytest.fixture(scope="module")
def finance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    wh = make_warehouse(tmp_path_factory.mktemp("mcp-spending"), DECP_FILE,
                        *sorted(PES.glob("*.xml")), DEMO / "chorus")
    yield wh
    wh.con.close()


@pytest.fixture(scope="module")
def site(finance: Warehouse) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OBSERVATOIRE_HOME", str(finance.settings.home))
        env.setenv("OBSERVATOIRE_PROFILE", finance.settings.profile)
        with live_server() as url:
            yield url


def _stdio(finance: Warehouse) -> StdioServerParameters:
    return StdioServerParameters(command=str(OBSERVATOIRE), args=["mcp"], env=_env(finance))


def test_spending_tools_answer_as_the_api(finance: Warehouse, site: str) -> None:
    search = {"source": "pes_simule", "marche": "non", "tri": "montant"}
    by_buyer = {"acheteur": BUYER, "exercice": 2024, "page": 2, "taille": 5}
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("rechercher_depenses", {}, "/api/v1/depenses"),
        ("rechercher_depenses", search, "/api/v1/depenses?" + urlencode(search)),
        ("rechercher_depenses", by_buyer, "/api/v1/depenses?" + urlencode(by_buyer)),
        ("rechercher_depenses", {"type": "interets", "texte": "interets"},
         "/api/v1/depenses?type=interets&texte=interets"),
        ("paiements_marche", {"uid": CONTRACT},
         f"/api/v1/marches/{quote(CONTRACT, safe='')}/paiements"),
        ("paiements_marche", {"uid": "inconnu"}, "/api/v1/marches/inconnu/paiements"),
        ("delais_paiement_acheteur", {"siret": BUYER}, f"/api/v1/acheteurs/{BUYER}/paiements"),
        ("delais_paiement_acheteur", {"siret": "00000000000000"},
         "/api/v1/acheteurs/00000000000000/paiements"),
    ]

    async def run() -> None:
        async with Client(_stdio(finance)) as client:
            await _compare(client, site, cases)

    anyio.run(run)


def test_spending_tools_count_the_warehouse(finance: Warehouse) -> None:
    """The figures themselves, counted here in SQL on the warehouse's payment tables."""
    wh = finance
    lines, net = wh.rows("SELECT count(*), sum(net_amount_ht) FROM payments")[0]
    outside = wh.value("SELECT count(*) FROM payments WHERE contract_uid IS NULL")
    paid = wh.value("SELECT sum(net_amount_ht) FROM payments WHERE contract_uid = ? "
                    "AND NOT is_interest", [CONTRACT])
    interest = wh.value("SELECT sum(net_amount_ht) FROM payments WHERE buyer_id = ? "
                        "AND is_interest", [BUYER])

    async def run() -> list[Any]:
        async with Client(_stdio(finance)) as client:
            return [await client.call_tool("rechercher_depenses", {"taille": 1}),
                    await client.call_tool("rechercher_depenses", {"marche": "non"}),
                    await client.call_tool("paiements_marche", {"uid": CONTRACT}),
                    await client.call_tool("delais_paiement_acheteur", {"siret": BUYER})]

    everything, outside_answer, contract, delays = anyio.run(run)
    assert everything.structured_content["total"] == lines > 0
    assert everything.structured_content["montant_total"] == pytest.approx(float(net))
    assert outside_answer.structured_content["total"] == outside > 0
    assert contract.structured_content["paid"]["paid_ht"] == pytest.approx(float(paid))
    overall = [d for d in delays.structured_content["delays"] if d["year"] is None]
    assert overall[0]["interest_ht"] == pytest.approx(float(interest)) and interest > 0


def test_spending_tool_choices_are_the_services_own() -> None:
    """The tools' enumerations are the service's kinds, sources and sorts (an added value in
    ``spending`` that the tool would refuse fails here)."""
    from observatoire import agents, spending

    assert list(get_args(agents.PaymentKind)) == list(spending.KINDS)
    assert list(get_args(agents.PaymentSource)) == list(spending.SOURCES)
    assert list(get_args(agents.PaymentSort)) == list(spending.SORTS)
