"""The pages of one contract, buyer or supplier (``observatoire.details``): the tables they read
by key are stored sorted by it, and their answers are those of the demo's files, counted here
from the rows of the warehouse's tables by the test's own code (or read by hand in the files)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from observatoire import details, explorer
from tests.conftest import DEMO, Warehouse, make_warehouse

#: Tables read by uid, stored sorted by it (nulls last).
BY_UID = ("contracts", "indicator_contracts", "source_records", "findings", "contract_versions",
          "contract_holders", "subcontracts", "concession_execution")

#: The first contract of demo/data/decp/v1/e-marchespublics.json, as the file publishes it.
SDIS = "28850001000013"
SDIS_CONTRACT = SDIS + "2018MA181101"


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


def _table(warehouse: Warehouse, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cur = warehouse.con.execute(sql, params)
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def test_a_contract_page_is_the_files_contract(demo_warehouse: Warehouse) -> None:
    """The first contract of e-marchespublics.json, its fields read by hand in the file."""
    page = details.contract(demo_warehouse.settings, SDIS_CONTRACT)
    assert page is not None
    assert list(page) == ["contract", "versions", "holders", "subcontracts", "records",
                          "findings", "execution", "corrections"]
    c = page["contract"]
    assert (c["uid"], c["buyer_siret"], c["buyer_name"], c["contract_id"]) == (
        SDIS_CONTRACT, SDIS, "SDIS de la Vendée", "2018MA181101")
    assert c["object"] == ("Installation et maintenance d'équipements de transmissions sur les "
                           "véhicules du SDIS de la Vendée")
    assert (c["cpv"], c["procedure"], c["amount"], c["duration_months"]) == (
        "45314000", "Procédure adaptée", 80000.0, 12)
    assert (c["notification_date"], c["publication_date"]) == (dt.date(2018, 12, 3),
                                                               dt.date(2018, 12, 7))
    assert c["is_framework_agreement"] is True  # "nature": "Accord-cadre"
    # "lieuExecution": {"code": "85", "typeCode": "Code département"}: named from the COG
    assert (c["location_departement_code"], c["location_departement_name"]) == ("85", "Vendée")
    assert (c["location_region_code"], c["location_region_name"]) == ("52", "Pays de la Loire")
    assert c["location_commune_name"] is None
    assert c["purchase_domain"] == "travaux"  # CPV 45: works
    assert [v["version"] for v in page["versions"]] == [0]  # "modifications": []
    assert [(h["supplier_key"], h["holder_name"], h["is_current"]) for h in page["holders"]] == [
        ("SIRET:82746233400018", "SAS SHOW VISION ACRO", True)]
    assert [(r["file_name"], r["status"]) for r in page["records"]] == [
        ("e-marchespublics.json", "kept")]
    assert page["subcontracts"] == page["execution"] == page["corrections"] == []
    assert details.contract(demo_warehouse.settings, "inconnu") is None


def test_contract_pages_hold_every_row_of_their_uid(demo_warehouse: Warehouse) -> None:
    """Each list of the page is every row of its table for the uid, in the page's order."""
    uids = _sample(demo_warehouse, "SELECT uid FROM contracts ORDER BY md5(uid) LIMIT 20")
    # contracts with several versions, holders, records or subcontracts
    uids += _sample(demo_warehouse, """SELECT uid FROM contracts
        WHERE modification_count > 0 OR holder_count > 1 OR record_count > 1
        ORDER BY md5(uid) LIMIT 20""")
    uids += _sample(demo_warehouse, "SELECT DISTINCT uid FROM subcontracts ORDER BY 1 LIMIT 5")
    uids += _sample(demo_warehouse, "SELECT DISTINCT uid FROM findings ORDER BY md5(uid) LIMIT 5")
    severity = ["bloquant", "avertissement", "correction"]
    seen: dict[str, int] = defaultdict(int)
    for uid in uids:
        page = details.contract(demo_warehouse.settings, uid)
        assert page is not None, uid
        row = _table(demo_warehouse, "SELECT * FROM contracts WHERE uid = ?", [uid])[0]
        assert {k: page["contract"][k] for k in row} == row, uid
        for name, table in (("versions", "contract_versions"), ("holders", "contract_holders"),
                            ("subcontracts", "subcontracts"), ("records", "source_records"),
                            ("findings", "findings")):
            (count,), = demo_warehouse.rows(f"SELECT count(*) FROM {table} WHERE uid = ?", [uid])
            assert len(page[name]) == count, (uid, name)
            seen[name] += count
        assert [v["version"] for v in page["versions"]] == sorted(
            v["version"] for v in page["versions"])
        ranks = [severity.index(f["severity"]) if f["severity"] in severity else 3
                 for f in page["findings"]]
        assert ranks == sorted(ranks), uid
    # the sample holds real lists: several versions, holders, records, subcontracts, findings
    assert all(seen[name] > len(uids) for name in ("versions", "holders", "records"))
    assert seen["subcontracts"] >= 5 and seen["findings"] > 0


