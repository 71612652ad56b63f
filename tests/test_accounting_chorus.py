"""Chorus readers on the real extracts of tests/fixtures/accounting/chorus (see its README).

Expected values come from the data README (37 DP rows, 833,915.72 € TTC, SIRET in 23 of them;
45 EJ rows, SIRET in 34) and from independent reads of the raw files with the csv module in the
tests themselves. The README's "30 suppliers" counts the empty ``vendor`` of two regularisation
rows (+0.01 / -0.01 €) as one: 29 named suppliers.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import re
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from observatoire.accounting.chorus import detect_chorus, read_chorus
from observatoire.errors import InputFileError

FIXTURES = Path(__file__).parent / "fixtures" / "accounting" / "chorus"
DP = FIXTURES / "dataetat_chorus_DP_demandes_paiement_2024-09-26.csv"
EJ = FIXTURES / "dataetat_chorus_EJ_engagements_2024-09-26.csv"
AIFE_CP = FIXTURES / "dataetat_aife_cp.csv"
AIFE_AE = FIXTURES / "dataetat_aife_ae.csv"
BUD53_CP = FIXTURES / "dataetat_INF-BUD-53_financial_cp.csv"
BUD53_AE = FIXTURES / "dataetat_chorus_ae.csv"


def _raw(path: Path, separator: str) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=separator))


def test_dp_extract_gives_37_lines_833915_72_ttc_and_siret_in_23():
    result = read_chorus(DP)
    lines = result.tables["payment_lines"]
    assert result.format == "chorus-dp"
    assert result.counts() == {"records_in": 37, "kept": 37, "set_aside": 0}
    assert lines.num_rows == 37
    assert pc.sum(lines["amount_ttc"]).as_py() == Decimal("833915.72")
    assert pc.count(lines["supplier_siret"]).as_py() == 23
    raw = _raw(DP, "|")
    assert pc.count_distinct(lines["supplier_ref"]).as_py() == len(
        {r["vendor"] for r in raw if r["vendor"]}
    ) == 29
    assert lines["supplier_ref"].null_count == 2


def test_dp_amount_ttc_is_ht_plus_tva_in_euros_row_by_row():
    lines = read_chorus(DP).tables["payment_lines"].to_pylist()
    raw = _raw(DP, "|")
    for row, source in zip(lines, raw, strict=True):
        expected = Decimal(source["bic_cglmfahte"]) + Decimal(source["bic_cglmtvae"])
        assert row["amount_ttc"] == expected
        assert row["piece_id"] == source["ac_doc_no"].lstrip("0")
        assert row["commitment_ref"] == source["oi_ebeln"]
        assert row["delay_start_date"] == (
            dt.date.fromisoformat(source["bline_date"]) if source["bline_date"] else None
        )
        assert row["budget_nature"] == source["cmmt_item"]
        assert row["budget_code"] == source["Code_Programme"]
        assert row["fiscal_year"] == int(source["fiscyear"])


def test_ej_extract_gives_45_commitment_lines_with_siret_in_34():
    result = read_chorus(EJ)
    commitments = result.tables["commitments"]
    assert result.format == "chorus-ej"
    assert result.reconciles and result.kept == 45
    assert pc.count(commitments["supplier_siret"]).as_py() == 34
    raw = _raw(EJ, "|")
    assert pc.sum(commitments["amount"]).as_py() == sum(
        Decimal(r["fm_amount1"]) for r in raw
    )
    first = commitments.slice(0, 1).to_pylist()[0]
    assert (first["commitment_ref"], first["commitment_line"]) == ("2104478529", "1")
    assert first["commitment_date"] == dt.date(2024, 8, 27)


def test_ej_numbers_join_dp_numbers_with_the_same_spelling():
    # The same-day national extracts share no EJ (independently: raw sets intersect to
    # nothing); the AIFE pair does: each paid DP points at a committed EJ, same amounts.
    dp = read_chorus(DP).tables["payment_lines"]
    ej = read_chorus(EJ).tables["commitments"]
    raw_dp = {r["oi_ebeln"] for r in _raw(DP, "|")}
    raw_ej = {r["bbp_po_id"] for r in _raw(EJ, "|")}
    assert set(dp["commitment_ref"].to_pylist()) & set(ej["commitment_ref"].to_pylist()) == (
        raw_dp & raw_ej
    )
    paid = read_chorus(AIFE_CP).tables["payment_lines"].to_pylist()
    committed = {
        (r["commitment_ref"], r["commitment_line"]): r["amount"]
        for r in read_chorus(AIFE_AE).tables["commitments"].to_pylist()
    }
    assert {(p["commitment_ref"], p["commitment_line"]): p["amount_ttc"] for p in paid} == (
        committed
    ) == {
        ("2104453606", "1"): Decimal("12615940.52"),
        ("2104583353", "1"): Decimal("9159575.18"),
    }


def test_ej_lines_join_across_layouts_without_zero_padding():
    # INF-BUD-53: the paid DPs of EJ 2103105755 line 5 (252 € and 150 €) and the committed
    # line 5 of that EJ (22,500.12 €) meet on (EJ, line).
    paid = read_chorus(BUD53_CP).tables["payment_lines"].to_pylist()
    committed = read_chorus(BUD53_AE).tables["commitments"].to_pylist()
    keys = {(c["commitment_ref"], c["commitment_line"]) for c in committed}
    joined = [p["amount_ttc"] for p in paid if (p["commitment_ref"], p["commitment_line"]) in keys]
    assert joined == [Decimal("252.00"), Decimal("150.00")]


def test_aife_cp_gives_payment_events_with_the_last_operation_date():
    result = read_chorus(AIFE_CP)
    events = result.tables["payment_events"].to_pylist()
    assert [(e["piece_id"], e["payment_date"], e["amount_paid"]) for e in events] == [
        ("100241599", dt.date(2024, 8, 9), Decimal("12615940.52")),
        ("100379604", dt.date(2024, 12, 13), Decimal("9159575.18")),
    ]
    lines = result.tables["payment_lines"].to_pylist()
    assert lines[0]["supplier_name"] == "AGENCE NATIONALE DES TITRES"
    assert lines[0]["supplier_siret"] == "13000326200024"
    assert lines[0]["delay_start_date"] == dt.date(2024, 8, 9)


def test_mangled_quoting_is_repaired_cell_by_cell_and_named_by_line():
    result = read_chorus(AIFE_AE)
    names = [r["supplier_name"] for r in result.tables["commitments"].to_pylist()]
    assert names == ['XXX ";P BBB"', 'AGENCE; NATIONALE "DES TITRES"']
    repaired = [f for f in result.findings if f.code == "CHORUS_QUOTES_REPAIRED"]
    assert [f.line for f in repaired] == [2, 3]
    assert all("ligne" in f.where and f.raw_value for f in repaired)
    assert result.counts() == {"records_in": 2, "kept": 2, "set_aside": 0}


def test_a_line_that_cannot_be_repaired_is_set_aside_with_its_text(tmp_path):
    path = tmp_path / "dp.csv"
    junk = "TOTAL|833915.72\n" + "|" * 27 + "\n\n"  # and an empty row, a blank line: not records
    path.write_text(DP.read_text(encoding="utf-8") + junk, encoding="utf-8")
    result = read_chorus(path)
    assert result.counts() == {"records_in": 38, "kept": 37, "set_aside": 1}
    assert result.reconciles and result.status == "partial"
    (finding,) = [f for f in result.findings if f.code == "CHORUS_LINE_SET_ASIDE"]
    assert finding.line == 39 and finding.raw_value == "TOTAL|833915.72"
    assert finding.severity == "bloquant" and "ligne 39" in finding.where


def test_report_preamble_is_skipped_and_noted_and_gives_the_fiscal_year():
    result = read_chorus(BUD53_CP)
    assert result.format == "chorus-inf-bud-53-cp"
    (preamble,) = [f for f in result.findings if f.code == "CHORUS_PREAMBLE"]
    assert preamble.line == 8 and "7 ligne(s)" in preamble.message
    lines = result.tables["payment_lines"].to_pylist()
    assert len(lines) == 5 and lines[0]["line"] == 9
    assert {r["fiscal_year"] for r in lines} == {2023}  # "Exercice comptable,2023" above
    assert [r["amount_ttc"] for r in lines] == [
        Decimal("28.26"), Decimal("27.96"), Decimal("252.00"), Decimal("150.00"),
        Decimal("807.28"),
    ]
    # "#" is Chorus's "not assigned": no EJ on the first two, no SIRET on the third.
    assert lines[0]["commitment_ref"] is None and lines[2]["supplier_siret"] is None
    assert lines[0]["supplier_ref"] == "1001477845"  # first "Fournisseur payé (DP)": code
    assert lines[0]["supplier_name"] == "SANS AE"  # second one: name


def test_junk_preamble_and_an_invalid_programme_keep_every_row():
    result = read_chorus(BUD53_AE)
    assert result.format == "chorus-inf-bud-53-ae"
    assert result.counts() == {"records_in": 3, "kept": 3, "set_aside": 0}
    (invalid,) = [f for f in result.findings if f.code == "CHORUS_PROGRAMME_INVALID"]
    assert invalid.line == 11 and invalid.raw_value == "XXX"
    amounts = [r["amount"] for r in result.tables["commitments"].to_pylist()]
    assert amounts == [Decimal("22500.12"), Decimal("15000.00"), Decimal("15000.00")]


def test_a_preamble_before_a_national_header_is_found_whatever_its_length(tmp_path):
    path = tmp_path / "dp_preambule.csv"
    preamble = "Extraction Chorus du 26/09/2024\nProgramme 0216\n\n"
    path.write_text(preamble + DP.read_text(encoding="utf-8"), encoding="utf-8")
    detection = detect_chorus(path)
    assert detection is not None and detection.header_line == 4 and detection.separator == "|"
    result = read_chorus(path)
    assert result.kept == 37
    assert pc.sum(result.tables["payment_lines"]["amount_ttc"]).as_py() == Decimal("833915.72")
    assert result.tables["payment_lines"]["line"][0].as_py() == 5


def test_windows_1252_extract_reads_the_same_values(tmp_path):
    path = tmp_path / "cp_latin1.csv"
    path.write_bytes(AIFE_CP.read_text(encoding="utf-8").encode("cp1252"))
    result = read_chorus(path)
    assert result.format == "chorus-aife-cp"
    assert result.tables["payment_lines"].drop(["file_hash"]).equals(
        read_chorus(AIFE_CP).tables["payment_lines"].drop(["file_hash"])
    )


def test_unread_columns_are_named_not_silently_ignored():
    result = read_chorus(DP)
    (unread,) = [f for f in result.findings if f.code == "CHORUS_COLUMNS_NOT_READ"]
    for column in ("ref_key3", "bic_cglmfahtd", "Mission"):
        assert column in unread.message


def test_a_file_without_a_chorus_header_is_refused_in_french(tmp_path):
    path = tmp_path / "autre.csv"
    path.write_text("a;b;c\n1;2;3\n", encoding="utf-8")
    assert detect_chorus(path) is None
    with pytest.raises(InputFileError) as info:
        read_chorus(path)
    assert "Aucun en-tête Chorus reconnu" in info.value.message
    assert "ac_doc_no" in info.value.hint


def test_a_sink_receives_every_row_batch_by_batch_and_nothing_is_held(monkeypatch):
    from observatoire.accounting.result import TableBuilder

    monkeypatch.setattr(TableBuilder, "BATCH", 10)
    received: list[tuple[str, int]] = []
    batches = []

    def sink(name, batch):
        received.append((name, batch.num_rows))
        batches.append(batch)

    result = read_chorus(DP, sink=sink)
    assert result.tables == {} and result.kept == 37
    assert received == [("payment_lines", 10)] * 3 + [("payment_lines", 7)]
    whole = read_chorus(DP).tables["payment_lines"]
    assert pa.Table.from_batches(batches).equals(whole)


def test_an_empty_file_and_a_broken_workbook_are_refused_with_what_to_do(tmp_path):
    empty = tmp_path / "vide.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match="Le fichier est vide"):
        read_chorus(empty)
    workbook = tmp_path / "restitution.xlsx"
    workbook.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    with pytest.raises(InputFileError) as info:
        read_chorus(workbook)
    assert "pas un classeur XLSX lisible" in info.value.message and "CSV" in info.value.hint


def _as_workbook(source: Path, separator: str, path: Path) -> Path:
    """The CSV as a report saved in Excel: numbers and dates stored as such."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    with source.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh, delimiter=separator):
            typed: list[object] = []
            for cell in row:
                if re.fullmatch(r"\d{2}[./]\d{2}[./]\d{4}", cell):
                    typed.append(dt.datetime(int(cell[6:]), int(cell[3:5]), int(cell[:2])))
                elif re.fullmatch(r"\d+,\d+", cell):
                    typed.append(float(cell.replace(",", ".")))
                elif re.fullmatch(r"[1-9]\d{0,14}", cell):
                    typed.append(int(cell))
                else:
                    typed.append(cell)
            sheet.append(typed)
    workbook.save(path)
    return path


