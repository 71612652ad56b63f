"""The indicators computed from payments (B02, B05, B06, B11, E03, G06, G07) and the Chorus Pro
status flux in the payment delays, on the simulated PES set (demo/data/pes-simule) and the real
Chorus Pro samples. Expected values are read from the PES XML here (lxml, independently of the
readers), from the set's README and from the demo's SIRENE extract; each indicator has a
positive case here, and its « non disponible » and too-small-sample cases in a whole build
(tests/test_accounting_kind.py)."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from lxml import etree

from observatoire.accounting.chorus_pro import read_chorus_pro
from observatoire.accounting.result import ReadResult
from observatoire.indicators.payments import compute_payment_indicators
from tests.conftest import DEMO, FIXTURES, Warehouse
from tests.test_payments_model import (  # noqa: F401 (the module's fixture)
    PES,
    README_PAID,
    _staged_lines_as_table,
    _v,
    payments_warehouse,
    staging,
    xml_payment_dates,
    xml_piece_delays,
)

Staging = tuple[dict[str, list[Path]], list[tuple[str, ReadResult]]]
#: The README's DECP amounts of the five contracts (€ HT).
README_AWARDED = [Decimal("32122.00"), Decimal("146780.00"), Decimal("33136.63"),
                  Decimal("19283.59"), Decimal("15800.00")]


def total(con: duckdb.DuckDBPyConnection, code: str, basis: str,
          category: str | None = None) -> tuple[float | None, ...] | None:
    """(numerator, denominator, value, record_count, known_count) of the all-years total."""
    return con.execute(
        "SELECT numerator, denominator, value, record_count, known_count "
        "FROM payment_indicator_results WHERE code = ? AND basis = ? AND period = 'toutes' "
        "AND breakdown = 'total' AND category IS NOT DISTINCT FROM ?",
        [code, basis, category]).fetchone()


def xml_pieces() -> list[dict[str, str | Decimal | None]]:
    """Every Dépense Aller line with its piece nature, account, tiers and contract."""
    out = []
    for path in sorted(PES.glob("SIMULE_PES_DepenseAller_*.xml")):
        for bordereau in etree.parse(str(path)).iter("Bordereau"):
            for piece in bordereau.iter("Piece"):
                for ln in piece.iter("LigneDePiece"):
                    out.append({
                        "year": _v(bordereau, "BlocBordereau/Exer"),
                        "batch_type": _v(bordereau, "BlocBordereau/TypBord"),
                        "piece": _v(piece, "BlocPiece/InfoPce/IdPce"),
                        "piece_nature": _v(piece, "BlocPiece/InfoPce/NatPce"),
                        "line": _v(ln, "BlocLignePiece/InfoLignePce/IdLigne"),
                        "account": _v(ln, "BlocLignePiece/InfoLignePce/Nature"),
                        "amount": Decimal(_v(ln, "BlocLignePiece/InfoLignePce/MtHT") or "0"),
                        "contract": _v(ln, "BlocLignePiece/LiensIdent/IdMarche"),
                        "tiers": _v(ln, "Tiers/InfoTiers/IdTiers"),
                    })
    return out


def test_each_indicator_the_step_computes_is_a_catalogue_entry_of_a_step_source() -> None:
    from observatoire.indicators.payments import COMPUTED, _rows
    from observatoire.indicators.profile import STEP_RESULTS, load_profile

    catalogue = {i.id: i for i in load_profile("generique").indicators}
    # the rows the step writes are copied for the catalogue's entry of that id and code only
    # when its source is a step's: any other would silently never be published
    assert {(r.indicator_id, r.code) for r in _rows()} == {
        (i, catalogue[i].code) for i in COMPUTED}
    assert all(catalogue[i].source in STEP_RESULTS and not catalogue[i].available
               for i in COMPUTED)
    # and each basis the catalogue declares is one the step computes
    computed = {(r.indicator_id, r.basis) for r in _rows()}
    assert all((i, b) in computed for i in COMPUTED for b in catalogue[i].bases)


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory, demo_warehouse: Warehouse,
       staging: Staging) -> duckdb.DuckDBPyConnection:  # noqa: F811
    con = payments_warehouse(tmp_path_factory.mktemp("indicators"), demo_warehouse, staging)
    compute_payment_indicators(con)
    return con


def test_b05_interest_and_flat_indemnities_are_the_6711_lines_of_the_xml(
        wh: duckdb.DuckDBPyConnection) -> None:
    lines = [p["amount"] for p in xml_pieces() if p["account"] == "6711"]
    indemnities = [a for a in lines if a == Decimal("40.00")]
    assert len(lines) == 4 and len(indemnities) == 2  # the README: two late payments
    assert total(wh, "B05", "value") == pytest.approx(
        (float(sum(lines)), None, float(sum(lines)), 4, 4))
    assert total(wh, "B05", "value", "indemnités forfaitaires")[2] == 80.0  # type: ignore[index]
    assert total(wh, "B05", "value", "intérêts moratoires")[2] == pytest.approx(  # type: ignore[index]
        float(sum(lines) - 80))
    assert total(wh, "B05", "count")[2] == 4  # type: ignore[index]


def test_b06_is_the_days_from_the_start_of_execution_to_the_advance_payment(
        wh: duckdb.DuckDBPyConnection) -> None:
    advances = {(p["year"], p["piece"], p["line"]): p["contract"] for p in xml_pieces()
                if p["piece_nature"] == "14" and p["batch_type"] != "02"}
    assert len(advances) == 1  # the README: one advance, on the biggest contract
    ((year, piece, line), contract), = advances.items()
    marche = etree.parse(str(PES / "SIMULE_PES_Marche_59920013600241.xml"))
    start = next(date.fromisoformat(_v(m, ".//DateDebutExecution") or "")
                 for m in marche.iter("Marche")
                 if _v(m, "IdentifiantMarche/IdContrat") == contract)
    paid = xml_payment_dates()[(int(str(year)), str(piece), str(line))]
    days = (paid - start).days
    assert total(wh, "B06", "mean") == (days, 1, days, 1, 1)


def test_b06_without_the_contract_s_start_of_execution_is_unknown_never_zero(
        tmp_path: Path, demo_warehouse: Warehouse, staging: Staging) -> None:  # noqa: F811
    def no_pes_marche(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("DROP VIEW staged_finance_contracts")
        c.execute("CREATE TEMP TABLE staged_finance_contracts AS SELECT * FROM "
                  "read_parquet(?) LIMIT 0", [str(staging[0]["finance_contracts"][0])])
    con = payments_warehouse(tmp_path, demo_warehouse, staging, no_pes_marche)
    compute_payment_indicators(con)
    # the advance is paid (one record) but its delay cannot be told: coverage 0, no value
    assert total(con, "B06", "mean") == (None, 0, None, 1, 0)
    # nor is there any contract below 40 k€ known to the finance software: no G07 row
    assert total(con, "G07", "count") is None


def test_b02_counts_sme_contracts_above_25k_with_an_advance_of_30_percent(
        tmp_path: Path, wh: duckdb.DuckDBPyConnection, demo_warehouse: Warehouse,
        staging: Staging) -> None:  # noqa: F811
    # the holders' SIRENE categories, from the demo's extract
    with (DEMO / "ref" / "sirene_categorieEntreprise_titulaires_decp_2022.csv").open() as fh:
        category = {r["siren"]: r["categorieEntreprise"] for r in csv.DictReader(fh)}
    awarded = {"H9O2024T0000256": Decimal("32122.00"), "H9O2024T0000356": Decimal("146780.00"),
               "H9O2024T0000456": Decimal("33136.63")}  # the README's contracts above 25 k€
    holders = {p["contract"]: p["tiers"] for p in xml_pieces() if p["contract"] in awarded}
    sme = [c for c in awarded if category.get(str(holders[c])[:9]) == "PME"]
    assert sme == ["H9O2024T0000356"]
    advance = sum(p["amount"] for p in xml_pieces()  # type: ignore[misc]
                  if p["piece_nature"] == "14" and p["contract"] == "H9O2024T0000356")
    assert advance < Decimal("0.30") * awarded["H9O2024T0000356"]  # 5 %: not 30 %
    assert total(wh, "B02", "count") == (0, 1, 0.0, 1, 1)

    # the same advance raised to 30 % of the contract: counted
    thirty = Decimal("0.30") * awarded["H9O2024T0000356"]
    con = payments_warehouse(tmp_path, demo_warehouse, staging, lambda c: _staged_lines_as_table(
        c, f"SELECT * REPLACE (CASE WHEN piece_nature = '14' THEN {thirty} ELSE amount_ht END "
           "AS amount_ht) FROM lines_copy"))
    compute_payment_indicators(con)
    assert total(con, "B02", "count") == (1, 1, 1.0, 1, 1)


def test_b11_is_the_delay_of_the_pieces_paid_to_a_subcontractor(
        tmp_path: Path, wh: duckdb.DuckDBPyConnection, demo_warehouse: Warehouse,
        staging: Staging) -> None:  # noqa: F811
    # nothing in the simulated set says a subcontractor is paid directly: no B11 row
    assert total(wh, "B11", "mean") is None
    # the pieces of one contract said paid to a direct-payment subcontractor (as an export
    # says it): B11 is their delay, computed from the XML like B03's
    contract = "H9O2024T0000356"
    con = payments_warehouse(tmp_path, demo_warehouse, staging, lambda c: _staged_lines_as_table(
        c, f"SELECT * REPLACE (contract_ref = '{contract}' AS subcontractor_paid) "
           "FROM lines_copy"))
    compute_payment_indicators(con)
    pieces = {(int(str(p["year"])), str(p["piece"])) for p in xml_pieces()
              if p["contract"] == contract}
    delays = [d for key, (d, _) in xml_piece_delays().items() if key in pieces]
    assert total(con, "B11", "mean") == pytest.approx(
        (sum(delays), len(delays), sum(delays) / len(delays), len(delays), len(delays)))


def test_e03_shares_the_amounts_paid_to_suppliers_placed_in_the_territory(
        tmp_path: Path, demo_warehouse: Warehouse, staging: Staging) -> None:  # noqa: F811
    rennes, paris = "35294162900029", "42134020900129"

    def places(c: duckdb.DuckDBPyConnection) -> None:
        # only two suppliers placed: one in Rennes (Bretagne, 53), one in Paris
        c.execute("UPDATE suppliers SET region_code = NULL, departement_code = NULL")
        c.execute("DELETE FROM ref_sirene_establishments")
        c.execute("INSERT INTO ref_sirene_establishments BY NAME SELECT * FROM (VALUES "
                  f"('{rennes}', '35238', true), ('{paris}', '75056', true)) "
                  "v(siret, commune_code, is_diffusible)")
    con = payments_warehouse(tmp_path, demo_warehouse, staging, places)
    compute_payment_indicators(con, [("region", "53")])
    net: dict[str | None, Decimal] = defaultdict(Decimal)  # annulations net their tiers' lines
    for p in xml_pieces():
        net[p["tiers"]] += -p["amount"] if p["batch_type"] == "02" else p["amount"]  # type: ignore[operator]
    everything = sum(net.values())
    got = total(con, "E03", "value")
    assert got is not None and got[:3] == pytest.approx(
        (float(net[rennes]), float(net[rennes] + net[paris]),
         float(net[rennes] / (net[rennes] + net[paris]))))
    # the range the unplaced amounts allow
    assert con.execute("SELECT unknown_low, unknown_high FROM payment_indicator_results "
                       "WHERE code = 'E03' AND period = 'toutes' AND breakdown = 'total'"
                       ).fetchone() == pytest.approx(
        (float(net[rennes] / everything), float((everything - net[paris]) / everything)))
    # without a territory nobody is known to be local: coverage 0, no value
    compute_payment_indicators(con)
    assert total(con, "E03", "value")[1:3] == (None, None)  # type: ignore[index]


def test_g06_and_g07_compare_paid_and_published_with_the_readme(
        wh: duckdb.DuckDBPyConnection) -> None:
    paid, awarded = sum(README_PAID.values()), sum(README_AWARDED)
    assert total(wh, "G06", "ratio") == pytest.approx(
        (float(paid), float(awarded), float(paid / awarded), 5, 5))
    # the four contracts below 40 k€ of the PES Marché, all published as DECP by the buyer
    below = [a for a in README_AWARDED if a < 40_000]
    assert total(wh, "G07", "count") == (len(below), len(below), 1.0, 4, 4)
    # per buyer: the PES buyer's own
    assert wh.execute("SELECT value FROM payment_indicator_results WHERE code = 'G07' "
                      "AND period = 'toutes' AND breakdown_value = '59920013600241'"
                      ).fetchone() == (1.0,)


def test_a_profile_scoped_to_its_buyers_counts_only_their_payments(
        tmp_path: Path, demo_warehouse: Warehouse, staging: Staging) -> None:  # noqa: F811
    con = payments_warehouse(tmp_path, demo_warehouse, staging)
    # the Région Bretagne's scope (its SIREN): none of the simulated buyer's payments
    assert compute_payment_indicators(con, buyers=["233500016"]) == 0
    assert compute_payment_indicators(con, buyers=["599200136"]) > 0


def test_g07_a_contract_the_buyer_did_not_publish_lowers_the_share(
        tmp_path: Path, demo_warehouse: Warehouse, staging: Staging) -> None:  # noqa: F811
    def unpublished(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("CREATE TEMP TABLE fc_copy AS SELECT * FROM staged_finance_contracts")
        c.execute("DROP VIEW staged_finance_contracts")
        c.execute("CREATE TEMP TABLE staged_finance_contracts AS SELECT * REPLACE ("
                  "CASE WHEN contract_ref = 'H9O2024T0000656' THEN 'BC-2024-017' "
                  "ELSE contract_ref END AS contract_ref) FROM fc_copy")
    con = payments_warehouse(tmp_path, demo_warehouse, staging, unpublished)
    compute_payment_indicators(con)
    assert total(con, "G07", "count") == (3, 4, 0.75, 4, 4)


# --- Chorus Pro status flux: reception and service fait date the delay --------------------


def _status_file(folder: Path, invoice: str, supplier: str, code: str, stamp: str) -> Path:
    """The real status sample with another invoice, supplier, status and timestamp."""
    text = (FIXTURES / "accounting" / "chorus-pro" / "pastell_chorus_CPPStatut_example01.xml"
            ).read_text(encoding="utf-8")
    text = (text.replace("<IdFacture>Example01</IdFacture>", f"<IdFacture>{invoice}</IdFacture>")
            .replace("<Identifiant>00000000169959</Identifiant>",
                     f"<Identifiant>{supplier}</Identifiant>")
            .replace("<IdStatut>07</IdStatut>", f"<IdStatut>{code}</IdStatut>")
            .replace("2018-12-18T16:51:55.000+01:00", stamp))
    out = folder / f"statut-{invoice}-{code}.xml"
    out.write_text(text, encoding="utf-8")
    return out


def test_the_status_flux_dates_reception_and_service_fait_and_starts_the_delay(
        tmp_path: Path, demo_warehouse: Warehouse, staging: Staging) -> None:  # noqa: F811
    paid = xml_payment_dates()[(2024, "3", "1")]
    paid_1 = xml_payment_dates()[(2024, "1", "1")]
    supplier = "32682006500083"
    service_done = date.fromordinal(paid.toordinal() - 10)
    received = date.fromordinal(paid.toordinal() - 25)
    received_1 = date.fromordinal(paid_1.toordinal() - 20)
    recorded_late = date.fromordinal(paid_1.toordinal() + 3)
    files: dict[str, list[Path]] = defaultdict(list)
    sources = [
        FIXTURES / "accounting" / "chorus-pro" / "pastell_chorus_CPPStatut_example01.xml",
        # invoice FAC-1 of the supplier: « Déposée » 25 days, « Service fait » 10 days before
        # the payment of piece 3 of 2024
        _status_file(tmp_path, "FAC-1", supplier, "01", f"{received.isoformat()}T09:00:00"),
        _status_file(tmp_path, "FAC-1", supplier, "07", f"{service_done.isoformat()}T17:00:00"),
        # FAC-2: « Déposée » 20 days before piece 1's payment, « Service fait » recorded 3 days
        # after it (piece 1 of 2024 has no suspension in the Retour)
        _status_file(tmp_path, "FAC-2", supplier, "01", f"{received_1.isoformat()}T09:00:00"),
        _status_file(tmp_path, "FAC-2", supplier, "07",
                     f"{recorded_late.isoformat()}T09:00:00")]
    for i, path in enumerate(sources):
        target = tmp_path / f"{i}-statuses.parquet"
        pq.write_table(read_chorus_pro(path).tables["invoice_statuses"], target)
        files["invoice_statuses"].append(target)

    def pays_fac_1(c: duckdb.DuckDBPyConnection) -> None:
        _staged_lines_as_table(c, (
            "SELECT * REPLACE (CASE WHEN piece_id IN ('1', '3') AND fiscal_year = 2024 THEN "
            f"'{supplier}' ELSE supplier_siret END AS supplier_siret, CASE WHEN fiscal_year = "
            "2024 AND piece_id = '3' THEN 'FAC-1' WHEN fiscal_year = 2024 AND piece_id = '1' "
            "THEN 'FAC-2' ELSE invoice_number END AS invoice_number) FROM lines_copy"))
    con = payments_warehouse(tmp_path, demo_warehouse, ({**staging[0], **files}, staging[1]),
                             pays_fac_1)
    # received before the service was done: the delay runs from the service fait (R2192-12)
    assert con.execute(
        "SELECT invoice_received_date, invoice_received_source, service_done_date, "
        "delay_start_date, delay_start_method, payment_delay_days FROM payments "
        "WHERE piece_id = '3' AND fiscal_year = 2024").fetchone() == (
        received, "chorus_pro", service_done, service_done, "service_fait", 10)
    # a service fait recorded after the payment is a late record: the reception starts it
    assert con.execute(
        "SELECT delay_start_date, delay_start_method, payment_delay_days FROM payments "
        "WHERE piece_id = '1' AND fiscal_year = 2024").fetchone() == (
        received_1, "reception", 20)
    # the invoices known only from the status flux are invoices too, with their dates
    assert con.execute(
        "SELECT invoice_number, received_date, service_done_date, status, invoice_source "
        "FROM invoices ORDER BY invoice_number").fetchall() == [
        ("Example01", None, date(2018, 12, 18), "07 Service fait", "status"),
        ("FAC-1", received, service_done, "07 Service fait", "status"),
        ("FAC-2", received_1, recorded_late, "07 Service fait", "status")]


# --- A05, B08, C07, D07: when a purchasing system's export carries them ----------------------

EXPORT = ("Marché;Consultation;Lots;Acheteur;Notification;Montant;Titulaire;Retenue;"
          "Dematerialisee;Egalite\n") + """\
