"""The payments model on the demo: the demo DECP warehouse plus the simulated PES set
(demo/data/pes-simule, generated from the real DECP contracts of buyer 59920013600241), read
with read_pes into Parquet, then the payment build steps. Expected values come from the PES XML
itself (read here with lxml, independently of the readers) and from the set's README."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from lxml import etree

from observatoire.accounting.chorus import read_chorus
from observatoire.accounting.chorus_pro import read_chorus_pro
from observatoire.accounting.pes import ParquetSink, read_pes
from observatoire.accounting.result import ReadResult
from observatoire.indicators.payments import compute_payment_indicators
from observatoire.model import payments
from observatoire.model.payment_dictionary import PAYMENT_TABLES
from observatoire.pipeline import BuildContext
from observatoire.quality.payment_rules import PAYMENT_RULES, PAYMENT_SUBJECTS
from observatoire.quality.rules import RULES, SEVERITIES
from tests.conftest import DEMO, FIXTURES, Warehouse

PES = DEMO / "pes-simule"
BUYER = "59920013600241"
#: The README's table: paid to date per contract (HT, account 2313, annulment deducted).
README_PAID = {"H9O2024T0000256": Decimal("32122.00"), "H9O2024T0000356": Decimal("146780.00"),
               "H9O2024T0000456": Decimal("33136.63"), "H9O2024T0000556": Decimal("19283.59"),
               "H9O2024T0000656": Decimal("17250.00")}


def _v(el: etree._Element, path: str) -> str | None:
    found = el.find(path)
    return found.get("V") if found is not None else None


@dataclass
class XmlLine:
    year: int
    batch_type: str
    piece: str
    line: str
    nature: str
    amount_ht: Decimal
    contract: str | None
    dgp_start: date | None
    cancels: str | None


def xml_lines() -> list[XmlLine]:
    """Every LigneDePiece of the Dépense Aller files, read straight from the XML."""
    out = []
    for path in sorted(PES.glob("SIMULE_PES_DepenseAller_*.xml")):
        for bordereau in etree.parse(str(path)).iter("Bordereau"):
            year = int(_v(bordereau, "BlocBordereau/Exer") or 0)
            kind = _v(bordereau, "BlocBordereau/TypBord") or ""
            for piece in bordereau.iter("Piece"):
                start = _v(piece, "BlocPiece/DGP/DteDebDgp")
                for ln in piece.iter("LigneDePiece"):
                    out.append(XmlLine(
                        year, kind, _v(piece, "BlocPiece/InfoPce/IdPce") or "",
                        _v(ln, "BlocLignePiece/InfoLignePce/IdLigne") or "",
                        _v(ln, "BlocLignePiece/InfoLignePce/Nature") or "",
                        Decimal(_v(ln, "BlocLignePiece/InfoLignePce/MtHT") or "0"),
                        _v(ln, "BlocLignePiece/LiensIdent/IdMarche"),
                        date.fromisoformat(start) if start else None,
                        _v(ln, "BlocLignePiece/RattachPiece/IdPceOrig")))
    return out


def xml_payment_dates() -> dict[tuple[int, str, str], date]:
    """(year, piece, line) -> last DtePay of the Retour files."""
    paid: dict[tuple[int, str, str], date] = {}
    for path in sorted(PES.glob("SIMULE_PES_DepenseRetour_*.xml")):
        for bordereau in etree.parse(str(path)).iter("Bordereau"):
            year = int(_v(bordereau, "BlocBordereau/Exer") or 0)
            for piece in bordereau.iter("Piece"):
                for ln in piece.iter("LigneDePiece"):
                    key = (year, _v(piece, "BlocPiece/InfoPce/IdPce") or "",
                           _v(ln, "BlocLignePiece/InfoLignePce/IdLigne") or "")
                    for pay in ln.iter("Paiement"):
                        day = date.fromisoformat(_v(pay, "DtePay") or "")
                        paid[key] = max(paid.get(key, day), day)
    return paid


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]:
    """The simulated PES set read once into staging Parquet files."""
    folder = tmp_path_factory.mktemp("pes-staging")
    files: dict[str, list[Path]] = defaultdict(list)
    results: list[tuple[str, ReadResult]] = []
    for i, path in enumerate(sorted(PES.glob("*.xml"))):
        with ParquetSink(folder / str(i)) as sink:
            result = read_pes(path, sink=sink)
        for name, parquet in sink.paths.items():
            files[name].append(parquet)
        results.append((path.name, result))
    return files, results


Edit = Callable[[duckdb.DuckDBPyConnection], None]


def payments_warehouse(folder: Path, demo_warehouse: Warehouse,
                       staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]],
                       edit: Edit | None = None) -> duckdb.DuckDBPyConnection:
    """A copy of the demo warehouse with the payment steps run over the staged PES set;
    ``edit`` may change the staged rows first (a case the simulated set does not have)."""
    path = folder / "warehouse.duckdb"
    shutil.copy(demo_warehouse.settings.warehouse_path, path)
    con = duckdb.connect(str(path))
    files, results = staging
    payments.attach_staging(con, files)
    payments.register_files(con, results)
    if edit:
        edit(con)
    payments.build_payments(con)
    payments.payment_findings(con)
    return con


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory, demo_warehouse: Warehouse,
       staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]
       ) -> duckdb.DuckDBPyConnection:
    return payments_warehouse(tmp_path_factory.mktemp("payments"), demo_warehouse, staging)


def _staged_lines_as_table(con: duckdb.DuckDBPyConnection, select: str) -> None:
    """Replace the staged payment lines by ``select`` over them (a temp table), each row with a
    ``staged_row`` of its own, as ``attach_staging`` numbers the rows of the staging files (a
    row selected twice stands for a row of another file)."""
    con.execute("CREATE TEMP TABLE lines_copy AS SELECT * FROM staged_payment_lines")
    con.execute("DROP VIEW staged_payment_lines")
    con.execute(f"CREATE TEMP TABLE staged_payment_lines AS SELECT * REPLACE "
                f"(row_number() OVER () AS staged_row) FROM ({select})")


def test_paid_per_contract_equals_the_xml_and_the_readme(wh: duckdb.DuckDBPyConnection) -> None:
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for ln in xml_lines():
        if ln.contract and ln.nature == "2313":
            expected[ln.contract] += -ln.amount_ht if ln.batch_type == "02" else ln.amount_ht
    assert dict(expected) == README_PAID
    got = dict(wh.execute(
        "SELECT f.contract_ref, cp.paid_ht FROM contract_payments cp "
        "JOIN finance_contracts f ON f.decp_uid = cp.contract_uid").fetchall())
    assert got == README_PAID


def test_every_contract_payment_is_linked_by_its_number_to_the_decp_contract(
        wh: duckdb.DuckDBPyConnection) -> None:
    rows = wh.execute(
        "SELECT contract_ref, contract_uid, contract_source, link_method, link_confidence "
        "FROM payments WHERE contract_ref IS NOT NULL").fetchall()
    assert len(rows) == sum(1 for ln in xml_lines() if ln.contract)
    assert {(uid == BUYER + ref, src, method, conf) for ref, uid, src, method, conf in rows} \
        == {(True, "decp", "contract_number", "high")}


def test_the_annulled_duplicate_is_netted_to_zero(wh: duckdb.DuckDBPyConnection) -> None:
    cancellations = [ln for ln in xml_lines() if ln.batch_type == "02"]
    assert len(cancellations) == 1
    c = cancellations[0]
    original = wh.execute(
        "SELECT amount_ht, cancelled_amount_ht, net_amount_ht FROM payments "
        "WHERE fiscal_year = ? AND piece_id = ? AND NOT is_cancellation",
        [c.year, c.cancels]).fetchone()
    assert original == (c.amount_ht, c.amount_ht, Decimal("0.00"))
    annulment = wh.execute(
        "SELECT signed_amount_ht, net_amount_ht, cancels_payment_key IS NOT NULL FROM payments "
        "WHERE fiscal_year = ? AND piece_id = ?", [c.year, c.piece]).fetchone()
    assert annulment == (-c.amount_ht, Decimal("0.00"), True)
    # no duplicate mandat is reported: the duplicate was annulled
    assert wh.execute("SELECT count(*) FROM payment_findings "
                      "WHERE rule_id = 'PAYMENT_DUPLICATE_MANDAT'").fetchone() == (0,)


def test_the_four_payments_outside_contracts_stay_unlinked_and_the_person_is_masked(
        wh: duckdb.DuckDBPyConnection) -> None:
    outside = sorted(ln.amount_ht for ln in xml_lines() if not ln.contract)
    assert len(outside) == 4
    rows = wh.execute("SELECT net_amount_ht, link_method, supplier_name FROM payments "
                      "WHERE contract_uid IS NULL ORDER BY net_amount_ht").fetchall()
    assert [r[0] for r in rows] == outside
    assert {r[1] for r in rows} == {None}
    assert "Personne physique (nom masqué)" in {r[2] for r in rows}
    assert wh.execute("SELECT supplier_id, object FROM payments WHERE supplier_natural_person"
                      ).fetchall() == [(None, None)]
    assert wh.execute("SELECT count(*) FROM payments WHERE supplier_name ILIKE '%PERSONNE "
                      "SIMULEE%'").fetchone() == (0,)
    # all four are paid to tiers without SIRET: each gets PAYMENT_SUPPLIER_NO_ID
    assert wh.execute("SELECT count(*) FROM payment_findings f JOIN payments p "
                      "ON p.payment_key = f.record_key WHERE p.contract_uid IS NULL "
                      "AND f.rule_id = 'PAYMENT_SUPPLIER_NO_ID'").fetchone() == (4,)


def test_the_two_late_payments_are_late_by_17_and_44_days_with_interest(
        wh: duckdb.DuckDBPyConnection) -> None:
    paid = xml_payment_dates()
    # independent delays: DtePay (Retour) − DteDebDgp (Aller), for the lines the README calls late
    late = wh.execute("SELECT fiscal_year, piece_id, line_id, payment_delay_days, late_days, "
                      "interest_mandated FROM payments WHERE late_days > 0 "
                      "ORDER BY late_days").fetchall()
    assert [r[4] for r in late] == [17, 44]  # README: « payées 17 et 44 jours après »
    starts = {(ln.year, ln.piece, ln.line): ln.dgp_start for ln in xml_lines()}
    for year, piece, line, delay, late_days, interest in late:
        start = starts[(year, piece, line)]
        assert start is not None
        assert delay == (paid[(year, piece, line)] - start).days == 30 + late_days
        assert interest is True
    findings = wh.execute("SELECT rule_id, value FROM payment_findings WHERE rule_id LIKE "
                          "'PAYMENT_LATE%' ORDER BY value").fetchall()
    assert findings == [("PAYMENT_LATE_WITH_INTEREST", "17"),
                        ("PAYMENT_LATE_WITH_INTEREST", "44")]


def test_a_suspended_delay_is_not_late(wh: duckdb.DuckDBPyConnection) -> None:
    row = wh.execute("SELECT suspension_days, date_diff('day', invoice_received_date, "
                     "payment_date), payment_delay_days, late_days FROM payments "
                     "WHERE suspension_days > 0").fetchall()
    # README: a 12-day suspension, paid after 30 calendar days but within the delay
    assert len(row) == 1
    suspension, calendar, delay, late = row[0]
    assert suspension == 12 and calendar > 30 and delay == calendar - 12 <= 30 and late == 0


def test_late_payment_without_interest_is_found_when_the_interest_is_not_mandated(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]) -> None:
    con = payments_warehouse(tmp_path, demo_warehouse, staging, lambda c: _staged_lines_as_table(
        c, "SELECT * FROM lines_copy WHERE budget_nature <> '6711'"))
    assert con.execute("SELECT rule_id, value FROM payment_findings WHERE rule_id LIKE "
                       "'PAYMENT_LATE%' ORDER BY value").fetchall() == [
        ("PAYMENT_LATE_WITHOUT_INTEREST", "17"), ("PAYMENT_LATE_WITHOUT_INTEREST", "44")]


def test_overpayment_of_1450_and_advance_not_allowed_are_findings(
        wh: duckdb.DuckDBPyConnection) -> None:
    rows = wh.execute("SELECT rule_id, uid, raw_value, value, severity FROM payment_findings "
                      "WHERE rule_id LIKE 'CONTRACT_%' ORDER BY rule_id").fetchall()
    assert [(r[0], r[1]) for r in rows] == [
        ("CONTRACT_ADVANCE_ABOVE_ALLOWED", BUYER + "H9O2024T0000356"),
        ("CONTRACT_PAID_ABOVE_AWARDED", BUYER + "H9O2024T0000656")]
    advance, over = rows
    # the advance: nature 14 lines of the XML on that contract; the DECP says no advance
    advances = sum(ln.amount_ht for ln in xml_lines()
                   if ln.contract == "H9O2024T0000356" and ln.piece in _pieces_of_nature("14"))
    assert (Decimal(advance[2]), Decimal(advance[3])) == (Decimal(0), advances)
    assert Decimal(over[3]) - Decimal(over[2]) == Decimal("1450.00")
    assert {r[4] for r in rows} == {"avertissement"}


def _pieces_of_nature(nature: str) -> set[str]:
    return {_v(p, "BlocPiece/InfoPce/IdPce") or ""
            for path in PES.glob("SIMULE_PES_DepenseAller_*.xml")
            for p in etree.parse(str(path)).iter("Piece")
            if _v(p, "BlocPiece/InfoPce/NatPce") == nature}


def test_reconciliation_balances_every_file(wh: duckdb.DuckDBPyConnection) -> None:
    rows = wh.execute("SELECT file_name, records_in, kept, balanced FROM "
                      "payment_reconciliation").fetchall()
    assert len(rows) == 5 and all(r[3] for r in rows)
    per_file = {path.name: len(list(etree.parse(str(path)).iter("LigneDePiece")))
                for path in PES.glob("SIMULE_PES_DepenseAller_*.xml")}
    assert {r[0]: (r[1], r[2]) for r in rows if r[0] in per_file} == {
        name: (n, n) for name, n in per_file.items()}


def test_a_file_sent_twice_counts_its_lines_as_duplicates_not_payments(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]],
        wh: duckdb.DuckDBPyConnection) -> None:
    def resend(c: duckdb.DuckDBPyConnection) -> None:
        _staged_lines_as_table(c, "SELECT * FROM lines_copy UNION ALL SELECT * REPLACE "
                                  "('resent' AS file_hash) FROM lines_copy "
                                  "WHERE fiscal_year = 2025")
        c.execute("INSERT INTO accounting_files SELECT 'resent', 'RENVOI_2025.xml', flow, "
                  "status, records_in, kept, duplicates, set_aside, simulated "
                  "FROM accounting_files "
                  "WHERE file_name LIKE 'SIMULE_PES_DepenseAller_%_2025.xml'")
    con = payments_warehouse(tmp_path, demo_warehouse, staging, resend)
    n_2025 = sum(1 for ln in xml_lines() if ln.year == 2025)
    assert con.execute("SELECT count(*) FROM payments").fetchone() \
        == wh.execute("SELECT count(*) FROM payments").fetchone()
    assert con.execute("SELECT records_in, kept, duplicates_across_files, balanced FROM "
                       "payment_reconciliation WHERE file_name = 'RENVOI_2025.xml'").fetchone() \
        == (n_2025, 0, n_2025, True)


def test_unknown_contract_number_is_a_finding_and_links_by_supplier_and_dates(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]) -> None:
    con = payments_warehouse(tmp_path, demo_warehouse, staging, lambda c: _staged_lines_as_table(
        c, "SELECT * REPLACE (CASE WHEN piece_id = '1' AND fiscal_year = 2024 THEN 'MARCHE-X' "
           "ELSE contract_ref END AS contract_ref) FROM lines_copy"))
    row = con.execute("SELECT contract_uid, link_method, link_confidence FROM payments "
                      "WHERE piece_id = '1' AND fiscal_year = 2024").fetchone()
    # piece 1 of 2024 is the advance of H9O2024T0000356: its supplier holds only that contract
    assert row == (BUYER + "H9O2024T0000356", "buyer_supplier_dates", "low")
    assert con.execute("SELECT raw_value FROM payment_findings "
                       "WHERE rule_id = 'PAYMENT_CONTRACT_UNKNOWN'").fetchall() == [("MARCHE-X",)]


def test_negative_line_that_is_not_an_annulation_is_a_finding(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]) -> None:
    con = payments_warehouse(tmp_path, demo_warehouse, staging, lambda c: _staged_lines_as_table(
        c, "SELECT * REPLACE (CASE WHEN piece_id = '2' AND fiscal_year = 2024 THEN -amount_ht "
           "ELSE amount_ht END AS amount_ht) FROM lines_copy"))
    assert con.execute("SELECT raw_value FROM payment_findings WHERE rule_id = "
                       "'PAYMENT_NEGATIVE_NOT_CANCELLATION'").fetchall() == [("-386.40",)]


def xml_piece_delays() -> dict[tuple[int, str], tuple[int, Decimal]]:
    """(year, piece) -> (delay in days, net HT) of the pieces B03/B04 count, from the XML:
    ordinary pieces with a DGP, not interest (6711), not annulled; delay = last DtePay of its
    lines − DteDebDgp − (DteFinSusp − DteDebSusp) of the Retour."""
    annulled = {(ln.year, ln.cancels) for ln in xml_lines() if ln.batch_type == "02"}
    paid = xml_payment_dates()
    suspended: dict[tuple[int, str], int] = {}
    for path in PES.glob("SIMULE_PES_DepenseRetour_*.xml"):
        for bordereau in etree.parse(str(path)).iter("Bordereau"):
            year = int(_v(bordereau, "BlocBordereau/Exer") or 0)
            for piece in bordereau.iter("Piece"):
                start, end = (_v(piece, "BlocPiece/DGP/DteDebSusp"),
                              _v(piece, "BlocPiece/DGP/DteFinSusp"))
                if start and end:
                    suspended[(year, _v(piece, "BlocPiece/InfoPce/IdPce") or "")] = (
                        date.fromisoformat(end) - date.fromisoformat(start)).days
    pieces: dict[tuple[int, str], tuple[int, Decimal]] = {}
    for ln in xml_lines():
        key = (ln.year, ln.piece)
        if ln.batch_type == "02" or ln.nature == "6711" or key in annulled or not ln.dgp_start:
            continue
        delay = (paid[(ln.year, ln.piece, ln.line)] - ln.dgp_start).days - suspended.get(key, 0)
        before = pieces.get(key, (delay, Decimal(0)))
        pieces[key] = (max(before[0], delay), before[1] + ln.amount_ht)
    return pieces


def test_b03_b04_over_all_years_equal_the_delays_computed_from_the_xml(
        wh: duckdb.DuckDBPyConnection) -> None:
    compute_payment_indicators(wh)
    pieces = xml_piece_delays()
    delays = [d for d, _ in pieces.values()]
    rows = {(code, basis, category): (num, den, value, records, known, coverage)
            for code, basis, category, num, den, value, records, known, coverage in wh.execute(
                "SELECT code, basis, category, numerator, denominator, value, record_count, "
                "known_count, coverage FROM payment_indicator_results "
                "WHERE period = 'toutes' AND breakdown = 'total'").fetchall()}
    n = len(delays)
    mean = rows[("B03", "mean", None)]
    assert mean[:2] == (sum(delays), n) and mean[2] == pytest.approx(sum(delays) / n)
    assert mean[3:] == (n, n, 1.0)
    within = sum(1 for d in delays if d <= 30)
    assert rows[("B04", "count", None)][:3] == (within, n, pytest.approx(within / n))
    amount_within = sum(a for d, a in pieces.values() if d <= 30)
    assert rows[("B04", "value", None)][0] == pytest.approx(float(amount_within))
    bands = {"1-30": sum(1 for d in delays if d <= 30),
             "31-60": sum(1 for d in delays if 31 <= d <= 60),
             "61+": sum(1 for d in delays if d > 60)}
    assert {k: rows[("B04", "count", k)][0] for k in bands} == bands
    assert bands["31-60"] == 1 and bands["61+"] == 1  # the two late payments: 47 and 74 days


def test_b03_b04_are_empty_where_no_payment_is_loaded(
        tmp_path: Path, demo_warehouse: Warehouse) -> None:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_warehouse.settings.warehouse_path, path)
    con = duckdb.connect(str(path))
    payments.attach_staging(con, {})
    payments.build_payments(con)
    assert compute_payment_indicators(con) == 0
    assert con.execute("SELECT count(*) FROM payments").fetchone() == (0,)


def test_payment_tables_are_documented_column_by_column(wh: duckdb.DuckDBPyConnection) -> None:
    compute_payment_indicators(wh)
    for name, (_, columns) in PAYMENT_TABLES.items():
        built = [c for (c,) in wh.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
            "ORDER BY column_index", [name]).fetchall()]
        assert list(columns) == built, name


def test_payment_rules_are_complete_and_run_on_their_subjects() -> None:
    for rule in PAYMENT_RULES:
        assert rule.severity in SEVERITIES
        assert rule.title and rule.explanation and rule.hint, rule.id
        assert rule.over in PAYMENT_SUBJECTS
    assert len({(r.id, r.field) for r in PAYMENT_RULES}) == len(PAYMENT_RULES)
    assert not {r.id for r in PAYMENT_RULES} & {r.id for r in RULES}


def test_every_bordereau_total_is_checked_against_its_lines(
        wh: duckdb.DuckDBPyConnection) -> None:
    expected = {}
    for path in PES.glob("SIMULE_PES_DepenseAller_*.xml"):
        for bordereau in etree.parse(str(path)).iter("Bordereau"):
            lines_ht = sum((Decimal(_v(i, "MtHT") or "0") for i in bordereau.iter("InfoLignePce")),
                           Decimal(0))
            expected[(int(_v(bordereau, "BlocBordereau/Exer") or 0),
                      _v(bordereau, "BlocBordereau/IdBord"))] = (
                Decimal(_v(bordereau, "BlocBordereau/MtBordHT") or "0"), lines_ht)
    got = {(y, b): (a, s) for y, b, a, s in wh.execute(
        "SELECT fiscal_year, batch_id, amount_ht_announced, amount_ht_lines "
        "FROM payment_batch_checks").fetchall()}
    assert got == expected
    assert wh.execute("SELECT bool_and(matches) FROM payment_batch_checks").fetchone() == (True,)


def test_a_contract_known_only_from_pes_marche_is_linked_by_its_number(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]) -> None:
    def rename(c: duckdb.DuckDBPyConnection) -> None:
        rename_ref = ("CASE WHEN contract_ref = 'H9O2024T0000256' THEN 'PES-SEUL/1' "
                      "ELSE contract_ref END AS contract_ref")
        _staged_lines_as_table(c, f"SELECT * REPLACE ({rename_ref}) FROM lines_copy")
        c.execute("CREATE TEMP TABLE fc_copy AS SELECT * FROM staged_finance_contracts")
        c.execute("DROP VIEW staged_finance_contracts")
        c.execute(f"CREATE TEMP TABLE staged_finance_contracts AS "
                  f"SELECT * REPLACE ({rename_ref}) FROM fc_copy")
    con = payments_warehouse(tmp_path, demo_warehouse, staging, rename)
    uid = BUYER + "PES-SEUL_1"  # the DECP identity rule: '/' cleaned to '_'
    assert con.execute("SELECT DISTINCT contract_uid, contract_source, link_method, "
                       "link_confidence FROM payments WHERE contract_ref = 'PES-SEUL/1'"
                       ).fetchall() == [(uid, "finance", "finance_contract_number", "high")]
    assert con.execute("SELECT paid_ht, awarded_ht FROM contract_payments "
                       "WHERE contract_uid = ?", [uid]).fetchone() \
        == (README_PAID["H9O2024T0000256"], Decimal("32122.00"))


def test_a_payment_without_contract_number_is_linked_through_its_commitment(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]) -> None:
    def commitment(c: duckdb.DuckDBPyConnection) -> None:
        _staged_lines_as_table(c, (
            "SELECT * REPLACE (CASE WHEN piece_id = '3' AND fiscal_year = 2024 THEN NULL "
            "ELSE contract_ref END AS contract_ref, CASE WHEN piece_id = '3' AND fiscal_year "
            "= 2024 THEN 'EJ-1' END AS commitment_ref) FROM lines_copy"))
        c.execute("DROP TABLE staged_commitments")
        c.execute("CREATE TEMP TABLE staged_commitments AS SELECT 'EJ-1' AS commitment_ref, "
                  "CAST(NULL AS VARCHAR) AS buyer_id, 'H9O2024T0000556' AS contract_ref")
    con = payments_warehouse(tmp_path, demo_warehouse, staging, commitment)
    # piece 3 of 2024 is the first instalment of H9O2024T0000556 (its object says so)
    assert con.execute("SELECT contract_uid, link_method, link_confidence FROM payments "
                       "WHERE piece_id = '3' AND fiscal_year = 2024").fetchone() \
        == (BUYER + "H9O2024T0000556", "commitment", "medium")


def test_a_retour_sent_twice_does_not_double_what_was_paid(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]],
        wh: duckdb.DuckDBPyConnection) -> None:
    def resend(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("CREATE TEMP TABLE events_copy AS SELECT * FROM staged_payment_events")
        c.execute("DROP VIEW staged_payment_events")
        # the second copy says only « prise en charge », without the payments
        c.execute("CREATE TEMP TABLE staged_payment_events AS SELECT * FROM events_copy "
                  "UNION ALL SELECT * REPLACE ('resent' AS file_hash, NULL AS payment_id, "
                  "NULL AS payment_date, NULL AS amount_paid) FROM events_copy")
    con = payments_warehouse(tmp_path, demo_warehouse, staging, resend)
    query = ("SELECT sum(amount_paid), count(payment_date), sum(payment_delay_days) "
             "FROM payments")
    assert con.execute(query).fetchone() == wh.execute(query).fetchone()


def test_payments_taken_in_passes_are_the_rows_of_one_pass(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]],
        wh: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many events take the lines in passes (each with the events of its pieces): one event a
    pass (as many passes as events) gives the rows and findings of the whole in one pass (the
    demo's set is below ``EVENTS_PER_PASS``)."""
    assert wh.execute("SELECT count(*) FROM payments WHERE payment_date IS NOT NULL"
                      ).fetchone()[0] < payments.EVENTS_PER_PASS
    monkeypatch.setattr(payments, "EVENTS_PER_PASS", 1)
    con = payments_warehouse(tmp_path, demo_warehouse, staging)
    assert con.execute("SELECT count(*) FROM staged_payment_events").fetchone()[0] > 1
    for table in ("payments", "payment_findings", "contract_payments"):
        rows = [sorted(c.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
                for c in (con, wh)]
        assert rows[0] == rows[1] and rows[0], table


def test_the_duplicate_mandat_is_a_finding_when_its_annulation_is_missing(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]) -> None:
    cancellation = next(ln for ln in xml_lines() if ln.batch_type == "02")
    con = payments_warehouse(tmp_path, demo_warehouse, staging, lambda c: _staged_lines_as_table(
        c, "SELECT * FROM lines_copy WHERE batch_type IS DISTINCT FROM '02'"))
    # the duplicate (the piece the annulation cancelled) repeats an earlier piece
    rows = con.execute("SELECT raw_value, value FROM payment_findings "
                       "WHERE rule_id = 'PAYMENT_DUPLICATE_MANDAT'").fetchall()
    assert len(rows) == 1 and rows[0][1] == cancellation.cancels
    assert int(rows[0][0]) < int(cancellation.cancels or 0)


