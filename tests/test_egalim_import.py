"""The Egalim purchase importer, on ma-cantine's own import fixtures and on files written here.

Expected values are read off the fixture contents (tests/fixtures/egalim/imports/) and the spec
(egalim-rules.md §2.2 and §2.5), not from running the importer. Line numbers are lines of the
file: 1 is the header, so ma-cantine's data row n is line n + 1.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openpyxl import Workbook

from observatoire.egalim.importer import (
    CanteenDirectory,
    ImportReport,
    import_purchases,
)
from observatoire.egalim.labels import PRIVATE_LABEL_WARNING, normalise_label, resolve_label
from observatoire.egalim.mapping import ColumnMapping
from observatoire.errors import ConfigError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "egalim" / "imports"
SIRET = "21010034300016"
CANTEENS = CanteenDirectory.of(sirets=[SIRET], ids=["949"])
#: The day after ma-cantine's commit: the fixtures' 2026-06-22 dates are in the past.
TODAY = dt.date(2026, 7, 1)


def run(
    path: Path, tmp_path: Path, *, accept_partial: bool = False, **kwargs: Any
) -> tuple[ImportReport, Path]:
    out = tmp_path / "out" / "achats.parquet"
    kwargs.setdefault("today", TODAY)
    report = import_purchases(
        path,
        out,
        canteens=kwargs.pop("canteens", CANTEENS),
        accept_partial=accept_partial,
        **kwargs,
    )
    return report, out


def rows(out: Path) -> list[dict[str, Any]]:
    con = duckdb.connect()
    cur = con.execute(f"SELECT * FROM read_parquet('{out}') ORDER BY line_number")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def codes(report: ImportReport) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.code) for e in report.errors]


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


CURRENT_HEADER = (
    "siret,description,fournisseur,date,prix_ht,famille_produits,categories_egalim,origine,"
    "est_circuit_court,est_local,definition_local,definition_local_km"
)

# --- Good fixtures -------------------------------------------------------------------------

GOOD = [
    # file, format, separator, lines
    ("purchases_good.csv", "ma-cantine-siret", ",", 8),
    ("purchases_good_old.csv", "ma-cantine-siret-ancien", ",", 8),
    ("purchases_good_floating_number.csv", "ma-cantine-siret", ",", 1),
    ("purchases_good_floating_number_old.csv", "ma-cantine-siret-ancien", ",", 1),
    ("purchases_good_id.csv", "ma-cantine-id", ",", 1),
    ("purchases_good_id_old.csv", "ma-cantine-id-ancien", ",", 1),
    ("purchases_good_id_caracteristics.csv", "ma-cantine-id", ";", 2),
    ("purchases_good_siret_caracteristics.csv", "ma-cantine-siret", ";", 2),
    ("purchases_good_local_vs_circuit_court.csv", "ma-cantine-siret", ";", 2),
    ("purchases_good_separator_comma.csv", "ma-cantine-siret", ",", 1),
    ("purchases_good_separator_comma_old.csv", "ma-cantine-siret-ancien", ",", 1),
    ("purchases_good_separator_semicolon.csv", "ma-cantine-siret", ";", 1),
    ("purchases_good_separator_semicolon_old.csv", "ma-cantine-siret-ancien", ";", 1),
    ("purchases_good_separator_tab.tsv", "ma-cantine-siret", "\t", 1),
    ("purchases_good_separator_tab_old.tsv", "ma-cantine-siret-ancien", "\t", 1),
]


@pytest.mark.parametrize(("name", "fmt", "sep", "lines"), GOOD)
def test_good_fixtures_load_whole(
    name: str, fmt: str, sep: str, lines: int, tmp_path: Path
) -> None:
    report, out = run(FIXTURES / name, tmp_path)
    assert report.errors == []
    assert (report.status, report.format, report.separator) == ("chargé", fmt, sep)
    assert (report.lines_read, report.kept, report.set_aside, report.blank) == (lines, lines, 0, 0)
    assert report.encoding == "utf-8"
    assert len(rows(out)) == lines


def test_purchases_good_values(tmp_path: Path) -> None:
    _, out = run(FIXTURES / "purchases_good.csv", tmp_path)
    got = rows(out)
    assert [r["line_number"] for r in got] == list(range(2, 10))
    first = got[0]
    assert first["canteen_siret"] == SIRET and first["canteen_id"] is None
    assert first["description"] == "Pommes, rouges, local"
    assert first["supplier"] == "Le bon traiteur"  # trailing space trimmed
    assert first["supplier_siret"] is None and first["article_code"] is None
    assert first["purchase_date"] == dt.date(2022, 5, 2)
    assert first["price_ht"] == Decimal("90.11")
    assert first["family"] == "PRODUITS_LAITIERS"  # written " PRODUITS_LAITIERS "
    assert first["characteristics"] == ["BIO", "LOCAL"]  # est_local = x
    assert first["local_definition"] == "DEPARTEMENT" and first["local_km"] is None
    assert first["labels_known"] is True
    assert first["raw_labels"] == "BIO"
    raw = json.loads(first["raw"])
    assert raw["famille_produits"] == " PRODUITS_LAITIERS " and raw["est_local"] == "x"
    assert len(raw) == 12
    # Rows 2 to 8 of the file (lines 3 to 9).
    assert [(r["family"], r["characteristics"]) for r in got[1:]] == [
        ("AUTRES", []),
        ("PRODUITS_LAITIERS", ["RUP"]),
        ("BOISSONS", ["BIO"]),  # "BIO " with a trailing space
        ("AUTRES", ["AOCAOP"]),
        ("AUTRES", ["LOCAL"]),
        ("AUTRES", ["LOCAL"]),
        ("AUTRES", ["LOCAL"]),
    ]
    assert got[1]["raw_labels"] is None and got[1]["labels_known"] is True
    assert [(r["local_definition"], r["local_km"]) for r in got[5:]] == [
        ("COMMUNE", None),
        ("KM", None),
        ("KM", 200),
    ]
    assert all(r["price_ht"] == Decimal("910.11") for r in got[1:])
    assert all(r["purchase_date"] == dt.date(2022, 5, 3) for r in got[1:])


def test_purchases_good_old_values(tmp_path: Path) -> None:
    _, out = run(FIXTURES / "purchases_good_old.csv", tmp_path)
    got = rows(out)
    assert got[0]["characteristics"] == ["BIO", "LOCAL"]  # "BIO, LOCAL"
    assert got[0]["raw_labels"] == "BIO, LOCAL"
    assert got[0]["local_definition"] == "DEPARTEMENT"
    assert [(r["characteristics"], r["local_definition"]) for r in got[5:]] == [
        (["LOCAL"], "COMMUNE"),
        (["LOCAL"], "AUTRE"),
        (["LOCAL"], "AUTOUR_SERVICE"),
    ]


@pytest.mark.parametrize(
    "name", ["purchases_good_floating_number.csv", "purchases_good_floating_number_old.csv"]
)
def test_floating_number_rounded_to_cents(name: str, tmp_path: Path) -> None:
    _, out = run(FIXTURES / name, tmp_path)
    assert [r["price_ht"] for r in rows(out)] == [Decimal("90.11")]  # 90.11000000002


@pytest.mark.parametrize("name", ["purchases_good_id.csv", "purchases_good_id_old.csv"])
def test_id_files_keyed_by_canteen_id(name: str, tmp_path: Path) -> None:
    _, out = run(FIXTURES / name, tmp_path)
    (row,) = rows(out)
    assert (row["canteen_id"], row["canteen_siret"]) == ("949", None)
    assert row["characteristics"] == ["BIO", "LOCAL"]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("purchases_good_id_caracteristics.csv", "canteen_id"),
        ("purchases_good_siret_caracteristics.csv", "canteen_siret"),
    ],
)
def test_current_format_flags_become_characteristics(name: str, key: str, tmp_path: Path) -> None:
    _, out = run(FIXTURES / name, tmp_path)
    first, second = rows(out)
    assert first[key] == ("949" if key == "canteen_id" else SIRET)
    # BIO,COMMERCE_EQUITABLE; origine FRANCE; circuit court "oui"; local "x"; REGION.
    assert first["characteristics"] == [
        "BIO",
        "COMMERCE_EQUITABLE",
        "FRANCE",
        "CIRCUIT_COURT",
        "LOCAL",
    ]
    assert (first["local_definition"], first["price_ht"]) == ("REGION", Decimal("100.00"))
    # origine EUROPE; circuit court "non"; not local.
    assert second["characteristics"] == ["BIO", "COMMERCE_EQUITABLE", "EUROPE"]
    assert (second["local_definition"], second["price_ht"]) == (None, Decimal("200.00"))
    assert first["purchase_date"] == dt.date(2026, 6, 22)


def test_local_versus_circuit_court(tmp_path: Path) -> None:
    _, out = run(FIXTURES / "purchases_good_local_vs_circuit_court.csv", tmp_path)
    local, short = rows(out)
    assert (local["characteristics"], local["local_definition"]) == (["LOCAL"], "DEPARTEMENT")
    assert (short["characteristics"], short["local_definition"]) == (["CIRCUIT_COURT"], None)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("purchases_good_separator_semicolon.csv", ["BIO", "LOCAL"]),
        ("purchases_good_separator_semicolon_old.csv", ["BIO", "LOCAL"]),
        ("purchases_good_separator_tab.tsv", ["BIO", "LOCAL"]),
        ("purchases_good_separator_tab_old.tsv", ["BIO", "LOCAL"]),
    ],
)
def test_separators(name: str, expected: list[str], tmp_path: Path) -> None:
    _, out = run(FIXTURES / name, tmp_path)
    (row,) = rows(out)
    assert (row["description"], row["supplier"]) == ("Pommes vertes", "Le bon traiteur")
    assert row["characteristics"] == expected
    assert (row["family"], row["local_definition"]) == ("PRODUITS_LAITIERS", "DEPARTEMENT")


# --- Bad fixtures ---------------------------------------------------------------------------

#: purchases_bad.csv: the 11 format errors of ma-cantine's test_validata_format_error, in order.
BAD_FORMAT = [
    (2, "siret", "required"),  # empty siret
    (5, "description", "required"),
    (6, "famille_produits", "required"),  # missing provider (optional) and family
    (7, "date", "required"),
    (8, "date", "date_impossible"),  # 2022-02-31
    (9, "date", "date_format"),  # 2022/03/01
    (10, "prix_ht", "required"),
    (11, "prix_ht", "number_format"),  # "A price"
    (12, "famille_produits", "family_unknown"),  # NOPE
    (13, "categories_egalim", "labels_unknown"),  # BIO,NOPE
    (15, "ligne", "cells_count"),  # missing column: 11 cells
]


def test_purchases_bad_all_errors_in_file_order(tmp_path: Path) -> None:
    report, out = run(FIXTURES / "purchases_bad.csv", tmp_path)
    assert report.status == "rejeté" and not out.exists() and report.output is None
    formats = [(e.line, e.column, e.code) for e in report.errors if e.kind == "format"]
    assert formats == BAD_FORMAT
    rules = [(e.line, e.column, e.code) for e in report.errors if e.kind == "règle"]
    assert rules == [
        (3, "siret", "canteen_unknown"),  # 86180597100897
        (4, "siret", "canteen_unknown"),  # 36462492895701 (not in the directory)
        (14, "definition_local", "local_definition_missing"),  # est_local x, no definition
    ]
    assert [e.line for e in report.errors] == sorted(e.line for e in report.errors)
    assert report.error_count == 14 and report.errors_omitted == 0
    assert (report.lines_read, report.kept, report.set_aside) == (14, 0, 14)
    by_line = {e.line: e for e in report.errors}
    assert by_line[3].message == (
        "Une cantine avec le siret « 86180597100897 » n'est pas dans la liste des établissements."
    )
    assert by_line[8].value == "2022-02-31" and "n'existe pas" in by_line[8].message
    assert "aaaa-mm-jj" in by_line[9].message
    assert by_line[13].value == "BIO,NOPE" and "« NOPE »" in by_line[13].message
    assert "motif imposé" in by_line[12].message
    assert "même nombre de cellules" in by_line[15].message
    assert "11 cellule(s) au lieu de 12" in by_line[15].message
    assert all(e.hint for e in report.errors)


def test_purchases_bad_old(tmp_path: Path) -> None:
    report, _ = run(FIXTURES / "purchases_bad_old.csv", tmp_path)
    assert codes(report) == [
        (2, "siret", "required"),
        (3, "siret", "canteen_unknown"),
        (4, "siret", "canteen_unknown"),
        (5, "description", "required"),
        (6, "famille_produits", "required"),
        # No characteristics but definition_local DEPARTEMENT (rule of §2.2).
        (6, "definition_local", "local_definition_without_local"),
        (7, "date", "required"),
        (8, "date", "date_impossible"),
        (9, "date", "date_format"),
        (10, "prix_ht", "required"),
        (11, "prix_ht", "number_format"),
        (12, "famille_produits", "family_unknown"),
        (13, "caracteristiques", "labels_unknown"),
        (14, "definition_local", "local_definition_missing"),  # LOCAL without definition
        (15, "ligne", "cells_count"),
    ]


@pytest.mark.parametrize("name", ["purchases_bad_one_error.csv", "purchases_bad_one_error_old.csv"])
def test_one_error_rejects_everything(name: str, tmp_path: Path) -> None:
    report, out = run(FIXTURES / name, tmp_path)
    assert codes(report) == [(3, "prix_ht", "number_format")]
    assert report.errors[0].value == "A bad price"
    assert report.status == "rejeté" and not out.exists()
    assert (report.lines_read, report.kept, report.set_aside) == (2, 0, 2)


def test_accept_partial_keeps_good_lines(tmp_path: Path) -> None:
    report, out = run(FIXTURES / "purchases_bad_one_error.csv", tmp_path, accept_partial=True)
    assert report.status == "chargé partiellement"
    assert (report.lines_read, report.kept, report.set_aside) == (2, 1, 1)
    assert [r["line_number"] for r in rows(out)] == [2]


def test_accept_partial_on_purchases_bad_reconciles(tmp_path: Path) -> None:
    report, out = run(FIXTURES / "purchases_bad.csv", tmp_path, accept_partial=True)
    # Every one of the 14 data rows has an error: nothing to write.
    assert (report.lines_read, report.kept, report.set_aside) == (14, 0, 14)
    assert report.status == "rejeté" and not out.exists() and report.output is None


@pytest.mark.parametrize(
    "name", ["purchases_bad_empty_rows.csv", "purchases_bad_empty_rows_old.csv"]
)
def test_empty_rows(name: str, tmp_path: Path) -> None:
    report, out = run(FIXTURES / name, tmp_path)
    assert codes(report) == [(4, "ligne vide", "blank_row"), (5, "ligne vide", "blank_row")]
    assert report.errors[0].message == "Ligne vide : la ligne doit être supprimée."
    assert report.status == "rejeté" and not out.exists()
    partial, out = run(FIXTURES / name, tmp_path, accept_partial=True)
    assert (partial.lines_read, partial.kept, partial.set_aside, partial.blank) == (4, 2, 2, 2)
    assert partial.lines_read == partial.kept + partial.set_aside
    assert [r["line_number"] for r in rows(out)] == [2, 3]


# --- Header defects -------------------------------------------------------------------------


def header_report(name: str, tmp_path: Path) -> ImportReport:
    report, out = run(FIXTURES / name, tmp_path)
    assert report.status == "rejeté" and not out.exists()
    assert report.lines_read == 0
    assert all((e.line, e.kind) == (1, "en-tête") for e in report.errors)
    return report


@pytest.mark.parametrize("name", ["purchases_bad_no_header.csv", "purchases_bad_no_header_old.csv"])
def test_no_header(name: str, tmp_path: Path) -> None:
    (error,) = header_report(name, tmp_path).errors
    assert "Première ligne du fichier incorrecte" in error.message
    assert "« 21010034300016 »" in error.message and "L'en-tête est absent" in error.message
    assert error.hint.startswith("Ajoutez en première ligne l'en-tête : siret,description,")


def test_partial_header(tmp_path: Path) -> None:
    (error,) = header_report("purchases_bad_partial_header.csv", tmp_path).errors
    assert "il manque 2 colonne(s)" in error.message
    assert "« definition_local », « definition_local_km »" in error.message
    assert "ET dans le bon ordre" in error.hint


def test_partial_header_old(tmp_path: Path) -> None:
    (error,) = header_report("purchases_bad_partial_header_old.csv", tmp_path).errors
    assert "il manque 1 colonne(s) en fin de ligne : « definition_local »." in error.message
    assert "ancien format" in error.hint


def test_wrong_header(tmp_path: Path) -> None:
    report = header_report("purchases_bad_wrong_header.csv", tmp_path)
    assert [(e.column, e.value) for e in report.errors] == [
        ("colonne siret", "canteen siret"),
        ("colonne prix_ht", "prix HT"),
        ("colonne famille_produits", "famille"),
        ("colonne definition_local", "definition de local"),
        ("colonne definition_local_km", "distance"),
    ]


def test_wrong_header_old(tmp_path: Path) -> None:
    report = header_report("purchases_bad_wrong_header_old.csv", tmp_path)
    assert [(e.column, e.value) for e in report.errors] == [
        ("colonne siret", "canteen siret"),
        ("colonne prix_ht", "prix HT"),
        ("colonne famille_produits", "famille"),
        ("colonne caracteristiques", "caractéristiques"),
        ("colonne definition_local", "definition de local"),
    ]


@pytest.mark.parametrize(
    ("name", "count"),
    [("purchases_bad_wrong_header_typo.csv", 11), ("purchases_bad_wrong_header_typo_old.csv", 8)],
)
def test_wrong_header_typo(name: str, count: int, tmp_path: Path) -> None:
    report = header_report(name, tmp_path)
    assert len(report.errors) == count
    first = report.errors[0]
    assert first.column == "colonne siret"
    assert first.message.startswith(
        "Valeur incorrecte : vous avez écrit « s_iret » au lieu de « siret »"
    )


@pytest.mark.parametrize(
    ("name", "after"),
    [
        ("purchases_bad_extra_columns.csv", "definition_local_km"),
        ("purchases_bad_extra_columns_old.csv", "definition_local"),
    ],
)
def test_extra_columns(name: str, after: str, tmp_path: Path) -> None:
    (error,) = header_report(name, tmp_path).errors
    # Header ends with ",,,a,": four more columns.
    assert error.message.startswith(f"4 colonnes supplémentaires après « {after} »")
    assert "espace ou un symbole invisible" in error.hint


@pytest.mark.parametrize("name", ["purchases_bad_corrupt.csv", "purchases_bad_corrupt_old.csv"])
def test_corrupt_file(name: str, tmp_path: Path) -> None:
    (error,) = header_report(name, tmp_path).errors
    assert "une seule colonne" in error.message and "guillemets" in error.message


# --- Not a table ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "vide"),
        (b"\n\n  \n", "vide"),
        (b'{"achats": [{"siret": "21010034300016"}]}', "JSON"),
        (b"\x00\x01\x02binary\x00data" * 10, "binaire"),
        (b"%PDF-1.7\n...", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Excel 97-2003"),
        (b"PK\x03\x04not really a zip", "pas un classeur XLSX"),
    ],
)
def test_not_a_table_gives_one_clear_error(content: bytes, words: str, tmp_path: Path) -> None:
    path = tmp_path / "achats.csv"
    path.write_bytes(content)
    report, out = run(path, tmp_path)
    (error,) = report.errors
    assert (error.line, error.column, error.kind) == (0, "fichier", "fichier")
    assert words in error.message and error.hint
    assert report.status == "rejeté" and not out.exists()


# --- Other containers, encodings and numbers -----------------------------------------------


def test_xlsx_first_sheet(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(CURRENT_HEADER.split(","))
    ws.append(
        [
            21010034300016,
            "Yaourts",
            "Laiterie",
            dt.datetime(2024, 3, 4),
            12.5,
            "PRODUITS_LAITIERS",
            "BIO,IGP",
            "FRANCE",
            None,
            "x",
            "KM",
            30,
        ]
    )
    ws.append([21010034300016, "Pain", None, "2024-03-05", "7.25", "BOULANGERIE"])
    path = tmp_path / "achats.xlsx"
    wb.save(path)
    report, out = run(path, tmp_path)
    assert report.errors == []
    assert (report.container, report.format, report.kept) == ("xlsx", "ma-cantine-siret", 2)
    first, second = rows(out)
    assert first["canteen_siret"] == SIRET  # a number in the sheet
    assert (first["purchase_date"], first["price_ht"]) == (dt.date(2024, 3, 4), Decimal("12.50"))
    assert first["characteristics"] == ["BIO", "IGP", "FRANCE", "LOCAL"]
    assert (first["local_definition"], first["local_km"]) == ("KM", 30)
    assert (second["description"], second["supplier"], second["characteristics"]) == (
        "Pain",
        None,
        [],
    )
    assert second["price_ht"] == Decimal("7.25")


def test_latin1_file(tmp_path: Path) -> None:
    text = (
        CURRENT_HEADER.replace(",", ";")
        + f"\n{SIRET};Pâtes de blé;Épicerie Générale;2024-01-15;45,30;AUTRES;;;;;;\n"
    )
    path = write(tmp_path, "achats.csv", text, encoding="cp1252")
    report, out = run(path, tmp_path)
    assert report.errors == [] and report.encoding == "cp1252" and report.separator == ";"
    (row,) = rows(out)
    assert (row["description"], row["supplier"]) == ("Pâtes de blé", "Épicerie Générale")
    assert row["price_ht"] == Decimal("45.30")  # decimal comma in a ";" file


def test_utf8_bom(tmp_path: Path) -> None:
    text = "\ufeff" + CURRENT_HEADER + f"\n{SIRET},Œufs,,2024-01-15,3,PRODUITS_LAITIERS,,,,,,\n"
    path = write(tmp_path, "achats.csv", text)
    report, out = run(path, tmp_path)
    assert report.errors == [] and report.encoding == "utf-8-sig"
    assert rows(out)[0]["description"] == "Œufs"


def test_prices_decimal_comma_and_half_down_rounding(tmp_path: Path) -> None:
    prices = ['"12,50"', "0.125", "0.1251", "2.675", "2.676", "1000", "0", ".5", "1 234.56"]
    lines = [f"{SIRET},Article {i},,2024-01-15,{p},AUTRES,,,,,," for i, p in enumerate(prices)]
    path = write(tmp_path, "achats.csv", CURRENT_HEADER + "\n" + "\n".join(lines) + "\n")
    report, out = run(path, tmp_path)
    assert report.errors == []
    assert [r["price_ht"] for r in rows(out)] == [
        Decimal(v)
        for v in ("12.50", "0.12", "0.13", "2.67", "2.68", "1000.00", "0.00", "0.50", "1234.56")
    ]


def test_bad_prices(tmp_path: Path) -> None:
    prices = ['"1.234,50"', "12€", "-3", "1e3", "12345678901234567"]
    lines = [f"{SIRET},Article {i},,2024-01-15,{p},AUTRES,,,,,," for i, p in enumerate(prices)]
    path = write(tmp_path, "achats.csv", CURRENT_HEADER + "\n" + "\n".join(lines) + "\n")
    report, _ = run(path, tmp_path)
    assert [(e.line, e.code) for e in report.errors] == [
        (2, "number_format"),
        (3, "number_format"),
        (4, "price_negative"),
        (5, "number_format"),
        (6, "number_too_large"),
    ]
    assert report.errors[2].kind == "règle"


def test_future_date_refused(tmp_path: Path) -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    text = CURRENT_HEADER + f"\n{SIRET},Demain,,{tomorrow.isoformat()},3,AUTRES,,,,,,\n"
    report, _ = run(write(tmp_path, "achats.csv", text), tmp_path, today=None)
    (error,) = report.errors
    assert (error.line, error.column, error.code, error.kind) == (2, "date", "date_future", "règle")
    assert error.message == "La date ne peut pas être dans le futur."


def test_business_rules_of_the_purchase_model(tmp_path: Path) -> None:
    old = (
        "siret,description,fournisseur,date,prix_ht,famille_produits,caracteristiques,"
        "definition_local\n"
    )
    text = old + (
        f'{SIRET},A,,2024-01-15,3,AUTRES,"FRANCE,EUROPE",\n'
        f'{SIRET},B,,2024-01-15,3,AUTRES,"BIO,CONVERSION_BIO,EQUIVALENTS",\n'
    )
    report, out = run(write(tmp_path, "old.csv", text), tmp_path, accept_partial=True)
    assert codes(report) == [(2, "caracteristiques", "europe_and_france")]
    # Legacy codes mapped (CONVERSION_BIO -> BIO, EQUIVALENTS -> EXTERNALITES), deduplicated.
    assert rows(out)[0]["characteristics"] == ["BIO", "EXTERNALITES"]
    current = (
        CURRENT_HEADER
        + "\n"
        + (
            f"{SIRET},C,,2024-01-15,3,AUTRES,,,,x,REGION,12\n"  # km without KM
            f"{SIRET},D,,2024-01-15,3,AUTRES,,,,,,12\n"  # km without LOCAL
            f"{SIRET},E,,2024-01-15,3,AUTRES,,,peut-être,,,\n"  # not a boolean
            f"{SIRET},F,,2024-01-15,3,AUTRES,,ITALIE,,,,\n"  # not an origin
            f"{SIRET},G,,2024-01-15,3,AUTRES,,,,x,KM,12.5\n"  # not a whole km
            f"{SIRET},H,,2024-01-15,3,AUTRES,FRANCE,,,,,\n"  # information code in categories
        )
    )
    report, _ = run(write(tmp_path, "current.csv", current), tmp_path)
    assert codes(report) == [
        (2, "definition_local_km", "km_not_km"),
        (3, "definition_local_km", "km_without_local"),
        (4, "est_circuit_court", "boolean_format"),
        (5, "origine", "origin_unknown"),
        (6, "definition_local_km", "km_format"),
        (7, "categories_egalim", "labels_unknown"),
    ]


def test_unknown_canteen_id(tmp_path: Path) -> None:
    text = (FIXTURES / "purchases_good_id.csv").read_text(encoding="utf-8")
    path = write(tmp_path, "id.csv", text)
    report, _ = run(path, tmp_path, canteens=CanteenDirectory.of(ids=["12"]))
    (error,) = report.errors
    assert (error.line, error.column, error.code) == (2, "cantine_id", "canteen_unknown")
    assert error.message == (
        "Une cantine avec l'identifiant « 949 » n'est pas dans la liste des établissements."
    )


def test_errors_are_counted_beyond_the_listed_ones(tmp_path: Path) -> None:
    lines = [f"{SIRET},,,2024-01-15,3,AUTRES,,,,,," for _ in range(30)]
    path = write(tmp_path, "achats.csv", CURRENT_HEADER + "\n" + "\n".join(lines) + "\n")
    report, _ = run(path, tmp_path, max_errors=10, batch_size=7)
    assert (len(report.errors), report.error_count, report.errors_omitted) == (10, 30, 20)
    assert [e.line for e in report.errors] == list(range(2, 12))
    data = json.loads(report.to_json())
    assert data["errors_omitted"] == 20 and data["status"] == "rejeté"


def test_batches_give_the_same_result(tmp_path: Path) -> None:
    report, out = run(FIXTURES / "purchases_good.csv", tmp_path, batch_size=3)
    assert report.kept == 8 and [r["line_number"] for r in rows(out)] == list(range(2, 10))
    bad, _ = run(FIXTURES / "purchases_bad.csv", tmp_path, batch_size=4)
    assert [(e.line, e.column, e.code) for e in bad.errors if e.kind == "format"] == BAD_FORMAT


def test_parquet_schema(tmp_path: Path) -> None:
    _, out = run(FIXTURES / "purchases_good.csv", tmp_path)
    con = duckdb.connect()
    types = dict(
        con.execute(f"DESCRIBE SELECT * FROM read_parquet('{out}')").fetchall()[i][:2]
        for i in range(16)
    )
    assert types == {
        "line_number": "BIGINT",
        "canteen_siret": "VARCHAR",
        "canteen_id": "VARCHAR",
        "description": "VARCHAR",
        "supplier": "VARCHAR",
        "supplier_siret": "VARCHAR",
        "article_code": "VARCHAR",
        "purchase_date": "DATE",
        "price_ht": "DECIMAL(18,2)",
        "family": "VARCHAR",
        "characteristics": "VARCHAR[]",
        "labels_known": "BOOLEAN",
        "local_definition": "VARCHAR",
        "local_km": "INTEGER",
        "raw_labels": "VARCHAR",
        "raw": "VARCHAR",
    }
    total = con.execute(f"SELECT sum(price_ht) FROM read_parquet('{out}')").fetchall()[0][0]
    assert total == Decimal("90.11") + 7 * Decimal("910.11")


# --- Mapped exports -------------------------------------------------------------------------

MAPPING_TOML = """
[mapping]
name = "Export gestion de stocks"
date_formats = ["%d/%m/%Y"]
decimal_separator = ","
labels_separator = "|"
{extra}

