"""PES V2 readers (Dépense Aller, Marché, Retour) on the DGFiP samples and fixtures derived
from them (``tests/fixtures/accounting/pes/README.md`` lists every mutation).

Every expected value is computed by hand from the fixture files (the arithmetic is written next
to it), or by independent code in the test: a whole-document lxml validation against the
official ``PES_Aller.xsd``, which the reader never does (it validates part by part).
"""

from __future__ import annotations

import hashlib
import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lxml import etree

from observatoire.accounting import pes_depense, pes_schema
from observatoire.accounting.pes import ParquetSink, detect_pes, read_pes
from observatoire.accounting.pes_common import PesResult, RowWriter
from observatoire.accounting.pes_schema import PES_V2
from observatoire.accounting.staging import FINANCE_CONTRACTS, PAYMENT_EVENTS, PAYMENT_LINES

PES = Path(__file__).parent / "fixtures" / "accounting" / "pes"
SAMPLE = PES / "dgfip_PES_DepenseAller_homologation_sample.xml"
MARCHE = PES / "dgfip_PES_Marche_example_contrat_initial_nov2017.xml"
TWO = PES / "pes_depense_two_batches.xml"


def lines(result: PesResult) -> list[dict]:
    return result.tables["payment_lines"].to_pylist()


def by_code(result: PesResult, code: str) -> list:
    return [f for f in result.findings if f.code == code]


def full_document_errors(path: Path) -> list[str]:
    """Independent check: the whole file against the official root schema."""
    schema = etree.XMLSchema(etree.parse(str(PES_V2 / "Rev0" / "PES_Aller.xsd")))
    schema.validate(etree.parse(str(path)))
    return [f"{e.line}:{e.path}" for e in schema.error_log]


# --- detection -------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "root", "flow"), [
    ("dgfip_PES_DepenseAller_homologation_sample.xml", "PES_Aller", "pes_depense"),
    ("dgfip_PES_Marche_example_contrat_initial_nov2017.xml", "PES_Aller", "pes_marche"),
    ("pes_retour_depense.xml", "PES_Retour", "pes_retour"),
    ("pes_recette.xml", "PES_Aller", "pes_recette"),
    ("pes_depense_truncated.xml", "PES_Aller", "pes_depense"),
])
def test_detect_pes_names_the_root_and_the_flow(name: str, root: str, flow: str) -> None:
    kind = detect_pes(PES / name)
    assert kind is not None
    assert (kind.root, kind.flow) == (root, flow)


def test_detect_pes_says_none_for_a_decp_xml_file_and_reading_it_is_rejected(
        tmp_path: Path) -> None:
    path = tmp_path / "decp.xml"
    path.write_text('<?xml version="1.0"?><marches><marche><id>1</id></marche></marches>')
    assert detect_pes(path) is None
    result = read_pes(path)
    assert result.status == "rejected"
    assert result.codes() == ["PES_NOT_PES"]
    assert "n'est pas un fichier PES V2" in result.findings[0].message


# --- PES Dépense: the real DGFiP sample ------------------------------------------------------

def test_homologation_sample_gives_its_one_line_with_every_value_of_the_file() -> None:
    result = read_pes(SAMPLE)
    assert (result.flow, result.status, result.encoding) == ("pes_depense", "loaded",
                                                             "iso-8859-1")
    c = result
    assert (c.bordereaux, c.pieces, c.records_in, c.kept, c.tiers) == (1, 1, 1, 1, 1)
    [row] = lines(result)
    assert row["buyer_id"] == "12345678912345"
    assert row["budget_code"] == "12"
    assert (row["fiscal_year"], row["batch_id"], row["batch_date"]) == (
        2009, "1234567", date(2009, 7, 16))
    assert (row["piece_id"], row["line_id"], row["piece_type"], row["piece_nature"]) == (
        "832", "1", "01", "01")
    assert (row["budget_nature"], row["budget_function"]) == ("6553", "113")
    assert row["amount_ht"] == Decimal("39724.75")
    assert row["amount_tva"] is None and row["amount_ttc"] is None
    assert row["payment_label"] == "ECHEANCIER LE NUMERO N EST PAS PRECISE"
    assert (row["supplier_ref"], row["supplier_name"], row["supplier_category"]) == (
        "811", "PAIERIE DEPART. HERAULT", "22")
    assert row["supplier_natural_person"] is False  # CatTiers 22: a département
    assert row["delay_start_date"] is None  # no DGP block: unknown, not zero
    assert row["line"] == 55  # <LigneDePiece> of the file


def test_homologation_sample_announces_75724_75_for_a_line_of_39724_75() -> None:
    result = read_pes(SAMPLE)
    [check] = result.batches
    assert check.amount_ht_announced == Decimal("75724.75")
    assert check.amount_ht_lines == Decimal("39724.75")
    [finding] = by_code(result, "PES_BATCH_TOTAL_MISMATCH")
    assert finding.severity == "avertissement"
    assert finding.line == 35  # <BlocBordereau>
    assert "écart 36\u202f000,00 €" in finding.message  # 75,724.75 - 39,724.75


def test_homologation_sample_idver_1_is_read_and_is_its_only_departure_from_the_schema() -> None:
    # Independently: the whole file against PES_Aller.xsd fails on IdVer alone.
    assert full_document_errors(SAMPLE) == ["30:/n:PES_Aller/PES_DepenseAller/EnTeteDepense/IdVer"]
    result = read_pes(SAMPLE)
    assert result.revision == "1"
    assert by_code(result, "PES_SCHEMA_VIOLATION") == []
    [revision] = by_code(result, "PES_REVISION")
    assert revision.severity == "information"
    assert result.status == "loaded"