def test_real_chorus_extracts_make_payments_with_their_dates_and_reconcile(
        tmp_path: Path, demo_warehouse: Warehouse) -> None:
    files: dict[str, list[Path]] = defaultdict(list)
    results: list[tuple[str, ReadResult]] = []
    for i, path in enumerate(sorted((FIXTURES / "accounting" / "chorus").glob("*.csv"))):
        result = read_chorus(path)
        for name, table in result.tables.items():
            target = tmp_path / f"{i}-{name}.parquet"
            pq.write_table(table, target)
            files[name].append(target)
        results.append((path.name, result))
    wh_path = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_warehouse.settings.warehouse_path, wh_path)
    con = duckdb.connect(str(wh_path))
    payments.attach_staging(con, files)
    payments.register_files(con, results)
    payments.build_payments(con)
    # AIFE CP, by hand from the CSV: DP 100379604, base date 11/12/2024, paid 13/12/2024
    assert con.execute("SELECT payment_date, payment_delay_days FROM payments "
                       "WHERE piece_id = '100379604'").fetchone() == (date(2024, 12, 13), 2)
    # INF-BUD-53 gives no line number: the piece's payment dates its line
    assert con.execute("SELECT count(*), count(payment_date) FROM payments "
                       "WHERE flow = 'chorus_dp' AND line_id IS NULL").fetchone() == (5, 5)
    assert con.execute("SELECT count(*), bool_and(balanced) FROM payment_reconciliation"
                       ).fetchone() == (6, True)
    assert con.execute("SELECT count(*) FROM payments").fetchone() == (5 + 2 + 37,)


