"""One quality engine, three rule sets: DECP contracts, payments and Egalim catering purchases.

The Egalim rules run on real fixture lines, imported with the real importer and built with the
build's own functions (DuckDB): ma-cantine's ``purchases_good.csv`` and ``purchases_bad.csv``
(``fixtures/egalim/imports``), the three lycées of ``fixtures/egalim/lycees`` and the mapped
export of ``fixtures/egalim/regles`` (eight lines of Lycée Auguste Pavie in January 2027). Each
expected finding is worked out by hand from those lines next to its assertion. EG09 (a line's
labels against its supplier matrix) needs an imported matrix: ``test_egalim_matrices`` checks it
end to end, on the same engine.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from observatoire.egalim.contracts import create_contracts
from observatoire.egalim.enrich import EFFECTIVE_VIEW, enrich
from observatoire.egalim.findings import create_findings
from observatoire.egalim.importer import CanteenDirectory, import_purchases
from observatoire.egalim.layouts import resolve_ma_cantine
from observatoire.egalim.mapping import ColumnMapping
from observatoire.egalim.matrices import MATRIX_DDL
from observatoire.egalim.messages import MESSAGES
from observatoire.egalim.nomenclature import create_articles, read_nomenclature
from observatoire.egalim.rules import (
    BUILD_RULES,
    EGALIM_RULES,
    IMPORT_RULES,
    egalim_subjects,
)
from observatoire.egalim.service import (
    CANTEEN_COLUMNS,
    EFFECTIVE_LINES,
    LINES_DDL,
    create_canteens,
    insert_lines,
)
from observatoire.egalim.validation import build_sql
from observatoire.quality.findings import SUBJECTS, findings_sql
from observatoire.quality.payment_rules import PAYMENT_RULES, PAYMENT_SUBJECTS
from observatoire.quality.rules import BLOCKING, INFO, REPAIRED, RULES, SEVERITIES, WARNING
from observatoire.rulebook import ALL_RULES, rules_rows

EGALIM = Path(__file__).parent / "fixtures" / "egalim"
PAVIE, RENAN, METIERS = "19220018600018", "19220057400015", "19290092600010"
MA_CANTINE = "21010034300016"  # the canteen of ma-cantine's fixtures
TODAY = dt.date(2027, 6, 30)  # the export's lines are of January 2027


def test_one_catalogue_three_rule_sets_one_severity_vocabulary() -> None:
    assert [*RULES, *PAYMENT_RULES, *EGALIM_RULES] == ALL_RULES
    assert SEVERITIES == (BLOCKING, WARNING, REPAIRED, INFO)
    for rule in ALL_RULES:
        assert rule.severity in SEVERITIES, rule.id
        assert rule.title and rule.explanation and rule.hint, rule.id
    # one (rule, field) names one rule across the three sets (quality_rules is joined on it)
    assert len({(r.id, r.field) for r in ALL_RULES}) == len(ALL_RULES)
    assert {r.over for r in RULES} <= set(SUBJECTS)
    assert {r.over for r in PAYMENT_RULES} <= set(PAYMENT_SUBJECTS)
    assert {r.over for r in BUILD_RULES} == set(egalim_subjects("l", True))
    assert [r.id for r in BUILD_RULES] == [f"EG{n:02d}" for n in range(1, 12)]
    assert len(rules_rows()) == len(RULES) + len(PAYMENT_RULES) + 11 + len(IMPORT_RULES)
    # the importer's codes: every error blocks its line, the label warnings do not
    blocking = set(MESSAGES) | {"not_a_table", "header_missing", "header"}
    assert {c for c, r in IMPORT_RULES.items() if r.severity == BLOCKING} == blocking
    assert {c for c, r in IMPORT_RULES.items() if r.severity == WARNING} == {
        "label_to_check", "label_ignored", "no_line"}
    assert IMPORT_RULES["price_negative"].id == "EGALIM_PRICE_NEGATIVE"
    # the severities the Egalim build rules had when they were written by hand
    assert {r.id: r.severity for r in BUILD_RULES if r.severity == INFO} == {
        "EG05": INFO, "EG06": INFO, "EG11": INFO}


def test_the_engine_runs_each_rule_set_into_the_same_finding_columns() -> None:
    """One subject of each set, one row each; the engine's SQL gives the same columns and the
    catalogue's severity."""
    con = duckdb.connect()
    # DECP: a record merged with a duplicate published by another source, in disagreement:
    # merged across sources (information) and in conflict (warning)
    con.execute("""CREATE TABLE duplicates_work AS SELECT 'k1' AS record_key,
        '21350000000001_X1' AS uid, 'other_file' AS merge_reason,
        'montant : 10 / 12' AS conflict""")
    con.execute(findings_sql("decp_work", {"duplicate"}))
    # payments: a line paid 45 days after the invoice, 15 days late, no interest mandated
    con.execute("""CREATE TABLE payments AS SELECT 'p1' AS payment_key, 'U1' AS contract_uid,
        DATE '2025-03-20' AS payment_date, DATE '2025-02-03' AS invoice_received_date,
        true AS supplier_has_id, '1' AS supplier_ref, 100.0 AS amount_ht,
        false AS is_cancellation, NULL AS duplicate_of_piece_id, 'P1' AS piece_id,
        NULL AS contract_ref, NULL AS link_method, 45 AS payment_delay_days, 15 AS late_days,
        false AS interest_mandated, 'h1' AS file_hash, 1 AS position, 2 AS line,
        '21350000000001' AS buyer_id""")
    con.execute(findings_sql("payments_work", {"payment"}, PAYMENT_RULES, PAYMENT_SUBJECTS))
    # Egalim: a line at 0 € of a canteen the profile lists
    con.execute(LINES_DDL)
    con.execute("""INSERT INTO egalim_lines (line_key, canteen_key, canteen_known,
        purchase_date, price_ht, family, characteristics, labels_known)
        VALUES ('1:13', 'C', true, DATE '2025-06-01', 0, 'BOULANGERIE', [], true)""")
    subjects = egalim_subjects("egalim_lines", False)
    con.execute(findings_sql("egalim_work", {"purchase_line"}, BUILD_RULES, subjects))
    got = {}
    for table in ("decp_work", "payments_work", "egalim_work"):
        columns = [c for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]).fetchall()]
        assert columns[:2] == ["record_key", "uid"]
        assert columns[-5:] == ["rule_id", "severity", "field", "raw_value", "value"]
        got[table] = con.execute(
            f"SELECT record_key, rule_id, severity, raw_value, value FROM {table} "
            "ORDER BY rule_id").fetchall()
    assert got == {
        "decp_work": [("k1", "DUPLICATE_ACROSS_SOURCES", INFO, "21350000000001_X1", None),
                      ("k1", "DUPLICATE_CONFLICT", WARNING, "montant : 10 / 12", None)],
        "payments_work": [("p1", "PAYMENT_LATE_WITHOUT_INTEREST", WARNING, "45", "15")],
        "egalim_work": [("1:13", "EG04", WARNING, "0.00", None)],
    }
    # the Egalim findings carry their canteen, year and month
    assert con.execute("SELECT canteen_key, year, month FROM egalim_work").fetchall() == [
        ("C", 2025, 6)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """The Egalim tables of a build over three real fixture files: canteens of the profile
    (the three lycées, not ma-cantine's canteen), lines, a one-article nomenclature, findings."""
    tmp = tmp_path_factory.mktemp("egalim-rules")
    directory = CanteenDirectory.of(sirets=[PAVIE, RENAN, METIERS, MA_CANTINE])
    files = [
        (EGALIM / "lycees" / "achats-2024-2025.csv", None),
        (EGALIM / "imports" / "purchases_good.csv", None),
        (EGALIM / "regles" / "export-cantine.csv",
         ColumnMapping.from_toml(EGALIM / "regles" / "correspondance.toml")),
    ]
    con = duckdb.connect()
    create_canteens(con, [
        dict.fromkeys(CANTEEN_COLUMNS, "") | {"siret": siret, "nom": siret, "departement": dep}
        for siret, dep in ((PAVIE, "22"), (RENAN, "22"), (METIERS, "29"))])
    con.execute(LINES_DDL)
    for load_id, (path, mapping) in enumerate(files, start=1):
        out = tmp / f"{load_id}.parquet"
        report = import_purchases(path, out, canteens=directory, mapping=mapping, today=TODAY)
        assert report.status == "chargé" and not report.errors, report.errors
        insert_lines(con, out, load_id, path.name, False)
    create_articles(con, read_nomenclature(EGALIM / "regles" / "nomenclature.csv"))
    con.execute(MATRIX_DDL)
    create_contracts(con, [])
    enrich(con, {})
    con.execute(EFFECTIVE_VIEW)
    create_findings(con, EFFECTIVE_LINES)
    return con


def _findings(con: duckdb.DuckDBPyConnection, rule: str) -> list[tuple[object, ...]]:
    return con.execute(
        "SELECT load_id, line_number, canteen_key, year, month, value, severity "
        "FROM egalim_findings WHERE rule_id = ? ORDER BY load_id, line_number, month",
        [rule]).fetchall()


A, W = WARNING, INFO


def test_each_egalim_build_rule_fires_on_its_fixture_line(built: duckdb.DuckDBPyConnection) -> None:
    # load 1: the lycées (line 11: fish "FERMIER"; line 13: a credit note at 0 €;
    # Lycée Ernest Renan buys in January and March 2025, not in February)
    # load 2: ma-cantine's purchases_good.csv, 8 lines of a canteen the profile does not list
    # load 3: the export: line 2 CE2 on 2027-01-05; lines 2–7 are article FL-001 at 10 € five
    # times and 500 € once (median 10, 500 > 10 × 10); line 8 has no family, no article and an
    # empty labels cell (unknown); line 9 is article ZZZ-999, not in the nomenclature
    assert _findings(built, "EG01") == [(3, 8, PAVIE, 2027, 1, None, A)]
    assert _findings(built, "EG02") == [(1, 11, RENAN, 2025, 3, "FERMIER", A)]
    assert _findings(built, "EG03") == [
        (3, 2, PAVIE, 2027, 1, "certification environnementale niveau 2", A)]
    assert _findings(built, "EG04") == [(1, 13, METIERS, 2025, 6, "0.00", A)]
    assert _findings(built, "EG05") == [(3, 7, PAVIE, 2027, 1, "500.00", W)]
    assert _findings(built, "EG06") == [(3, 8, PAVIE, 2027, 1, None, W)]
    assert _findings(built, "EG07") == [
        (2, line, MA_CANTINE, 2022, 5, MA_CANTINE, A) for line in range(2, 10)]
    assert _findings(built, "EG08") == [(None, None, RENAN, 2025, 2, "2", A)]
    assert _findings(built, "EG09") == []  # no supplier matrix here
    assert _findings(built, "EG10") == [(3, 9, PAVIE, 2027, 1, "ZZZ-999", A)]
    # every line without an article code (the nomenclature has only FL-001): the 13 lines of
    # the lycées, the 8 of ma-cantine and line 8 of the export; the value is the description
    eg11 = _findings(built, "EG11")
    assert [(f[0], f[1]) for f in eg11] == (
        [(1, n) for n in range(2, 15)] + [(2, n) for n in range(2, 10)] + [(3, 8)])
    assert eg11[-1][5:] == ("Épicerie diverse", W)
    # the findings' severities are the catalogue's
    catalogue = {r.id: r.severity for r in BUILD_RULES}
    assert all(catalogue[rule] == severity for rule, severity in built.execute(
        "SELECT DISTINCT rule_id, severity FROM egalim_findings").fetchall())


def test_import_rules_are_placed_on_the_cells_of_a_layout() -> None:
    """The importer runs the catalogue's import rules on the engine, one per check of a cell."""
    header = (EGALIM / "imports" / "purchases_good.csv").read_text().splitlines()[0].split(",")
    sql = build_sql(resolve_ma_cantine(header), header, None, TODAY)
    assert "CREATE TEMP TABLE import_findings_work" in sql.findings
    placed = {(r.id, r.field) for r in sql.rules}
    assert {(r.id, r.severity) for r in sql.rules} <= {
        (r.id, r.severity) for r in IMPORT_RULES.values()}
    # prix_ht is the 5th column (position 4): its three format checks, then its business rule
    assert {rule for rule, field in placed if field == "4"} == {
        "EGALIM_REQUIRED", "EGALIM_NUMBER_FORMAT", "EGALIM_NUMBER_TOO_LARGE",
        "EGALIM_PRICE_NEGATIVE"}
    # the origin column says EUROPE and FRANCE together (position 7)
    assert ("EGALIM_EUROPE_AND_FRANCE", "7") in placed


def test_import_rules_block_a_line_or_warn(tmp_path: Path) -> None:
    directory = CanteenDirectory.of(sirets=[RENAN])
    # the second line names ma-cantine's canteen, which this directory does not list
    report = import_purchases(EGALIM / "lycees" / "achats-avec-une-erreur.csv",
                              tmp_path / "a.parquet", canteens=directory, accept_partial=True,
                              today=TODAY)
    assert [(e.line, e.code, e.rule_id, e.severity) for e in report.errors] == [
        (3, "canteen_unknown", "EGALIM_CANTEEN_UNKNOWN", BLOCKING)]
    assert (report.lines_read, report.kept, report.set_aside) == (3, 2, 1)
    # a private label (MSC) is a warning: the line is kept, without the label
    export = tmp_path / "export.csv"
    export.write_text("SIRET;Désignation;Date;Montant;Labels\n"
                      f"{RENAN};Lieu noir;2025-05-02;10;MSC\n", encoding="utf-8")
    mapping = ColumnMapping.from_dict({
        "columns": {"canteen_siret": "SIRET", "description": "Désignation",
                    "purchase_date": "Date", "price_ht": "Montant", "labels": ["Labels"]}})
    report = import_purchases(export, tmp_path / "b.parquet", canteens=directory,
                              mapping=mapping, today=TODAY)
    assert (report.kept, report.set_aside, report.errors) == (1, 0, [])
    assert [(w.code, w.rule_id, w.severity, w.first_line) for w in report.warnings] == [
        ("label_to_check", "EGALIM_LABEL_TO_CHECK", WARNING, 2)]


ACCOUNTING = Path(__file__).parent / "fixtures" / "accounting"


def test_accounting_finding_codes_follow_the_rule_id_convention(tmp_path: Path) -> None:
    """The readers' codes are named like the quality rules (upper-case English), prefixed by
    their reader; the real Chorus extracts, Chorus Pro flows and PES files of the fixtures, and
    a Chorus Pro invoice cut in the middle."""
    import re

    from observatoire.accounting.chorus import read_chorus
    from observatoire.accounting.chorus_pro import read_chorus_pro
    from observatoire.accounting.pes import read_pes

    convention = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+")
    seen: dict[str, set[str]] = {"CHORUS_": set(), "CHORUS_PRO_": set(), "PES_": set()}
    for prefix, folder, read in (("CHORUS_", "chorus", read_chorus),
                                 ("CHORUS_PRO_", "chorus-pro", read_chorus_pro),
                                 ("PES_", "pes", read_pes)):
        for path in sorted((ACCOUNTING / folder).iterdir()):
            if path.suffix in (".csv", ".xml"):
                seen[prefix] |= {f.code for f in read(path).findings}
    pivot = (ACCOUNTING / "chorus-pro" / "pastell_chorus_CPPFacturePivot_facture_1221_sans_pj.xml")
    cut = tmp_path / "facture-coupee.xml"
    cut.write_bytes(pivot.read_bytes()[: pivot.stat().st_size // 2])
    seen["CHORUS_PRO_"] |= {f.code for f in read_chorus_pro(cut).findings}
    assert "CHORUS_PRO_XML_INVALID" in seen["CHORUS_PRO_"]
    for prefix, codes in seen.items():
        assert codes, prefix  # each reader says something on these files
        assert all(convention.fullmatch(c) and c.startswith(prefix) for c in codes), codes
    # the Chorus extracts: a preamble skipped, AIFE's broken quotes repaired
    assert {"CHORUS_PREAMBLE", "CHORUS_QUOTES_REPAIRED"} <= seen["CHORUS_"]