# --- PES Dépense: the derived two-bordereau file ---------------------------------------------

def test_two_batches_fixture_is_valid_for_the_official_schema_and_for_the_reader() -> None:
    assert full_document_errors(TWO) == []
    assert by_code(read_pes(TWO), "PES_SCHEMA_VIOLATION") == []


def test_two_batches_reconcile_six_lines_in_as_five_kept_and_one_duplicate() -> None:
    result = read_pes(TWO)
    c = result
    # lines: 832/1, 833/1, 834/1, 834/1 again, 834/2, 900/1
    assert (c.bordereaux, c.pieces, c.records_in) == (2, 4, 6)
    assert (c.kept, c.duplicates, c.set_aside) == (5, 1, 0)
    assert c.reconciles
    assert c.rows == {"payment_lines": 5}
    [dup] = by_code(result, "PES_DUPLICATE_LINE")
    assert dup.line == 165 and "pièce n° 834, ligne n° 1" in dup.record
    # kept: 39,724.75 + 12,000 + 150 + 75.50 + 2,000 (the annulation, positive as published)
    assert sum(r["amount_ht"] for r in lines(result)) == Decimal("53950.25")


def test_two_batches_announced_totals_equal_their_lines_duplicate_included() -> None:
    result = read_pes(TWO)
    first, second = result.batches
    # 39,724.75 + 12,000 + 150 + 150 + 75.50 = 52,100.25 ; TVA 2,352
    assert (first.amount_ht_lines, first.amount_tva_lines, first.pieces_read) == (
        Decimal("52100.25"), Decimal("2352.00"), 3)
    assert (second.amount_ht_lines, second.amount_tva_lines, second.pieces_read) == (
        Decimal("2000.00"), Decimal("392.00"), 1)
    assert first.matches and second.matches
    assert by_code(result, "PES_BATCH_TOTAL_MISMATCH") == []


def test_advance_piece_carries_dgp_contract_invoice_tva_and_siret() -> None:
    [row] = [r for r in lines(read_pes(TWO)) if r["piece_id"] == "833"]
    assert (row["piece_type"], row["piece_nature"]) == ("09", "14")  # avance forfaitaire
    assert row["delay_eligible"] is True
    assert (row["delay_start_date"], row["delay_end_date"], row["delay_days_allowed"]) == (
        date(2009, 7, 1), date(2009, 7, 31), 30)
    assert (row["interest_code"], row["interest_rate"]) == ("01", 8.0)
    assert (row["contract_ref"], row["invoice_number"]) == ("2009M0042", "FA-2009-0712")
    assert (row["amount_ht"], row["amount_tva"], row["amount_ttc"]) == (
        Decimal("12000.00"), Decimal("2352.00"), Decimal("14352.00"))
    assert row["invoice_amount_ht"] == Decimal("12000.00")
    assert (row["supplier_id"], row["supplier_id_type"], row["supplier_siret"]) == (
        "98765432100016", "01", "98765432100016")
    # ISO-8859-1 bytes C9 (É) decoded
    assert row["supplier_name"] == "SOCIÉTÉ D'ÉTANCHÉITÉ DU LITTORAL"
    assert row["object"] == "Avance forfaitaire - réfection de la toiture de l'école"


def test_individual_tiers_is_flagged_natural_person() -> None:
    rows = [r for r in lines(read_pes(TWO)) if r["piece_id"] == "834"]
    assert [r["line_id"] for r in rows] == ["1", "2"]
    assert all(r["supplier_natural_person"] is True for r in rows)
    assert all((r["supplier_category"], r["supplier_legal_nature"]) == ("01", "01")
               for r in rows)
    others = [r for r in lines(read_pes(TWO)) if r["piece_id"] != "834"]
    assert all(r["supplier_natural_person"] is False for r in others)


def test_annulation_links_the_piece_and_line_it_reduces() -> None:
    [row] = [r for r in lines(read_pes(TWO)) if r["piece_id"] == "900"]
    assert (row["batch_type"], row["piece_type"], row["piece_nature"]) == ("02", "02", "06")
    assert (row["cancelled_piece_id"], row["cancelled_line_id"],
            row["cancelled_fiscal_year"]) == ("833", "1", 2009)
    assert row["attached_piece_id"] is None
    assert row["amount_ht"] == Decimal("2000.00")
    assert by_code(read_pes(TWO), "PES_CANCELLATION_UNLINKED") == []


def test_rows_follow_the_staging_schema_and_reach_a_sink_batch_by_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RowWriter, "BATCH", 2)
    got: list[tuple[str, pa.RecordBatch]] = []
    result = read_pes(TWO, sink=lambda name, batch: got.append((name, batch)))
    assert [(name, batch.num_rows) for name, batch in got] == [
        ("payment_lines", 2), ("payment_lines", 2), ("payment_lines", 1)]
    assert all(batch.schema.equals(PAYMENT_LINES) for _, batch in got)
    assert result.tables == {}  # nothing kept in memory when a sink is given
    assert read_pes(TWO).tables["payment_lines"].schema.equals(PAYMENT_LINES)


# --- bad input (issue 16, section 6) ---------------------------------------------------------

def test_two_bordereaux_with_wrong_totals_each_get_a_finding_and_keep_their_lines() -> None:
    result = read_pes(PES / "pes_depense_wrong_totals.xml")
    totals = by_code(result, "PES_BATCH_TOTAL_MISMATCH")
    assert [(f.record, f.column) for f in totals] == [
        ("bordereau n° 1234567 (exercice 2009)", "MtBordHT"),
        ("bordereau n° 1234568 (exercice 2009)", "MtBordHT")]
    assert "annonce 52\u202f150,25 € (MtBordHT) mais ses lignes totalisent 52\u202f100,25 €" \
        in totals[0].message
    assert "écart 100,00 €" in totals[1].message  # 2,100 - 2,000
    [count] = by_code(result, "PES_BATCH_PIECE_COUNT_MISMATCH")
    assert "annonce 2 pièce(s) (NbrPce) mais en contient 1" in count.message
    assert (result.kept, result.duplicates) == (5, 1)
    assert result.status == "loaded"