def _sums(rows: list[tuple[Any, ...]]) -> dict[Any, tuple[int, float | None]]:
    """(key, uid, amount) rows: per key, its distinct contracts and their amounts' sum."""
    uids: dict[Any, dict[str, float | None]] = defaultdict(dict)
    for key, uid, amount in rows:
        uids[key][uid] = amount
    return {key: (len(found), sum(a for a in found.values() if a is not None)
                  if any(a is not None for a in found.values()) else None)
            for key, found in uids.items()}


def _assert_counts(found: list[dict[str, Any]], key: str,
                   expected: dict[Any, tuple[int, float | None]]) -> None:
    """Every row of ``found`` has the contracts and amount counted for its key."""
    for row in found:
        contracts, amount = expected[row[key]]
        assert row["contracts"] == contracts, (key, row)
        assert row["amount"] == (pytest.approx(amount) if amount is not None else None), row


def test_buyer_pages_count_the_buyers_contracts(demo_warehouse: Warehouse) -> None:
    page = details.buyer(demo_warehouse.settings, SDIS)
    assert page is not None
    # the SDIS publishes 26 contracts in e-marchespublics.json (and none elsewhere)
    assert page["buyer"]["name"] == "SDIS de la Vendée"
    assert sum(y["contracts"] for y in page["by_year"]) == 26
    sirets = [SDIS]
    sirets += _sample(demo_warehouse, """SELECT buyer_siret FROM contracts GROUP BY 1
                                        ORDER BY count(*) DESC, 1 LIMIT 5""")
    sirets += _sample(demo_warehouse, "SELECT buyer_siret FROM buyers ORDER BY md5(buyer_siret) "
                                      "LIMIT 15")
    for siret in sirets:
        page = details.buyer(demo_warehouse.settings, siret)
        assert page is not None, siret
        contracts = demo_warehouse.rows(
            """SELECT c.uid, c.notification_year, c.amount, c.procedure, ic.supplier_category
               FROM contracts c LEFT JOIN indicator_contracts ic USING (uid)
               WHERE c.buyer_siret = ?""", [siret])
        years = _sums([(year, uid, amount) for uid, year, amount, _, _ in contracts])
        assert [y["year"] for y in page["by_year"]] == sorted(
            years, key=lambda y: (y is None, y or 0))
        _assert_counts(page["by_year"], "year", years)
        procedures = _sums([(p or "non publiée", uid, a) for uid, _, a, p, _ in contracts])
        assert {p["procedure"] for p in page["procedures"]} == set(procedures)
        _assert_counts(page["procedures"], "procedure", procedures)
        categories = _sums([(k or "inconnue", uid, a) for uid, _, a, _, k in contracts])
        assert {k["category"] for k in page["categories"]} == set(categories)
        _assert_counts(page["categories"], "category", categories)
        # the main suppliers: the current holders of the buyer's contracts, largest first
        holders = _sums(demo_warehouse.rows(
            """SELECT h.supplier_key, c.uid, c.amount FROM contracts c
               JOIN contract_holders h ON h.uid = c.uid AND h.is_current
               WHERE c.buyer_siret = ?""", [siret]))
        largest = sorted(holders.values(), key=lambda v: (v[1] is None, -(v[1] or 0), -v[0]))
        assert [(s["contracts"], s["amount"]) for s in page["suppliers"]] == [
            (n, pytest.approx(a) if a is not None else None) for n, a in largest[:20]]
        _assert_counts(page["suppliers"], "supplier_key", holders)
        assert page["latest"]["count"] == len(contracts)
        assert [r["uid"] for r in page["latest"]["contracts"]] == [
            uid for uid, _ in sorted(
                demo_warehouse.rows("SELECT uid, notification_date FROM contracts "
                                    "WHERE buyer_siret = ?", [siret]),
                key=lambda r: (r[1] is None, -(r[1].toordinal() if r[1] else 0), r[0]))
        ][:details.LATEST]
    assert details.buyer(demo_warehouse.settings, "99999999999999") is None


