"""The pages of one contract, buyer or supplier (``observatoire.details``): the tables they read
by key are stored sorted by it, and they answer what the explorer answered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from observatoire import details, explorer
from tests.conftest import Warehouse

#: Tables read by uid, stored sorted by it (nulls last).
BY_UID = ("contracts", "indicator_contracts", "source_records", "findings", "contract_versions",
          "contract_holders", "subcontracts", "concession_execution")

#: The columns a list of an answer is ordered by, when they may tie (rows of equal keys come
#: in any order, in the explorer's answer as in this one).
ORDERED_BY = {
    "categories": ("contracts",), "procedures": ("contracts",),
    "suppliers": ("amount", "contracts", "name"), "buyers": ("amount", "contracts"),
}


@pytest.mark.parametrize("table", BY_UID)
def test_tables_read_by_uid_are_stored_by_uid(demo_warehouse: Warehouse, table: str) -> None:
    con = demo_warehouse.con
    rows, out_of_order = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE uid < previous
                                              OR (uid IS NOT NULL AND previous IS NULL
                                                  AND position > 1))
            FROM (SELECT uid, lag(uid) OVER (ORDER BY rowid) AS previous,
                         row_number() OVER (ORDER BY rowid) AS position
                  FROM {table})""").fetchall()[0]
    assert out_of_order == 0
    if table in ("contracts", "findings", "source_records", "contract_holders"):
        assert rows > 1000  # the demo's files: the order is a real one


def test_a_uid_starts_with_its_buyers_siret(demo_warehouse: Warehouse) -> None:
    """What lets a buyer's contracts be found in the row groups of its uids."""
    con = demo_warehouse.con
    count, starting = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE starts_with(uid, buyer_siret)) FROM contracts"
    ).fetchall()[0]
    assert count > 1000 and starting == count


def _sample(warehouse: Warehouse, sql: str) -> list[str]:
    return [r[0] for r in warehouse.con.execute(sql).fetchall()]


def _same(field: str, expected: Any, found: Any) -> bool:
    if expected == found:
        return True
    keys = ORDERED_BY.get(field)
    if not keys or not isinstance(expected, list) or not isinstance(found, list):
        return False
    # rows of equal ordering keys in another order: the same rows, the same key sequence
    as_text = [sorted(json.dumps(r, default=str, sort_keys=True) for r in rows)
               for rows in (expected, found)]
    sequences = [[tuple(r[k] for k in keys) for r in rows] for rows in (expected, found)]
    return as_text[0] == as_text[1] and sequences[0] == sequences[1]


def _check(kind: str, keys: list[str], warehouse: Warehouse) -> None:
    assert len(keys) >= 20
    for key in keys:
        expected = getattr(explorer, kind)(warehouse.settings, key)
        found = getattr(details, kind)(warehouse.settings, key)
        assert expected is not None and found is not None, key
        assert list(found) == list(expected), key
        for field in expected:
            assert _same(field, expected[field], found[field]), (key, field)


def test_contract_page_answers_as_before(demo_warehouse: Warehouse) -> None:
    uids = _sample(demo_warehouse, "SELECT uid FROM contracts ORDER BY md5(uid) LIMIT 40")
    # contracts with several versions, holders, records or subcontracts
    uids += _sample(demo_warehouse, """SELECT uid FROM contracts
        WHERE modification_count > 0 OR holder_count > 1 OR record_count > 1
        ORDER BY md5(uid) LIMIT 20""")
    uids += _sample(demo_warehouse, "SELECT DISTINCT uid FROM subcontracts LIMIT 5")
    _check("contract", uids, demo_warehouse)
    assert details.contract(demo_warehouse.settings, "inconnu") is None


def test_buyer_page_answers_as_before(demo_warehouse: Warehouse) -> None:
    sirets = _sample(demo_warehouse, """SELECT buyer_siret FROM contracts GROUP BY 1
                                        ORDER BY count(*) DESC LIMIT 5""")
    sirets += _sample(demo_warehouse, """SELECT buyer_siret FROM buyers
                                         ORDER BY md5(buyer_siret) LIMIT 35""")
    _check("buyer", sirets, demo_warehouse)
    assert details.buyer(demo_warehouse.settings, "99999999999999") is None


def test_supplier_page_answers_as_before(demo_warehouse: Warehouse) -> None:
    keys = _sample(demo_warehouse, """SELECT COALESCE(s.siret, s.supplier_key) FROM suppliers s
        JOIN contract_holders h ON h.supplier_key = s.supplier_key AND h.is_current
        GROUP BY s.supplier_key, s.siret ORDER BY count(*) DESC LIMIT 5""")
    keys += _sample(demo_warehouse, """SELECT COALESCE(siret, supplier_key) FROM suppliers
        ORDER BY md5(supplier_key) LIMIT 30""")
    # suppliers with a key of another kind than SIRET (foreign, unknown)
    keys += _sample(demo_warehouse, """SELECT supplier_key FROM suppliers
        WHERE siret IS NULL ORDER BY md5(supplier_key) LIMIT 5""")
    _check("supplier", [k for k in keys if explorer.supplier(demo_warehouse.settings, k)],
           demo_warehouse)
    assert details.supplier(demo_warehouse.settings, "SIRET:99999999999999") is None


def test_latest_contracts_are_the_explorers_list(demo_warehouse: Warehouse) -> None:
    """``latest`` is the explorer's first page of the buyer's or holder's contracts, with its
    totals: the same answer as the explorer's search, whatever computes it."""
    settings = demo_warehouse.settings
    sirets = _sample(demo_warehouse, """SELECT buyer_siret FROM contracts GROUP BY 1
                                        ORDER BY count(*) DESC, 1 LIMIT 10""")
    for siret in sirets:
        found = details.buyer(settings, siret)
        assert found is not None
        expected = explorer.search(settings, explorer.ContractFilters(acheteur=siret),
                                   page_size=details.LATEST)
        assert found["latest"] == expected
        assert found["latest"]["count"] > details.LATEST  # more than one page: a real order
    listed = _sample(demo_warehouse, """SELECT COALESCE(s.siret, s.supplier_key) FROM suppliers s
        JOIN contract_holders h ON h.supplier_key = s.supplier_key AND h.is_current
        GROUP BY s.supplier_key, s.siret ORDER BY count(*) DESC, 1 LIMIT 10""")
    for key in listed:
        found = details.supplier(settings, key)
        assert found is not None
        expected = explorer.search(settings, explorer.ContractFilters(titulaire=key),
                                   page_size=details.LATEST)
        assert found["latest"] == expected