[mapping.columns]
canteen_siret = "SIRET établissement"
description = "Désignation"
purchase_date = "Date facture"
price_ht = "Montant HT"
supplier = "Fournisseur"
supplier_siret = "SIRET fournisseur"
article_code = "Code article"
family = "Famille"
labels = "Labels"

[mapping.families]
"Viandes" = "VIANDES_VOLAILLES"
"Poissons" = "PRODUITS_DE_LA_MER"

[mapping.labels]
"Bio Cohérence" = "BIO"
"Nature & Progrès" = ""
"""

MAPPED_EXPORT = (
    "Code article;Désignation;Famille;Labels;Montant HT;Date facture;Fournisseur;"
    "SIRET fournisseur;SIRET établissement;Remarque\n"
    "A1;Steak haché;Viandes;AB|Label Rouge;1 234,50;15/01/2024;Boucherie;"
    "123 456 789 00012;21010034300016;rien\n"
    "A2;Colin;Poissons;MSC;10,00;16/01/2024;Marée;;21010034300016;\n"
    "A3;Yaourt;Produits laitiers;Bleu-Blanc-Cœur;3;17/01/2024;;;21010034300016;\n"
    "A4;Pommes;FRUITS_ET_LEGUMES;origine france | vbf;2,5;18/01/2024;;;21010034300016;\n"
    "A5;Lentilles;;certification environnementale niveau 2;4;19/01/2024;;;21010034300016;\n"
    "A6;Sel;Autres;;1;20/01/2024;;;21010034300016;\n"
    "A7;Carottes;;EUROFEUILLE|Bio Cohérence|Nature & Progrès;2;21/01/2024;;;21010034300016;\n"
)


def mapping_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "correspondance.toml"
    path.write_text(MAPPING_TOML.format(extra=extra), encoding="utf-8")
    return path


def test_mapped_export(tmp_path: Path) -> None:
    mapping = ColumnMapping.from_toml(mapping_file(tmp_path))
    path = write(tmp_path, "export.csv", MAPPED_EXPORT)
    report, out = run(path, tmp_path, mapping=mapping)
    assert report.errors == []
    assert (report.format, report.separator, report.kept) == ("correspondance", ";", 7)
    got = rows(out)
    steak = got[0]
    assert (steak["family"], steak["characteristics"]) == (
        "VIANDES_VOLAILLES",
        ["BIO", "LABEL_ROUGE"],
    )
    assert (steak["price_ht"], steak["purchase_date"]) == (Decimal("1234.50"), dt.date(2024, 1, 15))
    assert (steak["supplier_siret"], steak["article_code"]) == ("12345678900012", "A1")
    assert steak["raw_labels"] == "AB|Label Rouge" and steak["labels_known"] is True
    assert json.loads(steak["raw"])["Remarque"] == "rien"
    assert [(r["family"], r["characteristics"]) for r in got[1:]] == [
        ("PRODUITS_DE_LA_MER", []),  # MSC: private label, does not qualify
        ("PRODUITS_LAITIERS", []),  # Bleu-Blanc-Cœur does not qualify; family by its label
        ("FRUITS_ET_LEGUMES", ["FRANCE"]),
        (None, ["CE2"]),
        ("AUTRES", []),
        (None, ["BIO"]),  # Eurofeuille, Bio Cohérence (mapping), Nature & Progrès = ""
    ]
    assert got[5]["labels_known"] is False and got[5]["raw_labels"] is None  # empty cell
    assert got[1]["labels_known"] is True
    (warning,) = report.warnings
    assert (warning.column, warning.value, warning.lines, warning.first_line) == (
        "Labels",
        "MSC",
        1,
        3,
    )
    assert PRIVATE_LABEL_WARNING in warning.message


def test_mapped_export_empty_labels_mean_none(tmp_path: Path) -> None:
    mapping = ColumnMapping.from_toml(mapping_file(tmp_path, 'empty_labels = "none"'))
    _, out = run(write(tmp_path, "export.csv", MAPPED_EXPORT), tmp_path, mapping=mapping)
    assert rows(out)[5]["labels_known"] is True


def test_mapped_export_unknown_label(tmp_path: Path) -> None:
    text = MAPPED_EXPORT + "A8;Riz;Autres;Super Label|AB;2;22/01/2024;;;21010034300016;\n"
    text += "A9;Riz;Légumes secs;;2;2024-01-22;;;21010034300016;\n"
    mapping = ColumnMapping.from_toml(mapping_file(tmp_path))
    report, _ = run(write(tmp_path, "export.csv", text), tmp_path, mapping=mapping)
    assert codes(report) == [
        (9, "Labels", "mapped_label_unknown"),
        (10, "Famille", "family_unknown"),  # columns in file order: Famille is the 3rd
        (10, "Date facture", "date_format_mapped"),
    ]
    assert "« Super Label »" in report.errors[0].message
    assert "%d/%m/%Y" in report.errors[2].message
    lenient = ColumnMapping.from_toml(mapping_file(tmp_path, 'unknown_labels = "warning"'))
    text = MAPPED_EXPORT + "A8;Riz;Autres;Super Label|AB;2;22/01/2024;;;21010034300016;\n"
    report, out = run(write(tmp_path, "export2.csv", text), tmp_path, mapping=lenient)
    assert report.errors == [] and rows(out)[-1]["characteristics"] == ["BIO"]
    assert any(w.value == "Super Label|AB" and "Super Label" in w.message for w in report.warnings)


def test_mapped_export_missing_column(tmp_path: Path) -> None:
    mapping = ColumnMapping.from_toml(mapping_file(tmp_path))
    text = MAPPED_EXPORT.replace("Montant HT", "Montant TTC")
    report, _ = run(write(tmp_path, "export.csv", text), tmp_path, mapping=mapping)
    (error,) = report.errors
    assert (error.line, error.kind, error.column) == (1, "en-tête", "Montant HT")
    assert "absente de l'en-tête" in error.message and "« Montant TTC »" in error.hint


def test_mapping_errors() -> None:
    with pytest.raises(ConfigError, match="price_ht"):
        ColumnMapping.from_dict(
            {"columns": {"canteen_siret": "s", "description": "d", "purchase_date": "x"}}
        )
    with pytest.raises(ConfigError, match="canteen_siret ou canteen_id"):
        ColumnMapping.from_dict(
            {"columns": {"description": "d", "purchase_date": "x", "price_ht": "p"}}
        )
    with pytest.raises(ConfigError, match="code inconnu"):
        ColumnMapping.from_dict(
            {
                "columns": {
                    "canteen_id": "i",
                    "description": "d",
                    "purchase_date": "x",
                    "price_ht": "p",
                },
                "labels": {"Truc": "SUPER"},
            }
        )


def test_mapping_file_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[mapping\ncolumns = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="TOML"):
        ColumnMapping.from_toml(path)


# --- Label table ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("AB", "BIO"),
        ("Agriculture biologique", "BIO"),
        ("bio", "BIO"),
        ("Eurofeuille", "BIO"),
        ("en conversion", "BIO"),
        ("LR", "LABEL_ROUGE"),
        ("label-rouge", "LABEL_ROUGE"),
        ("AOP", "AOCAOP"),
        ("aoc", "AOCAOP"),
        ("IGP", "IGP"),
        ("STG", "STG"),
        ("HVE", "HVE"),
        ("Certification environnementale  Niveau 2", "CE2"),
        ("MSC", None),
        ("ASC", None),
        ("Bleu Blanc Coeur", None),
        ("Origine France", "FRANCE"),
        ("VBF", "FRANCE"),
        ("VPF", "FRANCE"),
        ("CONVERSION_BIO", "BIO"),
    ],
)
def test_label_table(raw: str, code: str | None) -> None:
    meaning = resolve_label(raw)
    assert meaning is not None and meaning.code == code


def test_label_normalisation() -> None:
    assert normalise_label("  Bleu-Blanc-Cœur ") == normalise_label("bleu blanc coeur")
    assert resolve_label("MSC") is not None
    assert resolve_label("MSC").warning == PRIVATE_LABEL_WARNING  # type: ignore[union-attr]
    assert resolve_label("Bleu-Blanc-Cœur").warning == ""  # type: ignore[union-attr]
    assert resolve_label("Label inventé") is None
