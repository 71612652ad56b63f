"""One small DECP file per kind of real defect, checked end to end (ingest + build).

Every fixture under ``tests/fixtures/defects/`` is a copy of a clean baseline record (the
``baseline_v1.json`` / ``baseline_v2.json`` records give no finding at all) with one defect put in,
taken from the catalogue of real defects (reference note, section 4) and the DAJ management rules
(section 5.2). So the findings expected for a record are exactly those of its defect, and each
test states them in full, with the raw value and the value kept, worked out by hand from the
fixture.

All fixtures and the two reference files (CPV 2008, COG communes) are ingested once into one data
home and built once; each test then looks at its own records by file name and position.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from observatoire.landing.catalog import Catalog, Load

FIXTURES = Path(__file__).parent / "fixtures" / "defects"
REF = Path(__file__).resolve().parents[1] / "demo" / "data" / "ref"

RENNES = "21350238800019"  # Ville de Rennes, the buyer of the v1 baseline
MEGALIS_BUYER = "59920013600241"  # buyer of the v2 baseline
AXIMA = "85480074501125"  # holder of the v1 baseline

Finding = tuple[str, str, str | None, str | None]  # rule_id, field, raw_value, value


@dataclass
class Warehouse:
    con: duckdb.DuckDBPyConnection
    loads: dict[str, Load]

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def findings(self, file_name: str, position: int) -> set[Finding]:
        """Findings of one record: (rule_id, field, raw_value, value)."""
        rows = self.con.execute(
            "SELECT rule_id, field, raw_value, value FROM findings "
            "WHERE file_name = ? AND position = ?",
            [file_name, position],
        ).fetchall()
        return {(r[0], r[1], r[2], r[3]) for r in rows}

    def record(self, file_name: str, position: int) -> dict[str, Any]:
        rows = self.rows(
            "SELECT status, reasons, uid, kind, family, structure_notes "
            "FROM source_records WHERE file_name = ? AND position = ?",
            [file_name, position],
        )
        assert len(rows) == 1, f"{file_name}#{position}: {len(rows)} source records"
        return rows[0]

    def contract(self, uid: str) -> dict[str, Any]:
        rows = self.rows("SELECT * FROM contracts WHERE uid = ?", [uid])
        assert len(rows) == 1, f"{uid}: {len(rows)} contracts"
        return rows[0]


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    settings = Settings(home=tmp_path_factory.mktemp("defects") / "home")
    ingest(
        settings,
        [FIXTURES, REF / "cpv_2008_fr.csv", REF / "code_officiel_geographique_communes.parquet"],
    )
    build(settings)
    loads = {ld.file_name: ld for ld in Catalog(settings.catalog_path).loads()}
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        yield Warehouse(con, loads)
    finally:
        con.close()


def kept(wh: Warehouse, file_name: str, position: int, uid: str) -> None:
    rec = wh.record(file_name, position)
    assert (rec["status"], rec["reasons"], rec["uid"]) == ("kept", [], uid)


def set_aside(wh: Warehouse, file_name: str, position: int, reasons: list[str]) -> None:
    rec = wh.record(file_name, position)
    assert (rec["status"], rec["reasons"]) == ("set_aside", reasons)


# --- the whole set ---------------------------------------------------------------------------


def test_every_fixture_loads_and_every_record_is_accounted_for(wh: Warehouse) -> None:
    """51 fixture files. Leaving aside siret_all_zeros.json (whose fate is tested on its own):
    50 files, 70 records: 60 kept, 4 merged duplicates, 6 set aside, nothing lost."""
    decp = {name: ld for name, ld in wh.loads.items() if ld.kind == "decp"}
    assert len(decp) == 51
    assert {ld.status for ld in decp.values()} == {"loaded"}
    assert sum(ld.records for ld in decp.values()) == 72
    counts = dict(
        wh.con.execute(
            "SELECT status, count(*) FROM source_records WHERE file_name <> 'siret_all_zeros.json' "
            "GROUP BY status"
        ).fetchall()
    )
    assert counts == {"kept": 60, "duplicate": 4, "set_aside": 6}
    assert wh.con.execute("SELECT bool_and(balanced), count(*) FROM reconciliation").fetchone() == (
        True,
        51,
    )
    assert wh.con.execute(
        "SELECT count(*) FROM contracts WHERE primary_record_key NOT IN (SELECT record_key "
        "FROM source_records WHERE file_name = 'siret_all_zeros.json')"
    ).fetchone() == (60,)


def test_baselines_give_no_finding(wh: Warehouse) -> None:
    """The clean records every fixture is derived from: no finding, kept as they are."""
    assert wh.findings("baseline_v1.json", 1) == set()
    assert wh.findings("baseline_v2.json", 1) == set()
    kept(wh, "baseline_v1.json", 1, RENNES + "2019BASE01")
    kept(wh, "baseline_v2.json", 1, MEGALIS_BUYER + "2024BASE01")
    c = wh.contract(RENNES + "2019BASE01")
    assert (
        c["cpv"],
        c["amount"],
        c["duration_months"],
        c["notification_date"],
        c["place_departement_code"],
        c["format_family"],
    ) == ("45231000", 150000.0, 12, dt.date(2019, 3, 1), "35", "2019")
    assert wh.contract(MEGALIS_BUYER + "2024BASE01")["format_family"] == "2024"


# --- 1, 2: names -------------------------------------------------------------------------------


def test_broken_text_encoding(wh: Warehouse) -> None:
    """#1: U+FFFD in the objet and the buyer name (AIFE 2019). Both flagged, the record is kept,
    and the buyer takes the clean name published for the same SIRET by another record."""
    objet = "Soci\ufffdt\ufffd de livraison des ouvrages"
    name = "Conseil D\ufffdpartemental de la Charente-Maritime"
    assert wh.findings("text_encoding_broken.json", 1) == {
        ("TEXT_ENCODING", "objet", objet, None),
        ("TEXT_ENCODING", "acheteur.nom", name, None),
    }
    assert wh.findings("text_encoding_broken.json", 2) == set()
    kept(wh, "text_encoding_broken.json", 1, "22170001600019" + "2019ENC01")
    assert wh.contract("22170001600019" + "2019ENC01")["object"] == objet
    assert wh.rows(
        "SELECT name, name_is_reliable, contract_count FROM buyers "
        "WHERE buyer_siret = '22170001600019'"
    ) == [
        {
            "name": "Conseil Départemental de la Charente-Maritime",
            "name_is_reliable": True,
            "contract_count": 2,
        }
    ]


def test_buyer_name_is_a_budget_label(wh: Warehouse) -> None:
    """#2: PES publishes the budget (« BUDGET PRINCIPAL ») as the buyer name. Flagged; the buyer
    keeps the real name when another record gives it, else the label, marked unreliable."""
    assert wh.findings("buyer_name_budget_label.json", 1) == {
        ("BUYER_NAME_BUDGET_LABEL", "acheteur.nom", "BUDGET PRINCIPAL", None)
    }
    assert wh.findings("buyer_name_budget_label.json", 2) == set()
    assert wh.findings("buyer_name_budget_label.json", 3) == {
        ("BUYER_NAME_BUDGET_LABEL", "acheteur.nom", "DPT17 BUDGET PRINCIPAL", None)
    }
    assert wh.rows(
        "SELECT buyer_siret, name, name_is_reliable FROM buyers "
        "WHERE buyer_siret IN ('22350001800013', '24350013900189') "
        "ORDER BY buyer_siret"
    ) == [
        {
            "buyer_siret": "22350001800013",
            "name": "Département d'Ille-et-Vilaine",
            "name_is_reliable": True,
        },
        {
            "buyer_siret": "24350013900189",
            "name": "DPT17 BUDGET PRINCIPAL",
            "name_is_reliable": False,
        },
    ]


# --- 3 to 7: dates -----------------------------------------------------------------------------


def test_date_with_timezone_suffix(wh: Warehouse) -> None:
    """#3: `2018-12-17+01:00` (all PES files): the suffix is stripped, the date kept."""
    assert wh.findings("date_timezone_suffix.json", 1) == {
        ("DATE_SUFFIX_REMOVED", "dateNotification", "2018-12-17+01:00", "2018-12-17"),
        ("DATE_SUFFIX_REMOVED", "datePublicationDonnees", "2019-03-19+01:00", "2019-03-19"),
    }
    c = wh.contract(RENNES + "2018TZ01")
    assert (c["notification_date"], c["notification_date_source"], c["publication_date"]) == (
        dt.date(2018, 12, 17),
        "notification",
        dt.date(2019, 3, 19),
    )


