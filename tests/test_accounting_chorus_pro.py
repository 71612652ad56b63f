"""Chorus Pro readers on the pastell samples of tests/fixtures/accounting/chorus-pro (synthetic
values; see its README). Expected values are read from the XML independently with the standard
library's ElementTree."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from observatoire.accounting.chorus_pro import detect_chorus_pro, read_chorus_pro
from observatoire.errors import InputFileError

FIXTURES = Path(__file__).parent / "fixtures" / "accounting" / "chorus-pro"
PIVOT_4 = FIXTURES / "pastell_chorus_CPPFichierFormatPivot_sans_pj.xml"
PIVOT_1 = FIXTURES / "pastell_chorus_CPPFacturePivot_facture_1221_sans_pj.xml"
STATUT = FIXTURES / "pastell_chorus_CPPStatut_example01.xml"


def _cents(text: str) -> Decimal:
    return Decimal(text).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_pivot_invoices_carry_supplier_debtor_dates_amounts_and_commitment():
    result = read_chorus_pro(PIVOT_4)
    assert result.format == "chorus-pro-pivot"
    assert result.counts() == {"records_in": 4, "kept": 4, "set_aside": 0}
    invoices = result.tables["invoices"].to_pylist()
    expected = []
    for unit in ET.parse(PIVOT_4).getroot().iter("CPPFacturePivotUnitaire"):  # noqa: S314
        data = unit.find("DonneesFacture")
        assert data is not None
        expected.append((
            data.findtext("Id"),
            unit.findtext("Fournisseur/Identifiant"),
            unit.findtext("Debiteur/Identifiant"),
            unit.findtext("Debiteur/CodeService"),
            dt.date.fromisoformat(data.findtext("DateEmissionFacture") or ""),
            dt.date.fromisoformat(data.findtext("DateReception") or ""),
            _cents(data.findtext("Montants/MontantHT") or ""),
            _cents(data.findtext("Montants/MontantTTC") or ""),
            data.findtext("Engagement/NumeroEngagement"),
        ))
    got = [
        (i["invoice_number"], i["supplier_siret"], i["buyer_id"], i["service_code"],
         i["issue_date"], i["received_date"], i["amount_ht"], i["amount_ttc"],
         i["commitment_ref"])
        for i in invoices
    ]
    assert got == expected
    assert [i["commitment_ref"] for i in invoices] == [
        "2412345673", "2412345672", "2412345671", "2412345678"
    ]
    assert invoices[0]["amount_ttc"] == Decimal("3245.68")  # 3245.681450 to the cent
    assert all(i["contract_ref"] is None for i in invoices)  # <NumeroMarche/> is empty


def test_pivot_validation_cycle_gives_a_reception_event_per_invoice():
    result = read_chorus_pro(PIVOT_4)
    statuses = result.tables["invoice_statuses"].to_pylist()
    assert [(s["invoice_number"], s["status_code"], s["event"], s["event_date"])
            for s in statuses] == [
        (f"AVA2015092{n}", "01", "reception", dt.date(2015, 8, 19)) for n in (3, 4, 5, 6)
    ]
    assert {i["status"] for i in result.tables["invoices"].to_pylist()} == {"01 Déposée"}


def test_status_flux_gives_the_service_fait_date_from_its_timestamp():
    result = read_chorus_pro(STATUT)
    assert result.format == "chorus-pro-statut"
    (status,) = result.tables["invoice_statuses"].to_pylist()
    assert status["invoice_number"] == "Example01"
    assert (status["status_code"], status["status_label"]) == ("07", "Service fait")
    assert status["event"] == "service_fait"
    assert status["event_date"] == dt.date(2018, 12, 18)
    assert status["event_at"] == "2018-12-18T16:51:55.000+01:00"
    assert status["invoice_date"] == dt.date(2018, 6, 13)
    assert "invoices" not in result.tables


def test_truncated_pivot_keeps_the_invoices_before_the_break(tmp_path):
    text = PIVOT_4.read_text(encoding="utf-8")
    third = text.index('<CPPFacturePivotUnitaire NumOrdre="3"')
    path = tmp_path / "tronque.xml"
    path.write_text(text[: third + 200], encoding="utf-8")
    result = read_chorus_pro(path)
    assert result.kept == 2 and result.reconciles
    (broken,) = [f for f in result.findings if f.code == "CHORUS_PRO_XML_INVALID"]
    assert broken.severity == "bloquant" and "après la facture n° 2" in broken.message


def test_a_private_person_supplier_is_flagged_and_not_named(tmp_path):
    text = PIVOT_1.read_text(encoding="utf-8")
    path = tmp_path / "particulier.xml"
    path.write_text(text.replace("<TypeIdentifiant>1</TypeIdentifiant>\n\t\t\t\t<Identifiant>"
                                 "32682006500083", "<TypeIdentifiant>7</TypeIdentifiant>\n\t\t\t\t"
                                 "<Identifiant>32682006500083", 1), encoding="utf-8")
    (invoice,) = read_chorus_pro(path).tables["invoices"].to_pylist()
    assert invoice["supplier_natural_person"] is True
    assert invoice["supplier_name"] is None and invoice["supplier_siret"] is None


def test_an_invoice_without_number_is_set_aside_with_a_finding(tmp_path):
    text = PIVOT_1.read_text(encoding="utf-8")
    path = tmp_path / "sans_numero.xml"
    path.write_text(text.replace("<Id>AVA20150923</Id>", "<Id></Id>", 1), encoding="utf-8")
    result = read_chorus_pro(path)
    assert result.counts() == {"records_in": 1, "kept": 0, "set_aside": 1}
    assert result.status == "rejected"
    assert [f.code for f in result.findings] == ["CHORUS_PRO_NUMBER_MISSING"]


def test_an_xml_that_is_not_chorus_pro_is_refused_in_french(tmp_path):
    path = tmp_path / "autre.xml"
    path.write_text("<marches><marche/></marches>", encoding="utf-8")
    assert detect_chorus_pro(path) is None
    with pytest.raises(InputFileError) as info:
        read_chorus_pro(path)
    assert "<CPPFacturePivot>" in info.value.message