@pytest.mark.parametrize(("source", "separator"), [(AIFE_CP, ";"), (BUD53_CP, ",")],
                         ids=["aife-cp", "inf-bud-53-cp"])
def test_a_report_saved_as_xlsx_reads_like_its_csv(tmp_path, source, separator):
    workbook = _as_workbook(source, separator, tmp_path / "restitution.xlsx")
    detection = detect_chorus(workbook)
    assert detection is not None and detection.container == "xlsx"
    from_sheet = read_chorus(workbook)
    from_csv = read_chorus(source)
    assert from_sheet.format == from_csv.format
    assert from_sheet.counts() == from_csv.counts()
    for name in ("payment_lines", "payment_events"):
        assert from_sheet.tables[name].drop(["file_hash"]).equals(
            from_csv.tables[name].drop(["file_hash"])
        )


def test_a_dp_line_without_its_number_is_set_aside_with_its_text(tmp_path):
    header, first, *rest = DP.read_text(encoding="utf-8").splitlines()
    cells = first.split("|")
    cells[1] = ""  # ac_doc_no
    path = tmp_path / "dp.csv"
    path.write_text("\n".join([header, "|".join(cells), *rest]) + "\n", encoding="utf-8")
    result = read_chorus(path)
    assert result.counts() == {"records_in": 37, "kept": 36, "set_aside": 1}
    (aside,) = [f for f in result.findings if f.code == "CHORUS_NUMBER_MISSING"]
    assert (aside.line, aside.column, aside.raw_value) == (2, "ac_doc_no", "|".join(cells))