def test_signed_pes_is_read_and_says_the_signature_is_not_verified() -> None:
    result = read_pes(PES / "pes_depense_signed.xml")
    assert result.signed
    [signed] = by_code(result, "PES_SIGNED")
    assert "n'est pas vérifiée" in signed.message and signed.line == 97
    assert by_code(result, "PES_SCHEMA_VIOLATION") == []  # the signature block is valid
    assert lines(result) == [{**lines(read_pes(SAMPLE))[0], "file_hash": result.file_hash}]


def test_broken_signature_block_is_reported_against_the_xmldsig_schema(tmp_path: Path) -> None:
    text = (PES / "pes_depense_signed.xml").read_bytes().replace(
        b"<ds:SignatureValue>", b"<ds:Bad/><ds:SignatureValue>")
    path = tmp_path / "signed.xml"
    path.write_bytes(text)
    [violation] = by_code(read_pes(path), "PES_SCHEMA_VIOLATION")
    assert violation.column == "Bad"


def test_reading_without_validation_gives_the_same_rows_and_says_the_schema_was_not_checked(
        tmp_path: Path) -> None:
    text = (PES / "pes_depense_signed.xml").read_bytes().replace(
        b"<ds:SignatureValue>", b"<ds:Bad/><ds:SignatureValue>")
    path = tmp_path / "signed.xml"
    path.write_bytes(text)
    checked, unchecked = read_pes(path), read_pes(path, validate=False)
    assert len(by_code(checked, "PES_SCHEMA_VIOLATION")) == 1  # the ds:Bad element
    assert by_code(unchecked, "PES_SCHEMA_VIOLATION") == []
    [said] = by_code(unchecked, "PES_SCHEMA_NOT_CHECKED")
    assert said.severity == "information" and "désactivé" in said.message
    assert by_code(checked, "PES_SCHEMA_NOT_CHECKED") == []
    assert lines(unchecked) == lines(checked) and unchecked.counts() == checked.counts()


def test_truncated_file_keeps_what_was_read_and_says_where_it_stops() -> None:
    path = PES / "pes_depense_truncated.xml"
    last_line = path.read_bytes().count(b"\n") + 1
    result = read_pes(path)
    assert result.status == "partial"
    [broken] = by_code(result, "PES_XML_INVALID")
    assert broken.severity == "bloquant" and broken.line == last_line
    assert "tronqué" in broken.message
    assert "Lu jusque-là : 2 bordereau(x), 3 pièce(s), 5 ligne(s)" in broken.message
    # bordereau 1234567 whole (4 kept + 1 duplicate); piece 900 never finished
    assert (result.kept, result.duplicates) == (4, 1)
    assert [r["piece_id"] for r in lines(result)] == ["832", "833", "834", "834"]
    first, second = result.batches
    assert first.complete and first.matches
    assert not second.complete and second.pieces_read == 0
    assert [f.record for f in by_code(result, "PES_BATCH_INCOMPLETE")] == [
        "bordereau n° 1234568 (exercice 2009)"]


def test_latin1_bytes_declared_utf8_are_read_as_latin1_with_a_warning() -> None:
    result = read_pes(PES / "pes_depense_latin1_declared_utf8.xml")
    [mismatch] = by_code(result, "PES_ENCODING_MISMATCH")
    assert mismatch.severity == "avertissement"
    names = {r["supplier_name"] for r in lines(result)}
    assert "SOCIÉTÉ D'ÉTANCHÉITÉ DU LITTORAL" in names
    assert result.kept == 5


def test_iso_8859_1_declared_is_said_and_decoded() -> None:
    result = read_pes(TWO)
    [encoding] = by_code(result, "PES_ENCODING")
    assert "ISO-8859-1" in encoding.message and encoding.severity == "information"


def test_missing_optional_blocks_leave_columns_null_and_are_counted() -> None:
    path = PES / "pes_depense_minimal.xml"
    assert full_document_errors(path) == []
    result = read_pes(path)
    assert result.status == "loaded" and by_code(result, "PES_SCHEMA_VIOLATION") == []
    [row] = lines(result)
    assert row["amount_ht"] == Decimal("39724.75")
    for column in ("budget_code", "object", "budget_function", "payment_label",
                   "payment_mode", "supplier_ref", "supplier_name", "supplier_natural_person",
                   "delay_start_date", "contract_ref"):
        assert row[column] is None, column
    assert [f.code for f in result.findings] == ["PES_ENCODING", "PES_DGP_MISSING",
                                                 "PES_TIERS_MISSING"]
    assert result.batches[0].matches


def test_pes_recette_is_recognised_and_said_not_handled() -> None:
    result = read_pes(PES / "pes_recette.xml")
    assert (result.flow, result.status) == ("pes_recette", "not_handled")
    [finding] = result.findings
    assert finding.code == "PES_RECETTE_NOT_HANDLED"
    assert "pas encore lues" in finding.message
    assert result.tables == {}