def test_chorus_pro_invoices_date_the_reception_of_the_payment_they_match(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]) -> None:
    invoices = []
    for i, path in enumerate(sorted((FIXTURES / "accounting" / "chorus-pro").glob("*.xml"))):
        table = read_chorus_pro(path).tables.get("invoices")
        if table is not None and table.num_rows:
            target = tmp_path / f"{i}-invoices.parquet"
            pq.write_table(table, target)
            invoices.append(target)
    files = {**staging[0], "invoices": invoices}

    def matching_line(c: duckdb.DuckDBPyConnection) -> None:
        # piece 3 of 2024 made to pay the real pivot's invoice AVA20150923 of 32682006500083
        _staged_lines_as_table(c, (
            "SELECT * REPLACE (CASE WHEN piece_id = '3' AND fiscal_year = 2024 THEN "
            "'32682006500083' ELSE supplier_siret END AS supplier_siret, CASE WHEN piece_id = "
            "'3' AND fiscal_year = 2024 THEN 'AVA20150923' ELSE invoice_number END AS "
            "invoice_number) FROM lines_copy"))
    con = payments_warehouse(tmp_path, demo_warehouse, (files, staging[1]), matching_line)
    # the pivot file and the single-invoice file carry AVA20150923 twice: one invoice
    assert con.execute("SELECT count(*), count(DISTINCT invoice_number) FROM invoices"
                       ).fetchone() == (4, 4)
    assert con.execute("SELECT invoice_received_date, invoice_received_source FROM payments "
                       "WHERE piece_id = '3' AND fiscal_year = 2024").fetchone() \
        == (date(2015, 8, 19), "chorus_pro")