def test_impossible_date_year_0218(wh: Warehouse) -> None:
    """#4: `0218-10-29` (AWS): a typo for 2018, treated as unknown; the publication date
    (2018-11-05) stands in for it (DAJ rule)."""
    assert wh.findings("date_impossible_year.json", 1) == {
        ("DATE_IMPOSSIBLE", "dateNotification", "0218-10-29", None),
        ("NOTIFICATION_FROM_PUBLICATION", "dateNotification", "0218-10-29", "2018-11-05"),
    }
    c = wh.contract(RENNES + "2018DI01")
    assert (c["notification_date"], c["notification_date_source"], c["notification_year"]) == (
        dt.date(2018, 11, 5),
        "publication",
        2018,
    )


def test_future_notification_date(wh: Warehouse) -> None:
    """#7: a notification date after the day the file was collected (2099-03-01) is unknown;
    the publication date (2019-03-15) stands in for it."""
    assert wh.findings("date_future.json", 1) == {
        ("DATE_FUTURE", "dateNotification", "2099-03-01", None),
        ("NOTIFICATION_FROM_PUBLICATION", "dateNotification", "2099-03-01", "2019-03-15"),
    }
    c = wh.contract(RENNES + "2019DF01")
    assert (c["notification_date"], c["notification_date_source"]) == (
        dt.date(2019, 3, 15),
        "publication",
    )


def test_missing_notification_date_falls_back_to_publication(wh: Warehouse) -> None:
    """#5: no dateNotification (56 % of AIFE): the DAJ rule takes datePublicationDonnees."""
    assert wh.findings("notification_date_missing.json", 1) == {
        ("NOTIFICATION_FROM_PUBLICATION", "dateNotification", None, "2019-04-02")
    }
    kept(wh, "notification_date_missing.json", 1, RENNES + "2019NM01")
    c = wh.contract(RENNES + "2019NM01")
    assert (
        c["notification_date"],
        c["notification_date_source"],
        c["notification_year"],
        c["estimated_end_date"],
    ) == (dt.date(2019, 4, 2), "publication", 2019, dt.date(2020, 4, 2))


def test_both_dates_missing(wh: Warehouse) -> None:
    """DAJ: neither date. The catalogue makes it a warning (the contract exists) rather than a
    set-aside: kept, counted in no year."""
    assert wh.findings("dates_both_missing.json", 1) == {
        ("DATES_MISSING", "dateNotification", " / ", None)
    }
    kept(wh, "dates_both_missing.json", 1, RENNES + "2019DM01")
    c = wh.contract(RENNES + "2019DM01")
    assert (
        c["notification_date"],
        c["notification_date_source"],
        c["notification_year"],
        c["estimated_end_date"],
    ) == (None, None, None, None)