def test_recette_part_next_to_depenses_is_counted_as_set_aside(tmp_path: Path) -> None:
    recette = (PES / "pes_recette.xml").read_text(encoding="latin-1")
    part = recette[recette.index(" <PES_RecetteAller>"):recette.index(" </PES_RecetteAller>")]
    sample = SAMPLE.read_text(encoding="latin-1")
    end = sample.index(" </PES_DepenseAller>") + len(" </PES_DepenseAller>")
    path = tmp_path / "both.xml"
    path.write_text(sample[:end] + "\n" + part + " </PES_RecetteAller>" + sample[end:],
                    encoding="latin-1")
    result = read_pes(path)
    assert result.flow == "pes_depense"
    c = result
    assert (c.records_in, c.kept, c.set_aside) == (2, 1, 1)  # 1 dépense line, 1 recette line
    assert c.reconciles
    assert by_code(result, "PES_RECETTE_NOT_HANDLED")


# --- schema findings on the deliberately broken fixture --------------------------------------

def test_schema_broken_fixture_gives_one_finding_per_violation_with_its_line() -> None:
    result = read_pes(PES / "pes_depense_schema_broken.xml")
    violations = by_code(result, "PES_SCHEMA_VIOLATION")
    assert [(f.line, f.column) for f in violations] == [
        (46, "TypPce"), (111, "Fonction"), (191, "MtHT"), (211, "DteBordEm")]
    assert "« 99 » n'est pas un code de la liste officielle" in violations[0].message
    assert "attendu : Nature" in violations[1].message
    assert all("lu quand même" in f.message for f in violations)
    assert all(f.severity == "avertissement" for f in violations)
    # Independently, the whole-document check finds the same lines.
    assert sorted({int(e.split(":")[0]) for e in full_document_errors(
        PES / "pes_depense_schema_broken.xml")}) == [46, 111, 191, 211]


def test_schema_broken_fixture_sets_aside_only_the_unreadable_amount() -> None:
    result = read_pes(PES / "pes_depense_schema_broken.xml")
    c = result
    assert (c.records_in, c.kept, c.duplicates, c.set_aside) == (6, 4, 1, 1)
    [aside] = by_code(result, "PES_LINE_SET_ASIDE")
    assert aside.severity == "bloquant" and aside.line == 185
    assert "« 75,50 »" in aside.message
    kept = {(r["piece_id"], r["line_id"]): r for r in lines(result)}
    assert kept[("832", "1")]["piece_type"] == "99"  # read as published
    assert kept[("833", "1")]["budget_nature"] is None


# --- PES Marché ------------------------------------------------------------------------------

def test_pes_marche_example_gives_its_contract_buyers_and_amounts() -> None:
    result = read_pes(MARCHE)
    assert (result.flow, result.status, result.revision) == ("pes_marche", "loaded", "2")
    assert (result.records_in, result.kept) == (1, 1)
    [row] = result.tables["finance_contracts"].to_pylist()
    assert result.tables["finance_contracts"].schema.equals(FINANCE_CONTRACTS)
    assert (row["contract_ref"], row["buyer_id"], row["send_sequence"]) == (
        "20181234", "20005376700014", 1)
    assert [(b["id"], b["estimate_ht"], b["amount_ht"]) for b in row["buyers"]] == [
        ("20005376700014", Decimal("60000.00"), Decimal("50000.00")),
        ("20000531200026", Decimal("40000.00"), Decimal("25000.00"))]
    assert (row["nature"], row["cpv"], row["procedure"], row["place_code"]) == (
        "03", "72220000-7", "02", "69009")
    assert (row["amount_ht"], row["amount_tva"], row["estimate_ht"]) == (
        Decimal("75000.00"), Decimal("15000.00"), Decimal("100000.00"))
    assert (row["notification_date"], row["duration_months"], row["duration_max_months"]) == (
        date(2019, 1, 25), 12, 36)
    assert row["object"] == "Etude pour la création d'un logiciel de test pour l'aviation"
    assert (row["advance_rate"], row["guarantee"]) == (5.0, "01")
    assert row["secondary_cpv"] == ["72212135-3"]
    assert (row["offers_received"], row["social_clause"], row["ccag"]) == (10, True, "05")


def test_pes_marche_holders_keep_advance_guarantee_and_their_share() -> None:
    [row] = read_pes(MARCHE).tables["finance_contracts"].to_pylist()
    holders = {h["id"]: h for h in row["holders"]}
    abcde, zyx, sub = (holders["12345678912345"], holders["34567891234567"],
                       holders["23456789123456"])
    assert (abcde["role"], zyx["role"], sub["role"]) == (
        "titulaire", "titulaire", "sous_traitant_paiement_direct")
    assert abcde["amount_ht"] == Decimal("45000.00")  # 20,000 (région) + 25,000 (syndicat)
    assert zyx["amount_ht"] == Decimal("25000.00")
    assert sub["amount_ht"] == Decimal("5000.00")
    assert (abcde["advance_rate"], abcde["start_date"]) == (5.0, date(2019, 2, 1))
    assert sub["advance_rate"] == 3.0  # given in its own ventilation
    assert abcde["guarantees"] == [{"type": "01", "delay_months": 12, "rate": 5.0,
                                    "amount": Decimal("2500.00")}]
    assert all(h["natural_person"] is False for h in row["holders"])  # CatTiers 50, NatJur 03


def test_pes_marche_is_read_without_schema_and_its_breakdown_is_checked() -> None:
    result = read_pes(MARCHE)
    [newer] = by_code(result, "PES_SCHEMA_NEWER_REVISION")
    assert "lue sans validation" in newer.message
    [breakdown] = by_code(result, "PES_CONTRACT_BREAKDOWN_MISMATCH")
    # région's share 50,000 against its holders 20,000 + 25,000
    assert "50\u202f000,00 € HT" in breakdown.message and "45\u202f000,00 €" in breakdown.message
    assert breakdown.record == "marché 20181234"


# --- PES Retour ------------------------------------------------------------------------------