def test_payment_before_invoice_reception_is_a_finding_and_has_no_delay(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]) -> None:
    paid = xml_payment_dates()[(2024, "3", "1")]
    con = payments_warehouse(tmp_path, demo_warehouse, staging, lambda c: _staged_lines_as_table(
        c, "SELECT * REPLACE (CASE WHEN piece_id = '3' AND fiscal_year = 2024 THEN "
           f"DATE '{paid.isoformat()}' + 5 ELSE delay_start_date END AS delay_start_date) "
           "FROM lines_copy"))
    assert con.execute("SELECT payment_delay_days FROM payments WHERE piece_id = '3' "
                       "AND fiscal_year = 2024").fetchone() == (None,)
    assert con.execute("SELECT raw_value, value FROM payment_findings WHERE rule_id = "
                       "'PAYMENT_BEFORE_INVOICE'").fetchall() == [
        (str(date.fromordinal(paid.toordinal() + 5)), str(paid))]


def test_the_declared_steps_write_exactly_the_tables_they_declare(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]) -> None:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_warehouse.settings.warehouse_path, path)
    con = duckdb.connect(str(path))
    payments.attach_staging(con, staging[0])
    payments.register_files(con, staging[1])

    def tables() -> set[str]:
        return {t for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()}

    ctx = BuildContext(con, demo_warehouse.settings, None, [], 0, "")  # type: ignore[arg-type]
    for step in payments.STEPS:
        before = tables()
        step.run(ctx)
        assert tables() - before <= step.writes, step.name
        assert step.writes <= tables(), step.name