def test_publication_before_notification(wh: Warehouse) -> None:
    """#6: PES `notif 2018-12-26, pub 2018-09-27`: flagged; both dates are kept as published."""
    assert wh.findings("publication_before_notification.json", 1) == {
        (
            "PUBLICATION_BEFORE_NOTIFICATION",
            "datePublicationDonnees",
            "2018-09-27 < 2018-12-26",
            None,
        )
    }
    c = wh.contract(RENNES + "2018PB01")
    assert (c["notification_date"], c["publication_date"]) == (
        dt.date(2018, 12, 26),
        dt.date(2018, 9, 27),
    )


def test_dates_written_out_or_without_zero_padding(wh: Warehouse) -> None:
    """#4: `September, 16 2021 00:00:00` (decp-processing's table) and `2019-1-5` (decp-rama
    pads it) are read; the time is dropped and the format repaired."""
    raw = "September, 16 2021 00:00:00"
    assert wh.findings("date_written_out.json", 1) == {
        ("DATE_SUFFIX_REMOVED", "dateNotification", raw, "2021-09-16"),
        ("DATE_REFORMATTED", "dateNotification", raw, "2021-09-16"),
    }
    assert wh.findings("date_written_out.json", 2) == {
        ("DATE_REFORMATTED", "dateNotification", "2019-1-5", "2019-01-05")
    }
    assert wh.contract(RENNES + "2021DW01")["notification_date"] == dt.date(2021, 9, 16)
    assert wh.contract(RENNES + "2019DW02")["notification_date"] == dt.date(2019, 1, 5)


# --- 8, 9: enums and _type ---------------------------------------------------------------------


def test_obsolete_procedure_label(wh: Warehouse) -> None:
    """#8: a pre-2019 procedure label is mapped to its current label."""
    old = "Procédure négociée avec mise en concurrence préalable"
    assert wh.findings("procedure_obsolete.json", 1) == {
        ("ENUM_OBSOLETE", "procedure", old, "Procédure avec négociation")
    }
    assert wh.contract(RENNES + "2019PO01")["procedure"] == "Procédure avec négociation"


def test_uppercase_enums_are_normalised(wh: Warehouse) -> None:
    """#8: `MARCHE`, `APPEL D'OFFRES OUVERT`, typeCode `CODE POSTAL`: the official labels are
    kept, and the postal code 35000 is placed in Ille-et-Vilaine (35), Bretagne (53)."""
    assert wh.findings("enum_uppercase.json", 1) == {
        ("ENUM_NORMALISED", "nature", "MARCHE", "Marché"),
        ("ENUM_NORMALISED", "procedure", "APPEL D'OFFRES OUVERT", "Appel d'offres ouvert"),
        ("ENUM_NORMALISED", "lieuExecution.typeCode", "CODE POSTAL", "Code postal"),
    }
    c = wh.contract(RENNES + "2019UC01")
    assert (
        c["nature"],
        c["procedure"],
        c["place_type"],
        c["place_code"],
        c["place_departement_code"],
        c["place_region_code"],
    ) == ("Marché", "Appel d'offres ouvert", "Code postal", "35000", "35", "53")


def test_type_holding_a_non_type_value(wh: Warehouse) -> None:
    """#9: `_type` = « Accord-cadre à marchés subséquents multi-attributaires » (Maximilien):
    ignored for the kind (the record has `acheteur`: a marché), noted as structure drift."""
    assert wh.findings("type_not_a_type.json", 1) == {
        ("STRUCTURE_DRIFT", "structure", "type_incoherent", None)
    }
    assert wh.record("type_not_a_type.json", 1)["structure_notes"] == ["type_incoherent"]
    assert wh.contract(RENNES + "2019TY01")["kind"] == "marche"


def test_concession_declared_as_marche_is_a_concession(wh: Warehouse) -> None:
    """#9: the kind comes from the keys (`autoriteConcedante`, `concessionnaires`), not from
    `_type`: `dateSignature` is the notification date, `valeurGlobale` the amount."""
    assert wh.findings("type_concession_declared_as_marche.json", 1) == {
        ("STRUCTURE_DRIFT", "structure", "type_incoherent", None)
    }
    c = wh.contract(RENNES + "2019DSP01")
    assert (
        c["kind"],
        c["buyer_siret"],
        c["nature"],
        c["amount"],
        c["notification_date"],
        c["start_date"],
        c["duration_months"],
        c["holder_count"],
        c["public_subsidy"],
    ) == (
        "concession",
        RENNES,
        "Délégation de service public",
        12_000_000.0,
        dt.date(2019, 2, 1),
        dt.date(2019, 4, 1),
        120,
        1,
        0.0,
    )


# --- 10: CPV -----------------------------------------------------------------------------------


def test_cpv_leading_zero_lost(wh: Warehouse) -> None:
    """#10: `9132100` (leading zero lost by a spreadsheet) becomes 09132100, Essence sans plomb."""
    assert wh.findings("cpv_leading_zero_lost.json", 1) == {
        ("CPV_PADDED", "codeCPV", "9132100", "09132100")
    }
    c = wh.contract(RENNES + "2019CP01")
    assert (c["cpv"], c["cpv_label"], c["cpv_division"], c["purchase_category"]) == (
        "09132100",
        "Essence sans plomb",
        "09",
        "Fournitures",
    )