@pytest.mark.parametrize("source", [DP, AIFE_AE, BUD53_CP], ids=lambda p: p.name)
def test_random_damage_never_loses_a_record_nor_raises(tmp_path, source):
    """Seeded random damage to the data lines (quotes, separators, cut or junk text): every
    data line is kept or set aside with a finding, and nothing raises."""
    rng = random.Random(20261207)  # noqa: S311 (reproducible test data, not secrets)
    detection = detect_chorus(source)
    assert detection is not None
    lines = source.read_text(encoding="utf-8").splitlines()
    top, data = lines[: detection.header_line], lines[detection.header_line :]
    for attempt in range(60):
        damaged = list(data)
        for _ in range(3):
            i = rng.randrange(len(damaged))
            j = rng.randrange(len(damaged[i]) + 1)
            cut = rng.choice([0, 0, 3])
            junk = rng.choice(['"', ";", "|", ",", '""', "é", "", "TOTAL"])
            damaged[i] = damaged[i][:j] + junk + damaged[i][j + cut :]
        path = tmp_path / f"damaged_{attempt}.csv"
        path.write_text("\n".join(top + damaged) + "\n", encoding="utf-8")
        result = read_chorus(path)
        assert result.reconciles
        assert result.records_in == sum(1 for d in damaged if d.strip(detection.separator + '" '))
        aside = [f for f in result.findings
                 if f.code in ("CHORUS_LINE_SET_ASIDE", "CHORUS_NUMBER_MISSING")]
        assert len(aside) == result.set_aside


def test_a_header_without_lines_says_so(tmp_path):
    path = tmp_path / "entete_seul.csv"
    path.write_text(DP.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    result = read_chorus(path)
    assert result.counts() == {"records_in": 0, "kept": 0, "set_aside": 0}
    assert [f.code for f in result.findings if f.severity == "avertissement"] == ["CHORUS_EMPTY"]
    assert result.tables["payment_lines"].num_rows == 0