def test_retour_gives_state_prise_en_charge_payments_and_suspension() -> None:
    result = read_pes(PES / "pes_retour_depense.xml")
    assert (result.flow, result.status) == ("pes_retour", "loaded")
    assert result.tables["payment_events"].schema.equals(PAYMENT_EVENTS)
    c = result
    assert (c.bordereaux, c.pieces, c.records_in, c.kept) == (1, 3, 4, 4)
    events = result.tables["payment_events"].to_pylist()
    # 832/1 one payment, 833/1 two payments, 834/1 and 834/2 none (rejected)
    assert [(e["piece_id"], e["line_id"], e["payment_date"], e["amount_paid"])
            for e in events] == [
        ("832", "1", date(2009, 7, 24), Decimal("39724.75")),
        ("833", "1", date(2009, 8, 10), Decimal("10000.00")),
        ("833", "1", date(2009, 8, 17), Decimal("4352.00")),
        ("834", "1", None, None),
        ("834", "2", None, None)]
    first = events[0]
    assert (first["state"], first["taken_in_charge_date"], first["payment_id"]) == (
        "05", date(2009, 7, 20), "100001")
    advance = events[1]
    assert (advance["suspension_start"], advance["suspension_end"],
            advance["suspension_reason"]) == (date(2009, 7, 22), date(2009, 8, 5), "01")
    assert advance["suspension_days"] == 14  # 22 July → 5 August
    assert (advance["amount_paid_total"], advance["payments_count"]) == (
        Decimal("14352.00"), 2)
    assert advance["contract_ref"] == "2009M0042"
    rejected = events[3]
    assert (rejected["state"], rejected["rejected_date"], rejected["state_note"]) == (
        "04", date(2009, 7, 23), "Pièce justificative manquante")
    assert by_code(result, "PES_SCHEMA_VIOLATION") == []
    assert by_code(result, "PES_PAYMENT_TOTAL_MISMATCH") == []


def test_retour_blocks_are_checked_against_the_retour_classes(tmp_path: Path) -> None:
    text = (PES / "pes_retour_depense.xml").read_bytes()
    path = tmp_path / "retour.xml"
    path.write_bytes(text.replace(b'<EtatPce V="04"/>', b'<EtatPce V="99"/>')
                     .replace(b'<MtPay V="4352.00"/>', b'<MtPay V="4350.00"/>'))
    result = read_pes(path)
    [violation] = by_code(result, "PES_SCHEMA_VIOLATION")
    assert violation.column == "EtatPce"
    [total] = by_code(result, "PES_PAYMENT_TOTAL_MISMATCH")  # 10,000 + 4,350 ≠ 14,352
    assert "pièce n° 833" in total.record


def test_parquet_sink_writes_the_rows_read(tmp_path: Path) -> None:
    with ParquetSink(tmp_path / "out") as sink:
        result = read_pes(PES / "pes_retour_depense.xml", sink=sink)
    table = pq.read_table(tmp_path / "out" / "payment_events.parquet")
    assert table.num_rows == result.rows["payment_events"] == 5
    assert sum(a for a in table.column("amount_paid").to_pylist() if a) == Decimal("54076.75")


def test_every_finding_code_is_documented_with_its_severity() -> None:
    from observatoire.accounting.pes_common import CODES

    doc = (Path(__file__).resolve().parents[1] / "docs" / "accounting.md").read_text(
        encoding="utf-8")
    for code, (severity, title) in CODES.items():
        assert f"| `{code}` | {severity} |" in doc, code
        assert title


def test_empty_file_is_rejected_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "vide.xml"
    path.write_bytes(b"")
    result = read_pes(path)
    assert result.status == "rejected"
    assert [(f.code, f.message) for f in result.findings] == [
        ("PES_NOT_PES", "Le fichier est vide.")]