def test_cpv_unknown_code(wh: Warehouse) -> None:
    """#10 / DAJ: a code outside CPV 2008 falls back to its division (72999000 -> 72000000);
    when the division does not exist either (74230000: no division 74), the CPV is unknown."""
    assert wh.findings("cpv_unknown_code.json", 1) == {
        ("CPV_TO_DIVISION", "codeCPV", "72999000", "72000000")
    }
    assert wh.findings("cpv_unknown_code.json", 2) == {("CPV_INVALID", "codeCPV", "74230000", None)}
    c1 = wh.contract(RENNES + "2019CU01")
    assert (c1["cpv"], c1["purchase_category"]) == ("72000000", "Services")
    c2 = wh.contract(RENNES + "2019CU02")
    assert (c2["cpv"], c2["purchase_category"]) == (None, None)


def test_cpv_garbage(wh: Warehouse) -> None:
    """#10: `20190128-1` (a date) is invalid; `INX 45231000-5` is cleaned to 45231000;
    `031210005` (9 digits) is cut to 03121000."""
    assert wh.findings("cpv_garbage.json", 1) == {("CPV_INVALID", "codeCPV", "20190128-1", None)}
    assert wh.findings("cpv_garbage.json", 2) == {
        ("CPV_CLEANED", "codeCPV", "INX 45231000-5", "45231000")
    }
    assert wh.findings("cpv_garbage.json", 3) == {
        ("CPV_TRUNCATED", "codeCPV", "031210005", "03121000")
    }
    assert wh.contract(RENNES + "2019CG01")["cpv"] is None
    assert wh.contract(RENNES + "2019CG02")["cpv"] == "45231000"
    assert wh.contract(RENNES + "2019CG03")["cpv"] == "03121000"


def test_cpv_and_objet_both_missing_is_set_aside(wh: Warehouse) -> None:
    """DAJ: neither CPV nor objet: we do not know what was bought; set aside."""
    assert wh.findings("cpv_and_object_missing.json", 1) == {
        ("CPV_AND_OBJECT_MISSING", "codeCPV", None, None)
    }
    set_aside(wh, "cpv_and_object_missing.json", 1, ["CPV_AND_OBJECT_MISSING"])
    assert wh.rows("SELECT uid FROM contracts WHERE contract_id = '2019CO01'") == []


# --- 11, 12: identifiers and test records ------------------------------------------------------


def test_siret_with_spaces(wh: Warehouse) -> None:
    """#11: `213 502 388 00019` (buyer) and a leading tab (holder): whitespace removed."""
    assert wh.findings("siret_with_spaces.json", 1) == {
        ("BUYER_SIRET_WHITESPACE", "acheteur.id", "213 502 388 00019", RENNES),
        ("HOLDER_SIRET_WHITESPACE", "titulaire.id", "\t" + AXIMA, AXIMA),
    }
    kept(wh, "siret_with_spaces.json", 1, RENNES + "2019SP01")
    assert wh.rows(
        "SELECT holder_id, id_type FROM contract_holders WHERE uid = ?", [RENNES + "2019SP01"]
    ) == [{"holder_id": AXIMA, "id_type": "SIRET"}]


def test_buyer_siret_13_digits_is_set_aside(wh: Warehouse) -> None:
    """#11 / DAJ: buyer SIRET `3883430500028` (13 digits): no identity, set aside."""
    assert wh.findings("buyer_siret_13_digits.json", 1) == {
        ("BUYER_SIRET_FORMAT", "acheteur.id", "3883430500028", None)
    }
    rec = wh.record("buyer_siret_13_digits.json", 1)
    assert (rec["status"], rec["reasons"], rec["uid"]) == (
        "set_aside",
        ["BUYER_SIRET_FORMAT"],
        None,
    )
    assert wh.rows("SELECT uid FROM contracts WHERE contract_id = '2019S13'") == []


def test_holder_siret_failing_luhn(wh: Warehouse) -> None:
    """#11: holder `85480074501126` (last digit mistyped): Luhn fails, flagged, kept."""
    assert wh.findings("holder_siret_luhn.json", 1) == {
        ("HOLDER_SIRET_CHECKSUM", "titulaire.id", "85480074501126", None)
    }
    kept(wh, "holder_siret_luhn.json", 1, RENNES + "2019HL01")
    assert wh.rows(
        "SELECT siret, siren, siret_is_valid FROM suppliers "
        "WHERE supplier_key = 'SIRET:85480074501126'"
    ) == [{"siret": "85480074501126", "siren": "854800745", "siret_is_valid": False}]


def test_buyer_siret_all_zeros_is_flagged(wh: Warehouse) -> None:
    """#11: buyer SIRET `00000000000000` passes both the 14-digit and the Luhn check, but it
    is a placeholder, not an establishment: it must not pass silently (every buyer publishing
    zeros would share one identity, and their contracts with the same id would be merged)."""
    found = wh.findings("siret_all_zeros.json", 1)
    assert {(field, raw) for _, field, raw, _ in found} >= {("acheteur.id", "00000000000000")}


def test_holder_siret_all_zeros_is_flagged(wh: Warehouse) -> None:
    """#11: holder SIRET `00000000000000` (a placeholder) must be flagged on titulaire.id."""
    found = wh.findings("siret_all_zeros.json", 2)
    assert {(field, raw) for _, field, raw, _ in found} >= {("titulaire.id", "00000000000000")}