def test_a_supplier_sirene_does_not_let_us_name_is_masked(
        tmp_path: Path, demo_warehouse: Warehouse,
        staging: tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]) -> None:
    siret = "35294162900029"  # the holder of H9O2024T0000356 in the simulated set

    def not_diffusible(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("DELETE FROM ref_sirene_establishments WHERE siret = ?", [siret])
        c.execute("INSERT INTO ref_sirene_establishments BY NAME "
                  "SELECT ? AS siret, false AS is_diffusible", [siret])
    con = payments_warehouse(tmp_path, demo_warehouse, staging, not_diffusible)
    assert con.execute("SELECT DISTINCT supplier_name, supplier_not_diffusible FROM payments "
                       "WHERE supplier_siret = ?", [siret]).fetchall() == [
        ("Nom non diffusible (SIRENE)", True)]
    assert con.execute("SELECT count(*) FROM payments WHERE supplier_name LIKE "
                       "'%35294162900029%'").fetchone() == (0,)


def test_staged_rows_are_numbered_across_staging_files(tmp_path: Path) -> None:
    """``staged_row`` tells apart every row of every staging file (the model's last step takes
    each line back by it), the same file's rows listed twice included; no file: no row."""
    import pyarrow as pa

    from observatoire.accounting.staging import PAYMENT_LINES

    rows = [{"file_hash": "h", "position": i, "piece_id": "1", "line_id": str(i)}
            for i in range(1, 4)]
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=PAYMENT_LINES), first)
    pq.write_table(pa.Table.from_pylist(rows[:2], schema=PAYMENT_LINES), second)
    con = duckdb.connect()
    payments.attach_staging(con, {"payment_lines": [first, second, first]})
    got = con.execute("SELECT staged_row, position FROM staged_payment_lines "
                      "ORDER BY staged_row").fetchall()
    assert [position for _, position in got] == [1, 2, 3, 1, 2, 1, 2, 3]
    assert len({row for row, _ in got}) == 8
    empty = duckdb.connect()
    payments.attach_staging(empty, {})
    assert empty.execute("SELECT count(staged_row), count(*) FROM staged_payment_lines"
                         ).fetchone() == (0, 0)
