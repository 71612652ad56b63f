"""Egalim nomenclature, supplier matrices, contracts and reviewed description mappings, end to
end: files written here, real imports, real builds (DuckDB), the CLI.

The profile (written by the fixture) has 4 articles, one contract and Lycée Auguste Pavie. The
purchase lines (a mapped export; an empty labels cell means "labels unknown", "aucun" means "no
label"), all for Pavie:

  n  line  article   supplier              labels    €    what the build does
  1  2     FL-001    MARAICHER BRETON      (empty)   100  matrix by code → BIO (from the matrix)
  2  3     MB-20     Maraîcher Breton      (empty)   200  no family; matrix by the supplier's ref →
                                                          article VIA-001 (article_source matrix),
                                                          family VIANDES_VOLAILLES, LABEL_ROUGE
  3  4     FL-001    Maraîcher Breton      HVE        50  keeps its own HVE; matrix says BIO → EG09
  4  5     MER-001   Maraîcher Breton      (empty)    80  matrix "MSC" → no label (known)
  5  6     ZZZ-999   Autre                 aucun      40  unknown article → EG10
  6  7     —         Autre                 aucun      30  "Yaourt nature brassé 125 g": no article →
                                                          EG11, until a person accepts BOF-001
  7  8     FL-001    SIRET 12345678200010  aucun      60  contract C-1 (2025) → EXTERNALITES
  8  9     FL-001    SIRET 12345678200010  aucun      70  dated 2024: outside the contract

2025 for Pavie: total 100+200+50+80+40+30+60 = 560; Egalim 100 (bio) + 200 (Label Rouge) + 50
(HVE) + 60 (externalités) = 410; bio 100; every label known (coverage 1).
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from openpyxl import Workbook

from observatoire.build import build
from observatoire.cli import cli
from observatoire.config import Settings
from observatoire.connectors.supplier_matrices import import_matrices
from observatoire.egalim.correspondences import Matcher, suggest
from observatoire.egalim.matrices import normalise_row
from observatoire.egalim.nomenclature import Article, read_nomenclature
from observatoire.errors import ConfigError

BRETAGNE = (Path(__file__).resolve().parents[1] / "src" / "observatoire" / "profiles"
            / "region-bretagne" / "egalim" / "etablissements.csv")
PAVIE = "19220018600018"
SUPPLIER = "Maraîcher Breton"

NOMENCLATURE = """code;libelle;famille
VIA-001;Sauté de porc;VIANDES_VOLAILLES
MER-001;Filet de colin;PRODUITS_DE_LA_MER
FL-001;Pommes golden;FRUITS_ET_LEGUMES
BOF-001;Yaourt nature;PRODUITS_LAITIERS
"""

MATRIX = """Référence;Code nomenclature;Désignation;Labels;Origine
MB-10;FL-001;Pommes golden;AB, en conversion;France
MB-20;VIA-001;Sauté de porc fermier;LR;
MB-30;MER-001;Colin;MSC;
MB-40;;Poireaux;Truc inconnu | HVE;Espagne
"""

MAPPING = """[mapping]
name = "Export de test"
empty_labels = "unknown"

[mapping.columns]
canteen_siret = "siret"
description = "description"
supplier = "fournisseur"
supplier_siret = "siret_fournisseur"
article_code = "code_article"
purchase_date = "date"
price_ht = "prix_ht"
family = "famille"
labels = "labels"