def test_holder_identifier_type_variants(wh: Warehouse) -> None:
    """#8 / #11: typeIdentifiant `TVA_INTRACOMMUNAUTAIRE` becomes TVA; a missing type with a
    14-digit id is a SIRET; a 10-digit « SIRET » (`4781914061`, Maximilien) is malformed."""
    assert wh.findings("holder_id_type_variants.json", 1) == {
        ("HOLDER_TYPE_NORMALISED", "titulaire.typeIdentifiant", "TVA_INTRACOMMUNAUTAIRE", "TVA")
    }
    assert wh.findings("holder_id_type_variants.json", 2) == {
        ("HOLDER_TYPE_INFERRED", "titulaire.typeIdentifiant", None, "SIRET")
    }
    assert wh.findings("holder_id_type_variants.json", 3) == {
        ("HOLDER_SIRET_FORMAT", "titulaire.id", "4781914061", None)
    }
    assert wh.rows(
        "SELECT uid, id_type, holder_id FROM contract_holders WHERE uid IN (?, ?) ORDER BY uid",
        [RENNES + "2019HT01", RENNES + "2019HT02"],
    ) == [
        {"uid": RENNES + "2019HT01", "id_type": "TVA", "holder_id": "BE0403170701"},
        {"uid": RENNES + "2019HT02", "id_type": "SIRET", "holder_id": AXIMA},
    ]


def test_holder_is_buyer_with_test_objet_is_a_test_record(wh: Warehouse) -> None:
    """#12: objet « test avenant » and holder = the buyer's own SIREN (Maximilien): two test
    signals, set aside. The same holder with a real objet is only a warning."""
    assert wh.findings("test_record_holder_is_buyer.json", 1) == {
        ("TEST_RECORD", "enregistrement", "test avenant", None),
        ("HOLDER_IS_BUYER", "titulaires", None, None),
    }
    set_aside(wh, "test_record_holder_is_buyer.json", 1, ["TEST_RECORD"])
    assert wh.findings("test_record_holder_is_buyer.json", 2) == {
        ("HOLDER_IS_BUYER", "titulaires", None, None)
    }
    kept(wh, "test_record_holder_is_buyer.json", 2, "13001845000028" + "2024TEST02")
    assert wh.rows("SELECT uid FROM contracts WHERE contract_id = '2024TEST01'") == []


def test_aife_essentiel_test_record(wh: Warehouse) -> None:
    """#12: the AIFE test record (buyer « Essentiel », CPV 12345678, montant 123456.78, a RIDET
    holder `1234567890`): set aside; its CPV, amount and placeholder holder id are also
    flagged."""
    assert wh.findings("test_record_essentiel.json", 1) == {
        ("TEST_RECORD", "enregistrement", "Le marche du siecle", None),
        ("CPV_INVALID", "codeCPV", "12345678", None),
        ("AMOUNT_PLACEHOLDER", "montant", "123456.78", None),
        ("HOLDER_ID_PLACEHOLDER", "titulaire.id", "1234567890", None),
    }
    set_aside(wh, "test_record_essentiel.json", 1, ["TEST_RECORD"])
    assert wh.rows("SELECT uid FROM contracts WHERE buyer_siret = '80128543800017'") == []


# --- 13: amounts -------------------------------------------------------------------------------


def test_amount_zero(wh: Warehouse) -> None:
    """#13: montant 0 (accord-cadre « sans montant »): unknown, out of the totals."""
    assert wh.findings("amount_zero.json", 1) == {("AMOUNT_ZERO", "montant", "0", None)}
    c = wh.contract(RENNES + "2019AZ01")
    assert (c["amount_initial"], c["amount"], c["amount_issue"]) == (None, None, "zero")


def test_amount_999999999(wh: Warehouse) -> None:
    """#13: 999999999, nine identical digits: a placeholder, unknown."""
    assert wh.findings("amount_placeholder_999999999.json", 1) == {
        ("AMOUNT_PLACEHOLDER", "montant", "999999999", None)
    }
    c = wh.contract(RENNES + "2019A9")
    assert (c["amount_initial"], c["amount"], c["amount_issue"]) == (None, None, "placeholder")


def test_amount_1e17(wh: Warehouse) -> None:
    """#13: `1.0E17` (uid ...2020F00075): more than 3 billion euros, unknown (DAJ)."""
    found = wh.findings("amount_1e17.json", 1)
    assert {(rule, field, value) for rule, field, _, value in found} == {
        ("AMOUNT_ABSURD", "montant", None)
    }
    ((_, _, raw, _),) = found
    assert raw is not None and float(raw) == 1e17
    c = wh.contract(RENNES + "2020F00075")
    assert (c["amount_initial"], c["amount"], c["amount_issue"]) == (None, None, "absurd")


# --- 15: durations -----------------------------------------------------------------------------


def test_duration_nc(wh: Warehouse) -> None:
    """#15: dureeMois « NC »: unknown, so no estimated end date."""
    assert wh.findings("duration_nc.json", 1) == {("DURATION_INVALID", "dureeMois", "NC", None)}
    c = wh.contract(RENNES + "2019DNC")
    assert (c["duration_months"], c["estimated_end_date"]) == (None, None)


def test_duration_zero(wh: Warehouse) -> None:
    """#15 / DAJ: dureeMois 0 is inexploitable: unknown."""
    assert wh.findings("duration_zero.json", 1) == {("DURATION_INVALID", "dureeMois", "0", None)}
    assert wh.contract(RENNES + "2019D0")["duration_months"] is None


def test_duration_240_months(wh: Warehouse) -> None:
    """#15: 240 months (> 180, DAJ): flagged but kept (concessions can be that long)."""
    assert wh.findings("duration_240_months.json", 1) == {
        ("DURATION_LONG", "dureeMois", "240", "240")
    }
    c = wh.contract(RENNES + "2019D240")
    assert (c["duration_months"], c["estimated_end_date"]) == (240, dt.date(2039, 3, 1))