C-1;CONS-A;3;59920013600241;2025-02-01;30000;35294162900029;3;oui;oui
C-2;CONS-A;3;59920013600241;2025-02-01;20000;35294162900029;5;oui;non
C-3;CONS-B;;59920013600241;2025-03-01;15000;42134020900129;5;non;
C-4;CONS-C;;59920013600241;2025-04-01;12000;35294162900029;2,5;;oui
C-5;CONS-C;;59920013600241;2025-04-01;8000;35294162900029;;oui;non
"""
EXPORT_MAPPING = """[mapping]
name = "Export d'essai du système achats"
separator = ";"
date_formats = ["%Y-%m-%d"]
decimal_separator = ","

[mapping.contracts]
contract_ref = "Marché"
consultation_ref = "Consultation"
lots_count = "Lots"
buyer_id = "Acheteur"
notification_date = "Notification"
amount_ht = "Montant"
holder_siret = "Titulaire"
retention_rate = "Retenue"
electronic_procedure = "Dematerialisee"
equality_clause = "Egalite"
"""


def test_a05_b08_c07_d07_come_from_the_columns_of_a_purchasing_export(
        tmp_path: Path, wh: duckdb.DuckDBPyConnection, demo_warehouse: Warehouse,
        staging: Staging) -> None:  # noqa: F811
    from observatoire.accounting.exports import ExportMapping, read_export
    from observatoire.indicators import service
    from observatoire.indicators.compute import compute
    from observatoire.indicators.profile import load_profile

    # without such an export (PES only): no row, « données non disponibles »
    assert [total(wh, code, "count") for code in ("A05", "B08", "C07", "D07")] == [None] * 4
    (tmp_path / "export.csv").write_text(EXPORT, encoding="utf-8")
    (tmp_path / "export.toml").write_text(EXPORT_MAPPING, encoding="utf-8")
    result = read_export(tmp_path / "export.csv",
                         ExportMapping.from_toml(tmp_path / "export.toml"))
    assert (result.records_in, result.kept) == (5, 5)
    pq.write_table(result.tables["finance_contracts"], tmp_path / "export.parquet")
    files = {**staging[0], "finance_contracts": [*staging[0]["finance_contracts"],
                                                 tmp_path / "export.parquet"]}
    con = payments_warehouse(tmp_path, demo_warehouse, (files, staging[1]))
    compute_payment_indicators(con)
    # by hand from the file above and the demo's SIRENE categories (352941629 PME, 421340209
    # GE), with the simulated set's five PES Marché contracts, which say none of it
    # A05: CONS-A says 3 lots, CONS-C has two contracts, CONS-B one → 2 of 3 split
    assert total(con, "A05", "count") == (2, 3, 2 / 3, 3, 3)
    # B08: retention above 0 with SME holders: C-1 (3 %), C-2 (5 %), C-4 (2,5 %); C-3 is a GE's
    assert total(con, "B08", "count") == (2, 3, 2 / 3, 3, 3)
    # C07: said for C-1, C-2 (yes), C-3 (no), C-5 (yes), unknown for C-4 and the PES contracts
    assert total(con, "C07", "count") == (3, 4, 0.75, 10, 4)
    # D07: C-1 and C-4 yes, C-2 and C-5 no, the others unknown
    assert total(con, "D07", "count") == (2, 4, 0.5, 10, 4)
    # in the catalogue's results, too few for the minimum sample (30): no value, evidence kept
    for table in service.TABLES:
        con.execute(f"DROP TABLE IF EXISTS {table}")
    compute(con, load_profile("generique"))
    assert con.execute(
        "SELECT code, status, value, numerator, known_count FROM indicator_results "
        "WHERE code IN ('A05', 'B08', 'C07', 'D07') AND period = 'toutes' "
        "AND breakdown = 'total' ORDER BY code").fetchall() == [
        ("A05", "small_sample", None, 2, 3), ("B08", "small_sample", None, 2, 3),
        ("C07", "small_sample", None, 3, 4), ("D07", "small_sample", None, 2, 4)]


def test_b03_b04_by_directorate_of_the_contract_paid_and_by_buyer_territory(
        tmp_path: Path, demo_warehouse: Warehouse, staging: Staging) -> None:  # noqa: F811
    """B03 and B04 per directorate (the contract each mandat pays: one contract given
    « travaux », the buyer's others « autres »; mandats outside contracts have none) and per
    buyer's département and région, worked out from the XML: each piece's delay and net
    (``xml_piece_delays``) grouped by the IdMarche of its lines. A warehouse whose contracts
    have no directorate computes no directorate rows (they would repeat the total)."""
    from tests.test_payments_model import BUYER, xml_lines

    con = payments_warehouse(tmp_path, demo_warehouse, staging)
    works = "H9O2024T0000356"
    con.execute("UPDATE contracts SET directorate_id = NULL")
    compute_payment_indicators(con)
    assert con.execute("SELECT count(*) FROM payment_indicator_results "
                       "WHERE breakdown = 'directorate'").fetchone() == (0,)
    con.execute("UPDATE contracts SET directorate_id = CASE WHEN uid = ? THEN 'travaux' "
                "ELSE 'autres' END WHERE buyer_siret = ?", [BUYER + works, BUYER])
    known = {uid for (uid,) in con.execute("SELECT uid FROM contracts").fetchall()}
    compute_payment_indicators(con)

    contracts: dict[tuple[int, str], set[str]] = defaultdict(set)
    for ln in xml_lines():
        if ln.contract and BUYER + ln.contract in known:
            contracts[(ln.year, ln.piece)].add(ln.contract)
    groups: dict[str | None, list[tuple[int, Decimal]]] = defaultdict(list)
    for key, (delay, net) in xml_piece_delays().items():
        refs = contracts.get(key, set())
        directorate = None if not refs else ("travaux" if refs == {works} else "autres")
        groups[directorate].append((delay, net))
    assert set(groups) == {"travaux", "autres", None}  # all three cases are in the set

    def rows(breakdown: str) -> dict[tuple[str, str | None, str | None], tuple[Any, ...]]:
        return {(code, basis, value): (num, den, val) for code, basis, value, num, den, val in
                con.execute("SELECT code, basis, breakdown_value, numerator, denominator, value "
                            "FROM payment_indicator_results WHERE period = 'toutes' "
                            "AND breakdown = ? AND category IS NULL AND code IN ('B03', 'B04')",
                            [breakdown]).fetchall()}

    by_directorate = rows("directorate")
    for directorate, pieces in groups.items():
        delays = [d for d, _ in pieces]
        within = [(d, a) for d, a in pieces if d <= 30]
        assert by_directorate[("B03", "mean", directorate)] == (
            sum(delays), len(delays), pytest.approx(sum(delays) / len(delays)))
        assert by_directorate[("B04", "count", directorate)] == (
            len(within), len(delays), pytest.approx(len(within) / len(delays)))
        assert by_directorate[("B04", "value", directorate)][:2] == (
            pytest.approx(float(sum(a for _, a in within))),
            pytest.approx(float(sum(a for _, a in pieces))))
    # the buyer's territory: every PES mandat is the one buyer's; its place is the buyers row's
    departement, region = con.execute(
        "SELECT departement_code, region_code FROM buyers WHERE buyer_siret = ?",
        [BUYER]).fetchone() or (None, None)
    assert departement and region
    delays = [d for d, _ in xml_piece_delays().values()]
    within = sum(1 for d in delays if d <= 30)
    for breakdown, code in (("buyer_departement", departement), ("buyer_region", region)):
        found = rows(breakdown)
        assert found[("B03", "mean", code)] == (
            sum(delays), len(delays), pytest.approx(sum(delays) / len(delays)))
        assert found[("B04", "count", code)][:2] == (within, len(delays))
        assert {v for (_, _, v) in found} == {code}
    # per year as well, with B04's distribution per perimeter
    assert con.execute(
        "SELECT count(*) FROM payment_indicator_results WHERE code = 'B04' AND category = '61+' "
        "AND breakdown = 'directorate' AND period <> 'toutes'").fetchone()[0] > 0