[mapping.labels]
"aucun" = ""
"""

LINES = [
    ["siret", "description", "fournisseur", "siret_fournisseur", "code_article", "date",
     "prix_ht", "famille", "labels"],
    [PAVIE, "Pommes", "MARAICHER BRETON", "", "FL-001", "2025-01-10", "100.00",
     "FRUITS_ET_LEGUMES", ""],
    [PAVIE, "Sauté de porc", SUPPLIER, "", "MB-20", "2025-01-11", "200.00", "", ""],
    [PAVIE, "Pommes HVE", SUPPLIER, "", "FL-001", "2025-01-12", "50.00", "FRUITS_ET_LEGUMES",
     "HVE"],
    [PAVIE, "Colin", SUPPLIER, "", "MER-001", "2025-01-13", "80.00", "PRODUITS_DE_LA_MER", ""],
    [PAVIE, "Épices", "Autre", "", "ZZZ-999", "2025-01-14", "40.00", "AUTRES", "aucun"],
    [PAVIE, "Yaourt nature brassé 125 g", "Autre", "", "", "2025-01-15", "30.00",
     "PRODUITS_LAITIERS", "aucun"],
    [PAVIE, "Pommes", "Cuisine centrale", "12345678200010", "FL-001", "2025-03-10", "60.00",
     "FRUITS_ET_LEGUMES", "aucun"],
    [PAVIE, "Pommes", "Cuisine centrale", "12345678200010", "FL-001", "2024-12-15", "70.00",
     "FRUITS_ET_LEGUMES", "aucun"],
]


def _write_profile(folder: Path) -> Path:
    folder.mkdir()
    with BRETAGNE.open(encoding="utf-8") as src:
        rows = [r for r in src.read().splitlines() if r.startswith(("siret;", PAVIE))]
    (folder / "etablissements.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (folder / "nomenclature.csv").write_text(NOMENCLATURE, encoding="utf-8")
    # C-2 is a lot of dairy products of the same supplier: its criterion reaches only the
    # supplier's dairy lines (none here), never its apples of line 8
    (folder / "marches.csv").write_text(
        "reference;fournisseur_siret;externalites;performance;debut;fin;famille\n"
        "C-1;12345678200010;oui;;2025-01-01;2025-12-31;\n"
        "C-2;12345678200010;;oui;2025-01-01;2025-12-31;PRODUITS_LAITIERS\n", encoding="utf-8")
    (folder / "profile.toml").write_text(
        'extends = "region-bretagne"\nid = "test-matrices"\n\n[egalim]\n'
        'establishments = "etablissements.csv"\nnomenclature = "nomenclature.csv"\n'
        'marches = "marches.csv"\n', encoding="utf-8")
    return folder


def _invoke(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["--home", str(settings.home), "--profile", settings.profile, "egalim", *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("egalim-matrices")
    settings = replace(Settings(home=root / "home"), profile=str(_write_profile(root / "profil")))
    matrix = root / "matrice-maraicher.csv"
    matrix.write_text(MATRIX, encoding="utf-8")
    _invoke(settings, "matrice", str(matrix), "--fournisseur", SUPPLIER)
    (root / "export.toml").write_text(MAPPING, encoding="utf-8")
    with (root / "achats.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(LINES)
    _invoke(settings, "importer", str(root / "achats.csv"), "--correspondance",
            str(root / "export.toml"))
    build(settings)
    return settings


@pytest.fixture
def wh(home: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(home.warehouse_path), read_only=True)
    yield con
    con.close()


def _lines(con: duckdb.DuckDBPyConnection) -> dict[int, tuple[object, ...]]:
    return {r[0]: r[1:] for r in con.execute(
        "SELECT line_number, nomenclature_code, article_source, effective_family, family_source, "
        "labels_source, effective_characteristics, contract_reference FROM egalim_lines"
    ).fetchall()}


# Nomenclature


@pytest.mark.parametrize(("text", "message", "line"), [
    ("code;libelle;famille\nA;Pommes;FRUITS_ET_LEGUMES\nA;Poires;FRUITS_ET_LEGUMES\n",
     "en double (déjà ligne 2)", 3),
    ("code;libelle;famille\nA;Pommes;FRUITS\n", "Famille inconnue « FRUITS »", 2),
    ("code;libelle;famille\n;Pommes;FRUITS_ET_LEGUMES\n", "Article sans code", 2),
])
def test_nomenclature_errors_say_file_and_line(tmp_path: Path, text: str, message: str,
                                               line: int) -> None:
    path = tmp_path / "nomenclature.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        read_nomenclature(path)
    assert message in err.value.message
    assert err.value.where == f"{path}, ligne {line}"


def test_nomenclature_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "nomenclature.csv"
    path.write_text("code;libelle\nA;Pommes\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="famille"):
        read_nomenclature(path)


def test_example_nomenclature_of_the_demo_is_valid() -> None:
    folder = BRETAGNE.parents[2] / "demonstration" / "egalim"
    articles = read_nomenclature(folder / "nomenclature.csv")
    assert 60 <= len(articles) <= 100
    assert len({a.family for a in articles}) == 8


# Matrices


def test_raw_labels_normalised_with_warnings() -> None:
    assert normalise_row("AB, en conversion", "France") == (["BIO", "FRANCE"], [])
    assert normalise_row("LR", "") == (["LABEL_ROUGE"], [])
    codes, warnings = normalise_row("MSC", "")
    assert codes == [] and warnings == ["« MSC » : label privé, vérifier l'équivalence"]
    codes, warnings = normalise_row("Truc inconnu | HVE", "Espagne")
    assert codes == ["HVE"] and warnings == ["libellé inconnu « Truc inconnu » : ignoré"]


def test_matrix_table_and_load_log(home: Settings, wh: duckdb.DuckDBPyConnection) -> None:
    rows = wh.execute(
        "SELECT article_ref, article_code, characteristics, raw_labels, warnings, supplier_key "
        "FROM egalim_matrix ORDER BY line_number").fetchall()
    assert rows == [
        ("MB-10", "FL-001", ["BIO", "FRANCE"], "AB, en conversion", None, "nom:maraicher breton"),
        ("MB-20", "VIA-001", ["LABEL_ROUGE"], "LR", None, "nom:maraicher breton"),
        ("MB-30", "MER-001", [], "MSC", "« MSC » : label privé, vérifier l'équivalence",
         "nom:maraicher breton"),
        ("MB-40", None, ["HVE"], "Truc inconnu | HVE",
         "libellé inconnu « Truc inconnu » : ignoré", "nom:maraicher breton"),
    ]
    status = _invoke(home, "matrice", str(home.home.parent / "matrice-maraicher.csv"),
                     "--fournisseur", SUPPLIER)
    assert "déjà importée" in status  # same content: nothing changes
    kinds = [r[0] for r in sqlite3.connect(home.catalog_path).execute(
        "SELECT kind FROM loads ORDER BY load_id")]
    assert kinds == ["egalim-matrice", "egalim"]


def test_xlsx_matrix_and_refused_matrix(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Ref fournisseur", "Désignation", "Signes de qualité"])
    sheet.append(["X1", "Lait", "AOP; Bleu-Blanc-Cœur"])
    book.save(tmp_path / "matrice.xlsx")
    [outcome] = import_matrices(settings, [tmp_path / "matrice.xlsx"], "Laiterie",
                                "123 456 782 00010")
    assert outcome.load.status == "loaded" and outcome.load.records == 1
    (tmp_path / "sans-labels.csv").write_text("reference;designation\nX1;Lait\n",
                                              encoding="utf-8")
    [refused] = import_matrices(settings, [tmp_path / "sans-labels.csv"], "Laiterie")
    assert refused.load.status == "rejected"
    assert refused.report is not None
    assert refused.report.errors[0]["message"] == "Aucune colonne de labels."
    with pytest.raises(ConfigError, match="SIRET"):
        import_matrices(settings, [tmp_path / "matrice.xlsx"], "Laiterie", "123")


# Inheritance, contracts, findings, results


def test_lines_inherit_article_family_labels_and_contract(wh: duckdb.DuckDBPyConnection) -> None:
    lines = _lines(wh)
    assert lines[2] == ("FL-001", "file", "FRUITS_ET_LEGUMES", "line", "matrix",
                        ["BIO", "FRANCE"], None)
    assert lines[3] == ("VIA-001", "matrix", "VIANDES_VOLAILLES", "article", "matrix",
                        ["LABEL_ROUGE"], None)
    assert lines[4][4:6] == ("line", ["HVE"])  # its own labels win over the matrix's BIO
    assert lines[5][4:6] == ("matrix", [])  # MSC: known, no label that counts
    assert lines[6][:2] == (None, "none")  # ZZZ-999 is not in the nomenclature
    assert lines[7][:2] == (None, "none")
    assert lines[8][5:] == (["EXTERNALITES"], "C-1")  # not C-2's PERFORMANCE: another lot
    assert lines[9][5:] == ([], None)  # 2024: before the contract
    raw = wh.execute("SELECT family, characteristics, labels_known FROM egalim_lines "
                     "WHERE line_number = 3").fetchone()
    assert raw == (None, [], False)  # the file's values are kept as they were


def test_results_count_the_effective_labels(wh: duckdb.DuckDBPyConnection) -> None:
    row = wh.execute(
        "SELECT total, egalim, bio, siqo, egalim_others, externalities_performance, known, "
        "meat FROM egalim_results WHERE scope = 'canteen' AND scope_key = ? AND year = 2025 "
        "AND month = 0", [PAVIE]).fetchone()
    assert row == (560, 410, 100, 200, 50, 60, 560, 200)
    # Counts reconcile: every line once, categories add up to the total, bio fair trade ≤ bio.
    assert wh.execute("SELECT count(*) FROM egalim_lines").fetchone() == (8,)
    assert wh.execute(
        "SELECT count(*) FROM egalim_results WHERE category_bio + category_label_rouge "
        "+ category_aocaop_igp_stg + category_hve + category_peche_durable + category_rup "
        "+ category_commerce_equitable + category_fermier + category_externalites "
        "+ category_performance + category_non_egalim <> total "
        "OR bio_fair_trade > bio").fetchone() == (0,)


def test_new_findings(wh: duckdb.DuckDBPyConnection) -> None:
    found = wh.execute(
        "SELECT rule_id, line_number, value FROM egalim_findings "
        "WHERE rule_id IN ('EG09', 'EG10', 'EG11') ORDER BY rule_id").fetchall()
    assert found == [
        ("EG09", 4, "ligne : HVE ; matrice : BIO"),
        ("EG10", 6, "ZZZ-999"),
        ("EG11", 7, "Yaourt nature brassé 125 g"),
    ]


# Description mappings (decided by a person: tests/test_egalim_mappings.py)


def test_suggestions_rank_the_closest_article() -> None:
    articles = [Article("BOF-001", "Yaourt nature", "PRODUITS_LAITIERS", 2),
                Article("BOF-002", "Yaourt aux fruits", "PRODUITS_LAITIERS", 3),
                Article("FL-001", "Pommes golden", "FRUITS_ET_LEGUMES", 4)]
    best = Matcher(articles).candidates("YAOURT NATURE brassé 125 g", "PRODUITS_LAITIERS")
    assert [c.article.code for c in best] == ["BOF-001", "BOF-002"]
    [s] = suggest([("Yaourt nature brassé 125 g", 2, 30.0, None),
                   ("yaourt  nature brassé 125 G", 1, 10.0, None)], articles)
    assert (s.lines, s.amount) == (3, 40.0)  # the same description once
    assert suggest([("Yaourt nature brassé 125 g", 1, 1.0, None)], articles,
                   {"yaourt nature brasse 125 g"}) == []


def test_newer_matrix_of_the_supplier_replaces_the_older(home: Settings, tmp_path: Path) -> None:
    newer = tmp_path / "matrice-2.csv"
    newer.write_text("reference;code;labels\nMB-10;FL-001;HVE\n", encoding="utf-8")
    _invoke(home, "matrice", str(newer), "--fournisseur", "maraicher breton")
    build(home)
    with duckdb.connect(str(home.warehouse_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM egalim_matrix").fetchone() == (1,)
        lines = _lines(con)
        assert lines[2][4:6] == ("matrix", ["HVE"])
        assert lines[3][4] == "none"  # MB-20 is gone with the old matrix: labels unknown
        assert con.execute("SELECT count(*) FROM egalim_findings WHERE rule_id = 'EG09'"
                           ).fetchone() == (0,)  # line 4's HVE now agrees