# --- 16: place ---------------------------------------------------------------------------------


def test_postal_code_with_4_digits(wh: Warehouse) -> None:
    """#16: postal code `1000` (leading zero lost): 01000, Bourg-en-Bresse, Ain (01), ARA (84)."""
    assert wh.findings("place_postcode_4_digits.json", 1) == {
        ("PLACE_POSTCODE_PADDED", "lieuExecution.code", "1000", "01000")
    }
    c = wh.contract(RENNES + "2019PC01")
    assert (c["place_code"], c["place_departement_code"], c["place_region_code"]) == (
        "01000",
        "01",
        "84",
    )


def test_unknown_place_code(wh: Warehouse) -> None:
    """#16: PES commune code `INO` and postal code `775000` (6 digits): no known place."""
    assert wh.findings("place_code_unknown.json", 1) == {
        ("PLACE_CODE_UNKNOWN", "lieuExecution.code", "Code commune INO", None)
    }
    assert wh.findings("place_code_unknown.json", 2) == {
        ("PLACE_CODE_UNKNOWN", "lieuExecution.code", "Code postal 775000", None)
    }
    for uid in (RENNES + "2019PU01", RENNES + "2019PU02"):
        c = wh.contract(uid)
        assert (c["place_departement_code"], c["place_region_code"]) == (None, None)


def test_postal_codes_of_corsica_and_overseas(wh: Warehouse) -> None:
    """#16: postal codes 20000 (Ajaccio) -> 2A, 20200 (Bastia) -> 2B, 97139 (Les Abymes) -> 971."""
    for position in (1, 2, 3):
        assert wh.findings("place_corsica_overseas.json", position) == set()
    got = [
        (c["place_departement_code"], c["place_region_code"])
        for c in (
            wh.contract(RENNES + "2019CO2A"),
            wh.contract(RENNES + "2019CO2B"),
            wh.contract(RENNES + "2019CO971"),
        )
    ]
    assert got == [("2A", "94"), ("2B", "94"), ("971", "01")]


# --- 17: ids -----------------------------------------------------------------------------------


def test_id_with_spaces_and_slashes(wh: Warehouse) -> None:
    """#17: `2018MAPA062/0200` and `2024_D2F_2023S12323_33 962_01`: `[ ,./]` become `_`;
    the second is also longer than 16 characters."""
    assert wh.findings("id_with_spaces_slashes.json", 1) == {
        ("ID_CLEANED", "id", "2018MAPA062/0200", "2018MAPA062_0200")
    }
    long_raw, long_id = "2024_D2F_2023S12323_33 962_01", "2024_D2F_2023S12323_33_962_01"
    assert wh.findings("id_with_spaces_slashes.json", 2) == {
        ("ID_CLEANED", "id", long_raw, long_id),
        ("ID_TOO_LONG", "id", long_raw, long_id),
    }
    kept(wh, "id_with_spaces_slashes.json", 1, RENNES + "2018MAPA062_0200")
    kept(wh, "id_with_spaces_slashes.json", 2, RENNES + long_id)
    assert wh.contract(RENNES + "2018MAPA062_0200")["contract_id"] == "2018MAPA062_0200"


def test_missing_id_is_set_aside(wh: Warehouse) -> None:
    """#17 / DAJ: no `id` key, and `"id": ""`: no identity, both set aside."""
    assert wh.findings("id_missing.json", 1) == {("ID_MISSING", "id", None, None)}
    assert wh.findings("id_missing.json", 2) == {("ID_MISSING", "id", "", None)}
    for position in (1, 2):
        rec = wh.record("id_missing.json", position)
        assert (rec["status"], rec["reasons"], rec["uid"]) == ("set_aside", ["ID_MISSING"], None)


# --- 18, 19: structure -------------------------------------------------------------------------


def test_titulaires_nested_in_lists(wh: Warehouse) -> None:
    """#18: `"titulaires": [[{...}]]`: the holder is found, the drift is noted."""
    assert wh.findings("titulaires_nested_lists.json", 1) == {
        ("STRUCTURE_DRIFT", "structure", "titulaires_imbriques", None)
    }
    assert wh.contract(RENNES + "2019TN01")["holder_count"] == 1
    assert wh.rows(
        "SELECT holder_id, holder_name FROM contract_holders WHERE uid = ?", [RENNES + "2019TN01"]
    ) == [{"holder_id": AXIMA, "holder_name": "AXIMA CONCEPT"}]


def test_modifications_as_a_dict(wh: Warehouse) -> None:
    """#18: `"modifications": {...}` instead of a list: read as one modification (new amount
    180000 notified 2019-06-03), the drift is noted."""
    assert wh.findings("modifications_as_dict.json", 1) == {
        ("STRUCTURE_DRIFT", "structure", "modifications_objet", None)
    }
    c = wh.contract(RENNES + "2019MD01")
    assert (c["amount_initial"], c["amount"], c["modification_count"]) == (150000.0, 180000.0, 1)


def test_flat_buyer_key(wh: Warehouse) -> None:
    """#18: `"acheteur.id"` as a flat key: the buyer is found, the drift is noted."""
    assert wh.findings("flat_buyer_key.json", 1) == {
        ("STRUCTURE_DRIFT", "structure", "cle_acheteur_a_plat", None)
    }
    kept(wh, "flat_buyer_key.json", 1, RENNES + "2019FK01")
    assert wh.contract(RENNES + "2019FK01")["buyer_siret"] == RENNES


