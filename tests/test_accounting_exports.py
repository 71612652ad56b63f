"""Finance exports read through a column mapping: the Région Bretagne 2013–2015 mapping on the
example file built to its layout (src/observatoire/profiles/region-bretagne/accounting/).

The example, by hand (HT / TTC, amounts paid "mandaté" beside amounts awarded "attribué"):

  line  Nmarché    year  paid HT     paid TTC    awarded HT  contractor role
  2     2014-0001  2014  40,000.00   48,000.00   120,000.00  titulaire
  3     2014-0001  2015  70,000.00   84,000.00   120,000.00  titulaire
  4     2014-0001  2015  10,000.00   12,000.00   120,000.00  sous-traitant (paiement direct)
  5     2015-0042  2015  12,345.67   14,814.80    35,000.00  titulaire
  6     2015-0107  —     —           —            60,000.00  titulaire, date 31/02/2015
  7     (empty)    —     132,345.67  158,814.80  —           totals line: set aside

Paid: 132,345.67 € HT, 158,814.80 € TTC on 4 lines; 2014-0001 paid 120,000 € HT of 120,000.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow.compute as pc
import pytest

from observatoire.accounting.exports import ExportMapping, read_export
from observatoire.errors import ConfigError, InputFileError

PROFILE = Path(__file__).parent.parent / "src" / "observatoire" / "profiles" / "region-bretagne"
MAPPING = PROFILE / "accounting" / "export-marches-2013-2015.toml"
EXAMPLE = PROFILE / "accounting" / "export-marches-2013-2015-exemple.csv"


def _read() -> tuple:
    result = read_export(EXAMPLE, ExportMapping.from_toml(MAPPING))
    return result, result.tables["finance_contracts"], result.tables["payment_lines"]


def test_region_export_gives_contracts_and_payments_side_by_side():
    result, contracts, payments = _read()
    assert result.counts() == {"records_in": 6, "kept": 5, "set_aside": 1}
    assert contracts.num_rows == 5
    assert pc.count_distinct(contracts["contract_ref"]).as_py() == 3
    assert payments.num_rows == 4
    assert pc.sum(payments["amount_ht"]).as_py() == Decimal("132345.67")
    assert pc.sum(payments["amount_ttc"]).as_py() == Decimal("158814.80")
    paid = sum(
        (p["amount_ht"] for p in payments.to_pylist() if p["contract_ref"] == "2014-0001"),
        Decimal(0),
    )
    awarded = {c["amount_ht"] for c in contracts.to_pylist() if c["contract_ref"] == "2014-0001"}
    assert (paid, awarded) == (Decimal("120000.00"), {Decimal("120000.00")})


def test_region_export_rows_keep_year_holder_and_direct_payment():
    _, contracts, payments = _read()
    rows = payments.to_pylist()
    assert [(p["line"], p["fiscal_year"], p["subcontractor_paid"]) for p in rows] == [
        (2, 2014, False), (3, 2015, False), (4, 2015, True), (5, 2015, False)
    ]
    assert rows[2]["supplier_siret"] == "99900001100018"
    first = contracts.to_pylist()[0]
    assert first["notification_date"] == dt.date(2014, 3, 15)
    assert first["duration_months"] == 12 and first["buyer_id"] == "23350001600040"
    # the holder struct also carries PES Marché terms (role, advance…), unknown in an export
    assert [{k: h[k] for k in ("siret", "name", "natural_person")}
            for h in first["holders"]] == [
        {"siret": "99900000300015", "name": "Exemple Bâtiment SARL", "natural_person": None}
    ]


def test_unreadable_date_keeps_the_row_and_names_line_and_column():
    result, contracts, _ = _read()
    (bad,) = [f for f in result.findings if f.code == "EXPORT_VALUE_UNREADABLE"]
    assert (bad.line, bad.column, bad.raw_value) == (6, "DateNotification", "31/02/2015")
    assert "JJ/MM/AAAA" in bad.message
    last = contracts.to_pylist()[-1]
    assert last["contract_ref"] == "2015-0107" and last["notification_date"] is None


def test_totals_line_without_contract_number_is_set_aside_with_its_text():
    result, _, _ = _read()
    (aside,) = [f for f in result.findings if f.code == "EXPORT_LINE_SET_ASIDE"]
    assert aside.line == 7 and "« Nmarché » est vide" in aside.message
    assert aside.raw_value is not None and "132 345,67" in aside.raw_value
    assert result.reconciles


def test_unmapped_columns_are_named():
    result, _, _ = _read()
    (unread,) = [f for f in result.findings if f.code == "EXPORT_COLUMNS_NOT_READ"]
    assert "Taille" in unread.message and "Code NAF" in unread.message
    assert "Nmarché" not in unread.message


def test_mapping_naming_a_missing_column_refuses_the_file_with_the_columns_it_has(tmp_path):
    path = tmp_path / "export.csv"
    text = EXAMPLE.read_text(encoding="utf-8")
    path.write_text(text.replace("Montant mandate HT", "Montant mandaté HT", 1), encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        read_export(path, ExportMapping.from_toml(MAPPING))
    error = info.value
    assert "La colonne « Montant mandate HT » (payments.amount_ht) est absente de l'en-tête." in (
        error.message
    )
    assert "ligne 1 (en-tête)" in error.where and str(MAPPING) in error.where
    assert "« Montant mandaté HT »" in error.hint and "Corrigez le fichier" in error.hint


def test_xlsx_export_reads_like_the_csv(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    with EXAMPLE.open(encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh, delimiter=";"):
            sheet.append(row)
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    result = read_export(path, ExportMapping.from_toml(MAPPING))
    _, contracts, payments = _read()
    assert result.counts() == {"records_in": 6, "kept": 5, "set_aside": 1}
    assert result.tables["payment_lines"].drop(["file_hash"]).equals(
        payments.drop(["file_hash"])
    )
    assert result.tables["finance_contracts"].drop(["file_hash"]).equals(
        contracts.drop(["file_hash"])
    )


def test_mapping_errors_are_explained(tmp_path):
    with pytest.raises(ConfigError, match=re.escape("inconnu(s) dans [mapping.payments]")):
        ExportMapping.from_dict({"payments": {"montant": "X"}})
    with pytest.raises(ConfigError, match="contract_ref"):
        ExportMapping.from_dict({"contracts": {"amount_ht": "X"}})
    with pytest.raises(ConfigError, match="au moins une colonne de montant"):
        ExportMapping.from_dict({"payments": {"contract_ref": "X"}})
    broken = tmp_path / "m.toml"
    shutil.copy(MAPPING, broken)
    broken.write_text(broken.read_text(encoding="utf-8") + "[mapping\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="pas du TOML valide"):
        ExportMapping.from_toml(broken)