def test_supplier_pages_count_the_suppliers_contracts(demo_warehouse: Warehouse) -> None:
    settings = demo_warehouse.settings
    keys = _sample(demo_warehouse, """SELECT COALESCE(s.siret, s.supplier_key) FROM suppliers s
        JOIN contract_holders h ON h.supplier_key = s.supplier_key AND h.is_current
        GROUP BY s.supplier_key, s.siret ORDER BY count(*) DESC, 1 LIMIT 5""")
    keys += _sample(demo_warehouse, """SELECT COALESCE(siret, supplier_key) FROM suppliers
        ORDER BY md5(supplier_key) LIMIT 15""")
    # suppliers with a key of another kind than SIRET (foreign, unknown)
    keys += _sample(demo_warehouse, """SELECT supplier_key FROM suppliers
        WHERE siret IS NULL ORDER BY md5(supplier_key) LIMIT 5""")
    pages = 0
    for key in keys:
        page = details.supplier(settings, key)
        (own,), = demo_warehouse.rows(
            "SELECT min(supplier_key) FROM suppliers WHERE siret = ? OR supplier_key = ?",
            [key, key])
        held = demo_warehouse.rows(
            """SELECT c.uid, c.notification_year, c.amount, c.buyer_siret,
                      c.place_departement_code, c.holder_count
               FROM contract_holders h JOIN contracts c USING (uid)
               WHERE h.is_current AND h.supplier_key = ?""", [own])
        if not held:  # a holder of earlier versions only: no page
            assert page is None, key
            continue
        pages += 1
        assert page is not None and page["supplier"]["supplier_key"] == own
        years = _sums([(year, uid, a) for uid, year, a, _, _, _ in held])
        assert [y["year"] for y in page["by_year"]] == sorted(
            years, key=lambda y: (y is None, y or 0))
        _assert_counts(page["by_year"], "year", years)
        buyers = _sums([(b, uid, a) for uid, _, a, b, _, _ in held])
        assert len(page["buyers"]) == min(20, len(buyers))
        _assert_counts(page["buyers"], "buyer_siret", buyers)
        places = _sums([(d, uid, a) for uid, _, a, _, d, _ in held if d is not None])
        assert {p["departement"] for p in page["places"]} == set(places)
        _assert_counts(page["places"], "departement", places)
        assert page["grouped_contracts"] == sum(1 for *_, n in held if n > 1)
        # the explorer's list the page links to: every contract of a holder of that SIRET
        # (or key), whatever its key
        (listed,), = demo_warehouse.rows(
            """SELECT count(DISTINCT h.uid) FROM contract_holders h JOIN suppliers s
               USING (supplier_key)
               WHERE h.is_current AND (s.siret = $1 OR s.siren = $1 OR s.supplier_key = $1)""",
            [page["supplier"]["siret"] or own])
        assert page["latest"]["count"] == listed
    assert pages >= 20
    assert details.supplier(settings, "SIRET:99999999999999") is None


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


