"""The buyer's legal DECP 2024 file: written from the warehouse, valid against the official
schemas, and read back by our own DECP reader as the same contracts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pytest
from lxml import etree

from observatoire.publication import decp

from .conftest import FIXTURES, Warehouse, make_warehouse
from .test_cli import run
from .test_search import MASKED_SIRET

#: The Breton buyer of the demo data publishing through Mégalis (5 marchés, DECP 2024).
MEGALIS_BUYER = "59920013600241"
#: GIP Maximilien: its 16 marchés all lack mandatory fields (offresRecues, procedure…).
MAXIMILIEN = "13001845000028"
OFFICIAL = FIXTURES / "decp_publication"


def expected_contracts(con: duckdb.DuckDBPyConnection, siret: str) -> dict[str, Any]:
    """The buyer's marchés as the warehouse holds them, by contract id (independent SQL)."""
    rows = con.execute("""
        SELECT c.contract_id, c.amount_initial, c.notification_date, c.publication_date,
            c.duration_months_initial, c.cpv, c.procedure,
            (SELECT list(h.id_type || ':' || h.holder_id ORDER BY h.holder_id)
             FROM contract_holders h WHERE h.uid = c.uid AND h.version = 0) AS holders,
            (SELECT list([CAST(v.notification_date AS VARCHAR), CAST(v.amount_after AS VARCHAR),
                          CAST(v.duration_months AS VARCHAR)] ORDER BY v.version)
             FROM contract_versions v WHERE v.uid = c.uid AND v.version > 0) AS modifications
        FROM contracts c WHERE c.buyer_siret = ? AND c.kind = 'marche'""", [siret]).fetchall()
    return {r[0]: r[1:] for r in rows}