def test_file_truncated_before_its_first_part_is_rejected_as_broken(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    path = tmp_path / "coupe.xml"
    path.write_bytes(data[:data.index(b"<EnTetePES>") + len(b"<EnTetePES>")])
    result = read_pes(path)
    assert result.status == "rejected"
    [broken] = result.findings
    assert broken.code == "PES_XML_INVALID" and "tronqué" in broken.message


def test_marche_part_beside_expenses_is_said_not_read(tmp_path: Path) -> None:
    marche = MARCHE.read_text(encoding="utf-8-sig")
    part = marche[marche.index("\t<PES_Marche>"):marche.index("</PES_Marche>") + 13]
    sample = SAMPLE.read_text(encoding="latin-1")
    end = sample.index(" </PES_DepenseAller>") + len(" </PES_DepenseAller>")
    path = tmp_path / "depense_et_marche.xml"
    path.write_text(sample[:end] + "\n" + part + sample[end:], encoding="utf-8")
    path.write_text(path.read_text(encoding="utf-8").replace(
        'encoding="ISO-8859-1"', 'encoding="UTF-8"'), encoding="utf-8")
    result = read_pes(path)
    assert result.flow == "pes_depense" and result.kept == 1
    [other] = by_code(result, "PES_PART_NOT_READ")
    assert other.column == "PES_Marche" and other.severity == "avertissement"
    assert "PES_Marche (2 élément(s))" in other.message  # EnTeteMarche, Marches


def test_bordereau_present_twice_has_its_lines_counted_as_duplicates(tmp_path: Path) -> None:
    sample = SAMPLE.read_text(encoding="latin-1")
    start, end = sample.index("  <Bordereau"), sample.index("  </Bordereau>") + 15
    path = tmp_path / "deux_fois.xml"
    path.write_text(sample[:end] + sample[start:end] + sample[end:], encoding="latin-1")
    result = read_pes(path)
    c = result
    assert (c.bordereaux, c.records_in, c.kept, c.duplicates) == (2, 2, 1, 1)
    [dup] = by_code(result, "PES_DUPLICATE_BATCH")
    assert dup.record == "bordereau n° 1234567 (exercice 2009)"


def test_findings_beyond_200_of_one_code_are_counted_not_listed(tmp_path: Path) -> None:
    sample = SAMPLE.read_text(encoding="latin-1")
    start, end = sample.index("   <Piece>"), sample.index("   </Piece>") + 12
    piece = sample[start:end].replace('<TypPce V="01"/>', '<TypPce V="99"/>')
    pieces = "".join(piece.replace('<IdPce V="832"/>', f'<IdPce V="{n}"/>')
                     for n in range(1, 206))
    path = tmp_path / "205.xml"
    path.write_text(sample[:start] + pieces + sample[end:], encoding="latin-1")
    result = read_pes(path)
    assert len(by_code(result, "PES_SCHEMA_VIOLATION")) == 200
    assert result.findings_not_listed == {"PES_SCHEMA_VIOLATION": 5}
    assert result.kept == 205


def test_marche_holder_with_a_first_name_is_a_natural_person(tmp_path: Path) -> None:
    text = MARCHE.read_text(encoding="utf-8-sig").replace(
        '<DenominationSociale V="SARL ZYX"/>',
        '<DenominationSociale V="MARTIN"/><Prenom V="PAUL"/>')
    path = tmp_path / "marche.xml"
    path.write_text(text, encoding="utf-8")
    [row] = read_pes(path).tables["finance_contracts"].to_pylist()
    flags = {h["id"]: h["natural_person"] for h in row["holders"]}
    assert flags == {"12345678912345": False, "34567891234567": True, "23456789123456": False}


def test_cut_anywhere_the_reader_never_raises_and_counts_reconcile(tmp_path: Path) -> None:
    data = TWO.read_bytes()
    path = tmp_path / "coupe.xml"
    seen = set()
    for cut in range(0, len(data), 37):
        path.write_bytes(data[:cut])
        result = read_pes(path)
        assert result.status in {"partial", "rejected"}, cut
        assert result.reconciles, cut
        assert result.kept == result.rows.get("payment_lines", 0), cut
        assert any(f.severity == "bloquant" for f in result.findings), cut
        seen.add(result.kept)
    # kept after pieces 832, 833, 834 (2 lines + 1 duplicate), 900: whole pieces or nothing
    assert seen == {0, 1, 2, 4, 5}


@pytest.mark.parametrize("name", ["pes_depense_two_batches.xml", "pes_retour_depense.xml",
                                  "dgfip_PES_Marche_example_contrat_initial_nov2017.xml"])
def test_random_byte_changes_never_make_the_reader_raise(tmp_path: Path, name: str) -> None:
    rng = random.Random(16)  # noqa: S311 (test data)
    data = (PES / name).read_bytes()
    path = tmp_path / name
    junk = [b"9" * 12, b"-1", b"", b"\xe9", b"<", b"&", b"2009-02-30", b"1e400", b"NaN", b"x"]
    for _ in range(200):
        mutated = bytearray(data)
        for _ in range(3):
            at = rng.randrange(len(mutated))
            mutated[at:at + rng.randint(0, 4)] = rng.choice(junk)
        path.write_bytes(bytes(mutated))
        result = read_pes(path)  # never raises
        assert result.reconciles


def test_schema_messages_for_attributes_and_text_are_said_in_french(tmp_path: Path) -> None:
    text = SAMPLE.read_bytes().replace(b'<IdPce V="832"/>', b'<IdPce V="832" X="1"/>').replace(
        b'<Nature V="6553"/>', b'<Nature V="6553"/>texte')
    path = tmp_path / "attr.xml"
    path.write_bytes(text)
    messages = [f.message for f in by_code(read_pes(path), "PES_SCHEMA_VIOLATION")]
    assert any("l'attribut « X » n'est pas prévu" in m for m in messages)
    assert any("du texte figure là où le schéma n'attend que des éléments" in m
               for m in messages)
    assert all("respecte pas le schéma PES V2 2.1.a : le contenu" not in m for m in messages)


def test_simulated_demo_set_reads_clean_and_its_paid_totals_match_its_readme() -> None:
    """The demo's simulated PES set is written by another module (accounting.simulate); its
    README states what is paid per contract (account 2313, annulation deducted)."""
    demo = Path(__file__).resolve().parents[1] / "demo" / "data" / "pes-simule"
    paid: dict[str | None, Decimal] = {}
    persons = 0
    for path in sorted(demo.glob("SIMULE_PES_*.xml")):
        result = read_pes(path)
        assert result.status == "loaded" and result.reconciles, path.name
        assert by_code(result, "PES_SCHEMA_VIOLATION") == [], path.name
        for row in result.tables.get("payment_lines", pa.table({})).to_pylist():
            persons += bool(row["supplier_natural_person"])
            if row["budget_nature"] == "2313":
                sign = -1 if row["batch_type"] == "02" else 1
                paid[row["contract_ref"]] = (paid.get(row["contract_ref"], Decimal(0))
                                             + sign * row["amount_ht"])
    assert paid == {  # the README's « Mandaté (€ HT) » column
        "H9O2024T0000256": Decimal("32122.00"), "H9O2024T0000356": Decimal("146780.00"),
        "H9O2024T0000456": Decimal("33136.63"), "H9O2024T0000556": Decimal("19283.59"),
        "H9O2024T0000656": Decimal("17250.00")}
    assert persons == 1  # « dont une personne physique, CatTiers 01 »


def test_file_broken_before_its_first_line_is_rejected_not_partial(tmp_path: Path) -> None:
    data = TWO.read_bytes()
    path = tmp_path / "coupe.xml"
    path.write_bytes(data[:data.index(b"<Piece>")])  # header and first BlocBordereau only
    result = read_pes(path)
    assert (result.status, result.records_in, result.bordereaux) == ("rejected", 0, 1)
    assert by_code(result, "PES_XML_INVALID")


# --- every column of every row, against an independent reading of the file -----------------

def _expected_payment_lines(path: Path) -> list[dict]:
    """PAYMENT_LINES rows computed here with plain ``find`` calls on the whole parsed file,
    from the element meanings in docs/accounting.md (not from the reader's code): one row per
    LigneDePiece of the PES_DepenseAller, a line whose (IdPce, IdLigne) was already met in its
    bordereau being a duplicate, not a row."""
    root = etree.parse(str(path)).getroot()

    def val(el: etree._Element | None, where: str) -> str | None:
        found = el.find(where) if el is not None else None
        text = (found.get("V") or "").strip() if found is not None else ""
        return text or None

    def amount(text: str | None) -> Decimal | None:
        return Decimal(text) if text is not None else None

    def day_of(text: str | None) -> date | None:
        return date.fromisoformat(text) if text is not None else None

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    rows, position = [], 0
    for bord in root.iterfind("PES_DepenseAller/Bordereau"):
        bb, seen = bord.find("BlocBordereau"), set()
        for piece in bord.iterfind("Piece"):
            ip, dgp = piece.find("BlocPiece/InfoPce"), piece.find("BlocPiece/DGP")
            cancelling = val(ip, "NatPce") in ("06", "10") or val(bb, "TypBord") == "02"
            for line in piece.iterfind("LigneDePiece"):
                position += 1
                info = line.find("BlocLignePiece/InfoLignePce")
                attach = line.find("BlocLignePiece/RattachPiece")
                tiers = line.find("Tiers/InfoTiers")
                key = (val(ip, "IdPce"), val(info, "IdLigne"))
                if key in seen:
                    continue
                seen.add(key)
                ht, tva = amount(val(info, "MtHT")), amount(val(info, "MtTVA"))
                ident, id_type = val(tiers, "IdTiers"), val(tiers, "NatIdTiers")
                cat, legal = val(tiers, "CatTiers"), val(tiers, "NatJur")
                person = None
                if line.find("Tiers") is not None:
                    if "01" in (cat, legal) or val(tiers, "Prenom") or val(tiers, "Civilite"):
                        person = True
                    elif cat is not None or legal is not None:
                        person = False
                names = [val(tiers, t) for t in ("Nom", "ComplNom", "Prenom")]
                labels = [val(info, t) for t in ("LibVir1", "LibVir2")]
                rate_text = val(dgp, "TxIntMor")
                rows.append({
                    "file_hash": digest, "position": position, "line": line.sourceline,
                    "flow": "pes_depense", "buyer_id": val(root, "EnTetePES/IdColl"),
                    "budget_code": val(root, "EnTetePES/CodBud"),
                    "fiscal_year": int(val(bb, "Exer") or 0) or None,
                    "batch_id": val(bb, "IdBord"), "batch_date": day_of(val(bb, "DteBordEm")),
                    "batch_type": val(bb, "TypBord"), "piece_id": key[0], "line_id": key[1],
                    "piece_type": val(ip, "TypPce"), "piece_nature": val(ip, "NatPce"),
                    "cancelled_piece_id": val(attach, "IdPceOrig") if cancelling else None,
                    "cancelled_line_id": val(attach, "IdLigneOrig") if cancelling else None,
                    "cancelled_fiscal_year": (int(val(attach, "ExerRat") or 0) or None)
                    if cancelling else None,
                    "attached_piece_id": None if cancelling else val(attach, "IdPceOrig"),
                    "budget_nature": val(info, "Nature"), "budget_function": val(info, "Fonction"),
                    "object": val(ip, "Obj"),
                    "payment_label": " ".join(t for t in labels if t) or None,
                    "payment_mode": val(info, "ModRegl"),
                    "amount_ht": ht, "amount_tva": tva,
                    "amount_ttc": ht + tva if ht is not None and tva is not None else None,
                    "invoice_amount_ht": amount(val(info, "MtFactHT")),
                    "supplier_ref": val(tiers, "RefTiers"), "supplier_id": ident,
                    "supplier_id_type": id_type,
                    "supplier_siret": ident if ident is not None and len(ident) == 14
                    and ident.isdigit() and id_type in (None, "01") else None,
                    "supplier_name": " ".join(n for n in names if n) or None,
                    "supplier_category": cat, "supplier_legal_nature": legal,
                    "supplier_natural_person": person,
                    "contract_ref": val(line, "BlocLignePiece/LiensIdent/IdMarche"),
                    "commitment_ref": None, "invoice_number": val(info, "Facture"),
                    "invoice_date": None, "invoice_received_date": None,
                    "delay_eligible": {"true": True, "false": False}.get(val(dgp, "Dgp") or ""),
                    "delay_start_date": day_of(val(dgp, "DteDebDgp")),
                    "delay_end_date": day_of(val(dgp, "DteFinDgp")),
                    "delay_days_allowed": int(val(dgp, "DureeDgp") or 0) or None,
                    "interest_code": val(dgp, "CodIntMor"),
                    "interest_rate": float(rate_text) if rate_text is not None else None,
                    "subcontractor_paid": None, "commitment_line": None,
                    "service_done_date": None, "buyer_unit": None,
                })
    return rows


DEMO_PES = Path(__file__).resolve().parents[1] / "demo" / "data" / "pes-simule"


@pytest.mark.parametrize("path", [
    SAMPLE, TWO, PES / "pes_depense_signed.xml", PES / "pes_depense_minimal.xml",
    PES / "pes_depense_wrong_totals.xml",
    *sorted(DEMO_PES.glob("SIMULE_PES_DepenseAller*.xml"))], ids=lambda p: p.name)
def test_every_column_of_every_row_equals_an_independent_reading_of_the_file(
        path: Path) -> None:
    expected = _expected_payment_lines(path)
    assert expected, "the file has lines"
    got = lines(read_pes(path))
    assert [list(row) for row in got] == [PAYMENT_LINES.names] * len(got)
    assert got == expected


@pytest.mark.parametrize(("spelling", "expected"), [
    ("true", True), ("1", True), ("false", False), ("0", False), ("oui", None)])
def test_dgp_flag_reads_boolean_spellings_and_the_schema_reports_all_but_true_and_false(
    tmp_path: Path, spelling: str, expected: bool | None
) -> None:
    # The PES schema allows only "true" and "false" (an enumeration); "1" and "0", the other
    # xs:boolean spellings, say yes and no all the same (read so, and reported); any other
    # text is neither: unknown, never a "no"
    text = TWO.read_bytes().replace(b'<Dgp V="true"/>', f'<Dgp V="{spelling}"/>'.encode())
    path = tmp_path / "dgp.xml"
    path.write_bytes(text)
    result = read_pes(path)
    [row] = [r for r in lines(result) if r["piece_id"] == "833"]
    assert row["delay_eligible"] is expected
    assert bool(by_code(result, "PES_SCHEMA_VIOLATION")) is (spelling not in ("true", "false"))


@pytest.mark.parametrize("group", [2, pes_depense.PIECE_GROUP])
def test_pieces_checked_by_groups_give_the_findings_of_each_piece_checked_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group: int) -> None:
    """The reader validates a bordereau's pièces in one call (``validate_pieces``); its
    findings must be those of each pièce validated alone (``validate_part``, the check of one
    element against the wrapper's ``Piece``): element, line, path, libxml2's text, in order —
    errors in a pièce's values, its lines, on the pièce element itself (a missing line, an
    attribute, text), and a bordereau holding an element the group does not allow (its pièces
    are then checked one by one)."""
    monkeypatch.setattr(pes_depense, "PIECE_GROUP", group)
    sample = SAMPLE.read_text(encoding="latin-1")
    start, end = sample.index("   <Piece>"), sample.index("   </Piece>") + 12
    batch_start, batch_end = sample.index("  <Bordereau"), sample.index("  </Bordereau>") + 15
    piece = sample[start:end]
    line = piece[piece.index("    <LigneDePiece>"):piece.index("    </LigneDePiece>") + 19]

    def numbered(n: int, text: str = piece) -> str:
        return text.replace('<IdPce V="832"/>', f'<IdPce V="{n}"/>')

    first = [
        numbered(1),
        numbered(2).replace('<TypPce V="01"/>', '<TypPce V="99"/>'),
        numbered(3).replace(line, ""),  # no line: the pièce itself is incomplete
        numbered(4).replace("<Piece>", '<Piece X="1">'),
        numbered(5).replace("<Piece>", "<Piece>texte"),
        numbered(6).replace('<MtHT V="39724.75"/>', '<MtHT V="39x724.75"/>'),
        numbered(7).replace(line, line + line.replace('<IdLigne V="1"/>', '<IdLigne V="2"/>')
                            .replace('<CatTiers V="22"/>', '<CatTiers V="ZZ"/>')),
        numbered(8),
    ]
    second = [numbered(20), '   <Inconnu V="1"/>\n',
              numbered(21).replace('<TypPce V="01"/>', '<TypPce V="99"/>')]
    head = sample[batch_start:start]
    path = tmp_path / "groupes.xml"
    path.write_text(sample[:batch_start] + head + "".join(first) + "  </Bordereau>\n"
                    + head.replace('<IdBord V="1234567"/>', '<IdBord V="2"/>')
                    + "".join(second) + sample[end:batch_end] + sample[batch_end:],
                    encoding="latin-1")
    schema = pes_schema.aller_schema()
    expected = [(v.line, v.element, v.detail, v.path)
                for el in etree.parse(str(path)).iter("Piece")
                for v in pes_schema.validate_part(schema, pes_schema.WRAPPER_NS, el)]
    # one violation per mutated pièce (2 to 7, and 21), three of them on the pièce itself
    assert [e[3] for e in expected] == [
        "Piece/BlocPiece/InfoPce/TypPce", "Piece", "Piece", "Piece",
        "Piece/LigneDePiece/BlocLignePiece/InfoLignePce/MtHT",
        "Piece/LigneDePiece[2]/Tiers/InfoTiers/CatTiers", "Piece/BlocPiece/InfoPce/TypPce"]
    calls: list[bool] = []  # whether each group was checked in one call

    def spy(schema: etree.XMLSchema, namespace: str, bordereau: etree._Element,
            count: int) -> list[list[pes_schema.Violation]] | None:
        checks = pes_schema.validate_pieces(schema, namespace, bordereau, count)
        calls.append(checks is not None)
        return checks

    monkeypatch.setattr(pes_depense, "validate_pieces", spy)
    got = [f for f in by_code(read_pes(path), "PES_SCHEMA_VIOLATION")
           if f.message.startswith("Pièce :")]
    # bordereau 1 by groups (of 2: 4 calls), bordereau 2 one by one (its Inconnu element)
    assert calls == ([True] * 4 if group == 2 else [True]) + [False]
    assert [(f.line, f.column, f.detail) for f in got] == [e[:3] for e in expected]
    assert all(f"({e[3]})" in f.message for f, e in zip(got, expected, strict=True))