def test_a_supplier_known_by_a_name_on_two_lines(tmp_path: Path) -> None:
    """A holder published without identifier, its name on two lines: its key (``NOM:`` and the
    name) is not what the explorer's holder filter reads as a key, so the list the page links
    to (``/marches/?titulaire=<key>``) searches its words, and finds the same company's
    contracts published with its SIRET too. Two real contracts of the demo's files, the first
    one's holder published that way."""
    first = json.loads((DEMO / "decp" / "v1" / "e-marchespublics.json").read_text("utf-8"))
    aife = json.loads((DEMO / "decp" / "v1" / "data.gouv.fr_aife.json").read_text("utf-8"))
    named = copy.deepcopy(first["marches"][0])  # SDIS de la Vendée, 80,000 €, 2018-12-03
    named["titulaires"] = [{"denominationSociale": "CONCILIO\nERGONOMIE"}]
    # CAISSE CENTRALE MSA, 433,250 €, no notification date, holder CONCILIO ERGONOMIE
    with_siret = next(m for m in aife["marches"] if m.get("id") == "2017L1vIymyO1Q00")
    assert with_siret["titulaires"] == [{"typeIdentifiant": "SIRET", "id": "79484824200010",
                                         "denominationSociale": "CONCILIO ERGONOMIE"}]
    source = tmp_path / "marches.json"
    # SDIS de la Vendée, 40,000 €, its holder SAS PAPETERIES LA VICTOIRE on two lines
    alone = copy.deepcopy(first["marches"][1])
    alone["titulaires"] = [{"denominationSociale": "SAS PAPETERIES\nLA VICTOIRE"}]
    source.write_text(json.dumps({"marches": [named, with_siret, alone]}), encoding="utf-8")
    # with the COG (the places' names)
    wh = make_warehouse(tmp_path / "home", source,
                        DEMO / "ref" / "code_officiel_geographique_communes.csv")
    wh.con.close()
    key = "NOM:CONCILIO\nERGONOMIE"
    assert not explorer.is_supplier_id(key)

    page = details.supplier(wh.settings, key)
    assert page is not None
    assert (page["supplier"]["supplier_key"], page["supplier"]["siret"]) == (key, None)
    # its own contract only
    assert page["by_year"] == [{"year": 2018, "contracts": 1, "amount": 80000.0}]
    assert page["buyers"] == [{"buyer_siret": SDIS, "name": "SDIS de la Vendée",
                               "contracts": 1, "amount": 80000.0}]
    assert page["places"] == [{"departement": "85", "name": "Vendée", "contracts": 1,
                               "amount": 80000.0}]
    assert page["supplier"]["name"] == "CONCILIO\nERGONOMIE"
    assert page["grouped_contracts"] == 0
    # the explorer's list of its words: both contracts, the dated one first
    assert page["latest"] == explorer.search(
        wh.settings, explorer.ContractFilters(titulaire=key), page_size=details.LATEST)
    assert [r["uid"] for r in page["latest"]["contracts"]] == [
        SDIS_CONTRACT, "30299044500033" + "2017L1vIymyO1Q00"]
    assert (page["latest"]["count"], page["latest"]["amount_total"]) == (2, 513250.0)

    # a name without the word "nom" of its key: the list finds no contract, not even its own
    page = details.supplier(wh.settings, "NOM:SAS PAPETERIES\nLA VICTOIRE")
    assert page is not None
    assert page["by_year"] == [{"year": 2018, "contracts": 1, "amount": 40000.0}]
    assert page["latest"] == explorer.search(
        wh.settings, explorer.ContractFilters(titulaire="NOM:SAS PAPETERIES\nLA VICTOIRE"),
        page_size=details.LATEST)
    assert (page["latest"]["count"], page["latest"]["contracts"]) == (0, [])

    # the SIRET's page: its own contract, and a list by its SIRET (the other key not in it)
    page = details.supplier(wh.settings, "79484824200010")
    assert page is not None
    assert page["by_year"] == [{"year": None, "contracts": 1, "amount": 433250.0}]
    assert [r["uid"] for r in page["latest"]["contracts"]] == ["30299044500033"
                                                               "2017L1vIymyO1Q00"]