def test_nan_token(wh: Warehouse) -> None:
    """#18: `"montant": NaN` (invalid JSON): read as null, said in the load log; the record is
    kept with a missing amount."""
    load = wh.loads["nan_token.json"]
    assert (load.status, load.records) == ("loaded", 1)
    assert [(e["code"], e["message"]) for e in load.errors] == [
        ("nan_remplace", "1 valeur(s) « NaN », invalides en JSON, lues comme vides (null).")
    ]
    assert wh.findings("nan_token.json", 1) == {("AMOUNT_MISSING", "montant", None, None)}
    kept(wh, "nan_token.json", 1, RENNES + "2019NAN01")
    c = wh.contract(RENNES + "2019NAN01")
    assert (c["amount"], c["amount_issue"]) == (None, "missing")


def test_empty_lists_in_v2(wh: Warehouse) -> None:
    """#19: `"technique": []`, `"typePrix": []`, `"modifications": []`: empty, not a defect."""
    assert wh.findings("v2_empty_lists.json", 1) == set()
    kept(wh, "v2_empty_lists.json", 1, MEGALIS_BUYER + "2024EL01")
    c = wh.contract(MEGALIS_BUYER + "2024EL01")
    assert (
        c["techniques"],
        c["execution_modes"],
        c["price_types"],
        c["price_form"],
        c["modification_count"],
        c["is_framework_agreement"],
    ) == ([], [], [], "Unitaire", 0, False)


# --- 20, 26: the 2024 format -------------------------------------------------------------------


def test_v2_mandatory_fields_missing(wh: Warehouse) -> None:
    """#26: a 2024 record without offresRecues and ccag: flagged, kept, both unknown."""
    assert wh.findings("v2_mandatory_missing.json", 1) == {
        ("MANDATORY_2024_MISSING", "format 2024", "offresRecues, ccag", None)
    }
    c = wh.contract(MEGALIS_BUYER + "2024MM01")
    assert (c["offers_received"], c["ccag"]) == (None, None)


def test_v2_subcontracting_act_incomplete(wh: Warehouse) -> None:
    """#20: Mégalis acts with only an id and the subcontractor (here the holder itself)."""
    assert wh.findings("v2_subcontract_incomplete.json", 1) == {
        ("SUBCONTRACT_INCOMPLETE", "actesSousTraitance", "58696", None)
    }
    assert wh.rows(
        "SELECT act_id, id_type, subcontractor_id, amount, notification_date "
        "FROM subcontracts WHERE uid = ?",
        [MEGALIS_BUYER + "2024ST01"],
    ) == [
        {
            "act_id": "58696",
            "id_type": "SIRET",
            "subcontractor_id": "32933888305269",
            "amount": None,
            "notification_date": None,
        }
    ]


# --- 22, 23: duplicates ------------------------------------------------------------------------


def test_duplicate_within_a_file(wh: Warehouse) -> None:
    """#22: the same record twice (merged, first kept); then the same uid twice with different
    amounts: the most recent publication (2019-04-20, 160000) wins and the conflict is said."""
    uid1, uid2 = RENNES + "2019DUP01", RENNES + "2019DUP02"
    kept(wh, "duplicate_in_file.json", 1, uid1)
    rec = wh.record("duplicate_in_file.json", 2)
    assert (rec["status"], rec["reasons"], rec["uid"]) == ("duplicate", ["same_file"], uid1)
    assert wh.findings("duplicate_in_file.json", 1) == set()
    assert wh.findings("duplicate_in_file.json", 2) == {("DUPLICATE_IN_SOURCE", "uid", uid1, None)}
    rec = wh.record("duplicate_in_file.json", 3)
    assert (rec["status"], rec["reasons"]) == ("duplicate", ["same_file"])
    kept(wh, "duplicate_in_file.json", 4, uid2)
    assert wh.findings("duplicate_in_file.json", 3) == {
        ("DUPLICATE_IN_SOURCE", "uid", uid2, None),
        ("DUPLICATE_CONFLICT", "uid", "montant 150000.0 ≠ 160000.0 retenu", None),
    }
    c1, c2 = wh.contract(uid1), wh.contract(uid2)
    assert (c1["amount"], c1["record_count"], c1["source_count"]) == (150000.0, 2, 1)
    assert (c2["amount"], c2["publication_date"], c2["record_count"]) == (
        160000.0,
        dt.date(2019, 4, 20),
        2,
    )


def test_duplicate_across_two_files_with_conflicting_amount(wh: Warehouse) -> None:
    """#23: the same two contracts in two files. Same publication date: the first file loaded
    wins (150000); later publication in the second file (2019-05-02): it wins (175000)."""
    a, b = "duplicate_across_files_a.json", "duplicate_across_files_b.json"
    uid1, uid2 = RENNES + "2019XF01", RENNES + "2019XF02"
    kept(wh, a, 1, uid1)
    rec = wh.record(b, 1)
    assert (rec["status"], rec["reasons"], rec["uid"]) == ("duplicate", ["other_file"], uid1)
    assert wh.findings(b, 1) == {
        ("DUPLICATE_ACROSS_SOURCES", "uid", uid1, None),
        ("DUPLICATE_CONFLICT", "uid", "montant 175000.0 ≠ 150000.0 retenu", None),
    }
    kept(wh, b, 2, uid2)
    rec = wh.record(a, 2)
    assert (rec["status"], rec["reasons"], rec["uid"]) == ("duplicate", ["other_file"], uid2)
    assert wh.findings(a, 2) == {
        ("DUPLICATE_ACROSS_SOURCES", "uid", uid2, None),
        ("DUPLICATE_CONFLICT", "uid", "montant 150000.0 ≠ 175000.0 retenu", None),
    }
    assert wh.findings(a, 1) == set()
    assert wh.findings(b, 2) == set()
    sources = ["duplicate_across_files_a", "duplicate_across_files_b"]
    c1, c2 = wh.contract(uid1), wh.contract(uid2)
    assert (c1["amount"], c1["sources"], c1["source_count"], c1["record_count"]) == (
        150000.0,
        sources,
        2,
        2,
    )
    assert (c2["amount"], c2["publication_date"], c2["sources"]) == (
        175000.0,
        dt.date(2019, 5, 2),
        sources,
    )
    assert wh.rows(
        "SELECT shared_contracts, contracts_a, contracts_b FROM source_overlap "
        "WHERE source_a = ? AND source_b = ?",
        sources,
    ) == [{"shared_contracts": 2, "contracts_a": 2, "contracts_b": 2}]