def validate(path: Path, fmt: str) -> None:
    """The file against the official schema of its format, whole (not the writer's checks)."""
    if fmt == "json":
        schema = json.loads(decp.JSON_SCHEMA.read_text(encoding="utf-8"))
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema,
                            cls=jsonschema.Draft7Validator)
    else:
        etree.XMLSchema(etree.parse(str(decp.XSD))).assertValid(etree.parse(str(path)))


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_demo_buyer_file_is_valid_and_reads_back_as_the_same_contracts(
        demo_warehouse: Warehouse, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"decp-{MEGALIS_BUYER}.{fmt}"
    result = run(demo_warehouse.settings.home, "publier-decp", "--acheteur", MEGALIS_BUYER,
                 "--sortie", str(out), "--format", fmt)
    # the 5 subcontracting acts of the source lack their mandatory fields: left out, and said
    assert result.returncode == 3, result.stderr
    assert "5 marché(s) sur 5" in result.stdout
    assert "Acte de sous-traitance 58696 du marché H9O2024T0000256" in result.stdout
    validate(out, fmt)

    expected = expected_contracts(demo_warehouse.con, MEGALIS_BUYER)
    assert len(expected) == 5
    back = make_warehouse(tmp_path / "relu", out)
    try:
        assert expected_contracts(back.con, MEGALIS_BUYER) == expected
        # read as a DECP 2024 publication by our own reader, nothing set aside
        assert back.rows("SELECT DISTINCT family, status FROM source_records") == [
            ("2024", "kept")]
    finally:
        back.con.close()


def test_modifications_and_new_holders_survive_the_round_trip(tmp_path: Path) -> None:
    """The official example with a modification (new amount, duration and holder)."""
    source = make_warehouse(tmp_path / "source", OFFICIAL / "marches_avec_modifications.json")
    try:
        siret = "21750001630066"
        expected = expected_contracts(source.con, siret)
        assert expected["TEST2022"][-1] == [["2022-10-18", "123457.87", "12"]]
        publication = decp.collect(source.con, siret)
    finally:
        source.con.close()
    out = tmp_path / "decp.json"
    decp.write(publication, out, "json")
    validate(out, "json")
    modification = json.loads(out.read_text())["marches"]["marche"][0]["modifications"][0]
    assert modification["modification"]["titulaires"] == [
        {"titulaire": {"typeIdentifiant": "SIRET", "id": "868768687576575"}}]
    back = make_warehouse(tmp_path / "relu", out)
    try:
        assert expected_contracts(back.con, siret) == expected
        assert back.rows("""SELECT holder_id FROM contract_holders
                            WHERE version = 1 ORDER BY holder_id""") == [("868768687576575",)]
    finally:
        back.con.close()


def test_incomplete_contracts_are_named_with_their_missing_fields_and_nothing_is_written(
        demo_warehouse: Warehouse, tmp_path: Path) -> None:
    out = tmp_path / "decp.json"
    result = run(demo_warehouse.settings.home, "publier-decp", "--acheteur", MAXIMILIEN,
                 "--sortie", str(out))
    assert result.returncode == 2
    assert not out.exists()
    assert "16 marché(s) non publiable(s)" in result.stdout
    # D2F0000302 carries no amount (0.0 published) and no procedure: both named, with the source
    text = " ".join(result.stdout.split())  # the console wraps long lines
    line = text.split("Marché D2F0000302 :")[1].split("•")[0]
    assert "montant (Montant forfaitaire ou estimé maximum HT)" in line
    assert "procedure (Procédure de passation du marché)" in line
    # named by its flow (the file name without its publication numbers), the source it came in by
    assert "absents des données reçues : gip-maximilien_decp)" in line
    assert "Aucun marché de l'acheteur 13001845000028 ne peut être publié" in result.stderr
    assert "Traceback" not in result.stderr


def test_holders_are_written_by_identifier_never_by_name(demo_warehouse: Warehouse) -> None:
    """The 2024 format has no name field: a holder (a natural person included) is written by
    its identifier only, even when the warehouse holds its name (here unmasked: the demo has
    no SIRENE diffusion status, so the name is there to leak)."""
    uid, buyer, name = demo_warehouse.rows("""
        SELECT h.uid, c.buyer_siret, h.holder_name FROM contract_holders h
        JOIN contracts c USING (uid) WHERE h.holder_id = ? AND h.holder_name IS NOT NULL
        ORDER BY h.uid LIMIT 1""", [MASKED_SIRET])[0]
    assert "RONDEAU" in name.upper()
    row = next(r for r in decp._rows(demo_warehouse.con, buyer) if r["uid"] == uid)
    marche, acts = decp.marche_object(row)
    text = json.dumps([marche, acts], ensure_ascii=False)
    assert marche["titulaires"] == [
        {"titulaire": {"typeIdentifiant": "SIRET", "id": MASKED_SIRET}}]
    assert "RONDEAU" not in text.upper()
    publication = decp.collect(demo_warehouse.con, buyer)
    report = json.dumps([s.message() for s in publication.set_aside], ensure_ascii=False)
    assert "RONDEAU" not in report.upper()


def test_buyer_page_links_the_download_and_the_endpoint_serves_a_valid_file(
        client: Any, tmp_path: Path) -> None:
    page = client.get(f"/acheteurs/{MEGALIS_BUYER}/")
    assert f'href="/acheteurs/{MEGALIS_BUYER}/decp.xml"' in page.content.decode()
    response = client.get(f"/acheteurs/{MEGALIS_BUYER}/decp.xml")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="decp-{MEGALIS_BUYER}.xml"'
    assert response["X-Marches-Non-Publiables"] == "0"
    out = tmp_path / "decp.xml"
    out.write_bytes(response.content)
    validate(out, "xml")
    assert len(etree.parse(str(out)).findall("marche")) == 5
    refused = client.get(f"/acheteurs/{MAXIMILIEN}/decp.json")
    assert refused.status_code == 404
    assert "ne peut être publié" in refused.json()["erreur"]
    assert client.get("/acheteurs/12345678901234/decp.json").json()["erreur"] == (
        "Acheteur inconnu")


def test_json_report_lists_what_was_written_and_what_was_set_aside(
        demo_warehouse: Warehouse, tmp_path: Path) -> None:
    out = tmp_path / "decp.json"
    result = run(demo_warehouse.settings.home, "publier-decp", "--acheteur", MEGALIS_BUYER,
                 "--sortie", str(out), "--json")
    assert result.returncode == 3
    report = json.loads(result.stdout)
    assert report["fichier"] == str(out) and report["marches_ecrits"] == 5
    assert report["marches_ecartes"] == []
    assert sorted(a["acte"] for a in report["actes_sous_traitance_ecartes"]) == [
        "58696", "58697", "58698", "58699", "58700"]
    assert run(demo_warehouse.settings.home, "publier-decp", "--acheteur", "123",
               "--sortie", str(out)).returncode == 2