# --- 24: modifications -------------------------------------------------------------------------


def test_modification_applied_to_amount_and_duration(wh: Warehouse) -> None:
    """A modification notified 2019-09-02 raises the amount 150000 -> 165000 and the duration
    12 -> 15 months: the contract shows the amounts after modification, the versions both."""
    uid = RENNES + "2019MA01"
    assert wh.findings("modification_applied.json", 1) == set()
    c = wh.contract(uid)
    assert (
        c["amount_initial"],
        c["amount"],
        c["duration_months_initial"],
        c["duration_months"],
        c["modification_count"],
        c["estimated_end_date"],
    ) == (150000.0, 165000.0, 12, 15, 1, dt.date(2020, 6, 1))
    assert wh.rows(
        "SELECT version, version_kind, notification_date, amount, amount_after, "
        "duration_months_after FROM contract_versions WHERE uid = ? ORDER BY version",
        [uid],
    ) == [
        {
            "version": 0,
            "version_kind": "initial",
            "notification_date": dt.date(2019, 3, 1),
            "amount": 150000.0,
            "amount_after": 150000.0,
            "duration_months_after": 12,
        },
        {
            "version": 1,
            "version_kind": "modification",
            "notification_date": dt.date(2019, 9, 2),
            "amount": 165000.0,
            "amount_after": 165000.0,
            "duration_months_after": 15,
        },
    ]


def test_modification_replaces_holders(wh: Warehouse) -> None:
    """A modification (cession) replaces AXIMA by 44306184100047: the current holder is the new
    one; the amount, absent from the modification, stays 150000."""
    uid = RENNES + "2019MH01"
    assert wh.findings("modification_replaces_holders.json", 1) == set()
    assert wh.rows(
        "SELECT version, holder_id, holder_name, is_current FROM contract_holders "
        "WHERE uid = ? ORDER BY version",
        [uid],
    ) == [
        {"version": 0, "holder_id": AXIMA, "holder_name": "AXIMA CONCEPT", "is_current": False},
        {
            "version": 1,
            "holder_id": "44306184100047",
            "holder_name": "REPRENEUR SAS",
            "is_current": True,
        },
    ]
    c = wh.contract(uid)
    assert (c["holder_count"], c["amount"], c["modification_count"]) == (1, 150000.0, 1)


def test_modifications_applied_in_date_order(wh: Warehouse) -> None:
    """#24: modifications listed out of order (2020-01-10 first, then 2019-06-03) are applied
    by date: the current amount and duration are those of 2020-01-10 (200000, 20 months)."""
    uid = RENNES + "2019MO01"
    assert wh.findings("modifications_out_of_order.json", 1) == set()
    assert wh.rows(
        "SELECT version, notification_date, amount, duration_months "
        "FROM contract_versions WHERE uid = ? ORDER BY version",
        [uid],
    ) == [
        {
            "version": 0,
            "notification_date": dt.date(2019, 3, 1),
            "amount": 150000.0,
            "duration_months": 12,
        },
        {
            "version": 1,
            "notification_date": dt.date(2019, 6, 3),
            "amount": 170000.0,
            "duration_months": 14,
        },
        {
            "version": 2,
            "notification_date": dt.date(2020, 1, 10),
            "amount": 200000.0,
            "duration_months": 20,
        },
    ]
    c = wh.contract(uid)
    assert (
        c["amount"],
        c["duration_months"],
        c["modification_count"],
        c["estimated_end_date"],
    ) == (200000.0, 20, 2, dt.date(2020, 11, 1))


def test_v2_modification_on_the_notification_day(wh: Warehouse) -> None:
    """#24: a 2024-format modification (wrapped in {"modification": ...}) notified the day of the
    contract, montant 50.0, new holder 79368308700019 (Maximilien « test avenant »): flagged.
    As a new total, 50 would cut 52,122 by 99.9 % (more than 80 %): it is read as a delta,
    52,122 + 50 = 52,172."""
    uid = MEGALIS_BUYER + "2024SD01"
    assert wh.findings("modification_same_day_v2.json", 1) == {
        ("MODIFICATION_SAME_DAY", "modifications", "2024-05-30", None),
        ("MODIFICATION_AMOUNT_AS_DELTA", "modifications.montant", "50.0", "52172.0"),
    }
    c = wh.contract(uid)
    assert (c["amount_initial"], c["amount"], c["modification_count"], c["holder_count"]) == (
        52122.0,
        52122.0 + 50.0,
        1,
        1,
    )
    assert wh.rows(
        "SELECT holder_id FROM contract_holders WHERE uid = ? AND is_current", [uid]
    ) == [{"holder_id": "79368308700019"}]
