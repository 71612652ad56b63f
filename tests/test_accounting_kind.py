"""The finance flows through the one door: PES V2 and Chorus files given to ``ingest``
(recognised from their content, kind ``accounting``), then ``build``, give the payment tables,
their per-file reconciliation, and B03/B04 in the catalogue's results. Expected values come from
the simulated set's README and from the XML and CSV files themselves (read here independently
of the readers: tests/test_payments_model.py's lxml helpers, plain line counts)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from lxml import etree

from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors import accounting
from observatoire.connectors.ingest import ingest
from observatoire.landing.catalog import Catalog, Load
from tests.conftest import DEMO, FIXTURES, Warehouse
from tests.test_cli import run as run_cli
from tests.test_payments_model import PES, README_PAID, xml_piece_delays

CHORUS = DEMO / "chorus"
BAD_PES = FIXTURES / "accounting" / "pes"


@pytest.fixture(scope="module")
def finance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The buyer's DECP file, the simulated PES set, the demo's Chorus extracts and two bad
    PES files (truncated, Recette), ingested and built."""
    settings = Settings(home=tmp_path_factory.mktemp("finance-home"))
    ingest(settings, [DEMO / "decp" / "v2", *sorted(PES.glob("*.xml")), CHORUS,
                      BAD_PES / "pes_depense_truncated.xml", BAD_PES / "pes_recette.xml"])
    build(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    yield Warehouse(settings, con)
    con.close()


def _loads(settings: Settings) -> dict[str, Load]:
    return {ld.file_name: ld for ld in Catalog(settings.catalog_path).loads()}


def test_pes_and_chorus_files_are_recognised_as_the_accounting_kind(finance: Warehouse) -> None:
    loads = _loads(finance.settings)
    formats = {name: (ld.kind, ld.format) for name, ld in loads.items()
               if name.endswith((".xml", ".csv"))}
    assert formats["SIMULE_PES_DepenseAller_59920013600241_2024.xml"] == (
        "accounting", "pes-depense-aller")
    assert formats["SIMULE_PES_DepenseRetour_59920013600241_2025.xml"] == (
        "accounting", "pes-depense-retour")
    assert formats["SIMULE_PES_Marche_59920013600241.xml"] == ("accounting", "pes-marche")
    assert formats["dataetat_chorus_DP_demandes_paiement_2024-09-26.csv"] == (
        "accounting", "chorus-dp")
    assert formats["dataetat_chorus_EJ_engagements_2024-09-26.csv"] == ("accounting", "chorus-ej")


def test_ingest_then_build_gives_the_readme_paid_total_of_each_contract(
        finance: Warehouse) -> None:
    got = dict(finance.con.execute(
        "SELECT f.contract_ref, cp.paid_ht FROM contract_payments cp "
        "JOIN finance_contracts f USING (contract_uid)").fetchall())
    assert got == README_PAID
    # each is the DECP contract the buyer published (same identity rule)
    assert finance.con.execute(
        "SELECT count(*) FROM finance_contracts WHERE decp_uid IS NOT NULL").fetchone() == (5,)


def test_every_accounting_load_reconciles_with_its_file(finance: Warehouse) -> None:
    loads = _loads(finance.settings)
    rows = {r[0]: r[1:] for r in finance.con.execute(
        "SELECT file_name, records_in, kept, duplicates_in_file + duplicates_across_files, "
        "set_aside, balanced FROM payment_reconciliation").fetchall()}
    read = dict(finance.con.execute("SELECT file_name, kept FROM accounting_files").fetchall())
    accounted = {name for name, ld in loads.items() if ld.kind == "accounting"}
    assert accounted == set(rows) and len(accounted) == 5 + 3 + 2
    for name in accounted:
        records_in, kept, duplicates, set_aside, balanced = rows[name]
        assert records_in == kept + duplicates + set_aside and balanced, name
        assert loads[name].records == read[name], name
    # independently of the readers: a Dépense Aller's records are its LigneDePiece elements,
    # a Chorus extract's its lines after the header
    for path in PES.glob("SIMULE_PES_DepenseAller_*.xml"):
        lines = sum(1 for _ in etree.parse(str(path)).iter("LigneDePiece"))
        assert rows[path.name][:2] == (lines, lines)
    dp = CHORUS / "dataetat_chorus_DP_demandes_paiement_2024-09-26.csv"
    data = [ln for ln in dp.read_text(encoding="utf-8").splitlines()[1:] if ln.strip()]
    assert rows[dp.name][:2] == (len(data), len(data)) == (37, 37)
    # every PES line kept is a payment line of the warehouse
    assert finance.con.execute(
        "SELECT count(*) FROM payments p JOIN accounting_files a USING (file_hash) "
        "WHERE a.flow = 'pes_depense'").fetchone() == finance.con.execute(
        "SELECT sum(kept) FROM accounting_files WHERE flow = 'pes_depense'").fetchone()


def test_a_truncated_pes_file_keeps_its_lines_and_says_why_in_french(finance: Warehouse) -> None:
    load = _loads(finance.settings)["pes_depense_truncated.xml"]
    assert (load.kind, load.status) == ("accounting", "partial")
    truncated = [e for e in load.errors if "tronqué" in e["message"]]
    given = str(BAD_PES / "pes_depense_truncated.xml")
    assert truncated and truncated[0]["where"].startswith(given)
    assert "demandez au producteur le fichier complet" in truncated[0]["hint"]
    row = finance.con.execute(
        "SELECT records_in, kept, duplicates_in_file + duplicates_across_files, set_aside "
        "FROM payment_reconciliation "
        "WHERE file_name = 'pes_depense_truncated.xml'").fetchone()
    assert row is not None and row[0] == row[1] + row[2] + row[3] and row[1] == load.records > 0
    assert finance.con.execute(
        "SELECT count(*) FROM payments p JOIN accounting_files a USING (file_hash) "
        "WHERE a.file_name = 'pes_depense_truncated.xml'").fetchone() == (load.records,)


def test_a_pes_recette_file_is_refused_with_its_reason_and_listed_in_the_reconciliation(
        finance: Warehouse) -> None:
    load = _loads(finance.settings)["pes_recette.xml"]
    assert (load.kind, load.status, load.records) == ("accounting", "rejected", 0)
    assert any("PES Recette" in e["message"] for e in load.errors)
    assert finance.con.execute(
        "SELECT flow, records_in FROM accounting_files WHERE file_name = 'pes_recette.xml'"
    ).fetchone() == ("pes_recette", 0)


def test_b03_b04_are_computed_in_a_build_with_payments(finance: Warehouse) -> None:
    delays = [d for d, _ in xml_piece_delays().values()]
    rows = {(code, basis, category): (value, status, available) for code, basis, category, value,
            status, available in finance.con.execute(
                "SELECT r.code, r.basis, r.category, r.value, r.status, i.available "
                "FROM indicator_results r JOIN indicators i USING (indicator_id, version) "
                "WHERE r.code IN ('B03', 'B04') AND r.period = 'toutes' "
                "AND r.breakdown = 'total'").fetchall()}
    mean = rows[("B03", "mean", None)]
    assert mean[0] == pytest.approx(sum(delays) / len(delays)) and mean[1:] == (None, True)
    within = sum(1 for d in delays if d <= 30)
    assert rows[("B04", "count", None)][0] == pytest.approx(within / len(delays))
    assert rows[("B04", "count", "61+")][0] == pytest.approx(1 / len(delays))
    # the catalogue's bases only: B03 declares the mean (its median stays in the step's table)
    assert ("B03", "median", None) not in rows
    # its technical definition is the step's: table and SQL
    grain, query = finance.con.execute(
        "SELECT grain, query FROM indicators WHERE code = 'B03'").fetchone()
    assert grain == "payment_indicator_results" and "FROM payments" in query
    # and its breakdowns: per buyer, the PES buyer's mean is its own pieces'
    assert finance.con.execute(
        "SELECT value FROM indicator_results WHERE code = 'B03' AND basis = 'mean' "
        "AND period = 'toutes' AND breakdown = 'buyer' AND breakdown_value = '59920013600241'"
    ).fetchone() == (pytest.approx(sum(delays) / len(delays)),)
    # by the buyer's territory: this build has no reference files and the DECP 2024 file gives
    # no place, so the buyer's place is unknown and no territory is computed (never a guessed
    # one; tests/test_payment_indicators.py has the placed case)
    assert finance.value("SELECT departement_code FROM buyers "
                         "WHERE buyer_siret = '59920013600241'") is None
    assert finance.value("SELECT count(*) FROM indicator_results WHERE code IN ('B03', 'B04') "
                         "AND breakdown IN ('buyer_departement', 'buyer_region')") == 0


def test_b03_b04_stay_unavailable_in_a_build_without_payments(
        demo_warehouse: Warehouse) -> None:
    rows = demo_warehouse.con.execute(
        "SELECT r.code, r.status, i.available FROM indicator_results r "
        "JOIN indicators i USING (indicator_id, version) WHERE r.code IN ('B03', 'B04') "
        "ORDER BY r.code").fetchall()
    assert rows == [("B03", "unavailable", False), ("B04", "unavailable", False)]


def test_the_other_payment_indicators_are_unavailable_without_payments(
        demo_warehouse: Warehouse) -> None:
    from observatoire.indicators.payments import COMPUTED

    rows = demo_warehouse.con.execute(
        "SELECT r.code, r.status, r.value, i.available, i.data_requirement "
        "FROM indicator_results r JOIN indicators i USING (indicator_id, version) "
        "WHERE list_contains(?, r.indicator_id) ORDER BY r.code", [sorted(COMPUTED)]).fetchall()
    assert [r[0] for r in rows] == ["A05", "B02", "B03", "B04", "B05", "B06", "B08", "B11",
                                    "C07", "D07", "E03", "G06", "G07"]
    # « données non disponibles », with the data it needs said, never a value
    assert all(r[1:4] == ("unavailable", None, False) and r[4] for r in rows)


def test_small_samples_publish_no_value_and_b11_without_subcontractors_stays_unavailable(
        finance: Warehouse) -> None:
    rows = {code: rest for code, *rest in finance.con.execute(
        "SELECT r.code, r.status, r.value, r.numerator, r.known_count, i.available "
        "FROM indicator_results r JOIN indicators i USING (indicator_id, version) "
        "WHERE r.code IN ('B02', 'B05', 'B06', 'B11', 'E03', 'G06', 'G07') "
        "AND r.period = 'toutes' AND r.breakdown = 'total' AND r.category IS NULL"
    ).fetchall()}
    # the simulated set has too few contracts, advances and interest lines for the profile's
    # minimum sample (30): the evidence is kept, no value is published
    for code, numerator in (("B05", 503.57), ("B06", None), ("G06", sum(README_PAID.values())),
                            ("G07", 4)):
        status, value, got, known, available = rows[code]
        assert (status, value, available) == ("small_sample", None, True), code
        assert (numerator is None or got == pytest.approx(float(numerator))) \
            and 0 < known < 30, code
    # no SIRENE reference in this build: the holders' categories are unknown, so B02 knows
    # none of its contracts (coverage 0), and says no value rather than 0 %
    assert tuple(rows["B02"][1:5]) == (None, 0, 0, True)
    # nothing in the flows says a subcontractor was paid directly: « non disponible »
    assert rows["B11"][0] == "unavailable" and rows["B11"][1] is None
    # the generic profile has no territory: nobody is known to be local, nothing is claimed
    assert rows["E03"][1] is None and rows["E03"][3] == 0


def test_missing_accounting_staging_is_parsed_again_by_the_next_build(
        tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    ingest(settings, [DEMO / "decp" / "v2", *sorted(PES.glob("*.xml"))])
    shutil.rmtree(settings.staging_dir / accounting.FOLDER)
    build(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        got = dict(con.execute(
            "SELECT f.contract_ref, cp.paid_ht FROM contract_payments cp "
            "JOIN finance_contracts f USING (contract_uid)").fetchall())
        assert got == README_PAID
    finally:
        con.close()


# --- A mapped export through the same door: ``observatoire ingest --correspondance`` ---------

EXPORTS = Path(__file__).resolve().parents[1] / "src" / "observatoire" / "profiles" / (
    "region-bretagne") / "accounting"
MAPPING = EXPORTS / "export-marches-2013-2015.toml"
EXAMPLE = EXPORTS / "export-marches-2013-2015-exemple.csv"


def _paid_in_example() -> dict[str, Decimal]:
    """Paid HT per contract, summed from the example's rows by hand-written parsing."""
    paid: dict[str, Decimal] = {}
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(";")
    for line in lines[1:]:
        cells = dict(zip(header, line.split(";"), strict=True))
        amount = cells["Montant mandate HT"].replace(" ", "").replace(",", ".")
        if cells["Nmarché"] and amount:
            paid[cells["Nmarché"]] = paid.get(cells["Nmarché"], Decimal(0)) + Decimal(amount)
    return paid


def test_a_mapped_export_comes_in_by_ingest_with_its_mapping_and_gives_payments(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = run_cli(home, "ingest", "--correspondance", str(MAPPING), str(EXAMPLE))
    # the totals line is set aside (its contract number is empty): partial, exit code 3
    assert done.returncode == 3, done.stderr
    assert "incomplet" in done.stdout
    # its staging lost (a new staging version…): read again with the mapping it came with
    shutil.rmtree(home / "staging" / accounting.FOLDER)
    assert run_cli(home, "build").returncode == 0
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        got = dict(con.execute("SELECT contract_ref, sum(amount_ht) FROM payments "
                               "GROUP BY contract_ref").fetchall())
        assert got == _paid_in_example() == {"2014-0001": Decimal("120000.00"),
                                             "2015-0042": Decimal("12345.67")}
        assert con.execute("SELECT records_in, kept, set_aside FROM accounting_files"
                           ).fetchone() == (6, 5, 1)
    finally:
        con.close()


def test_an_export_whose_mapping_names_a_missing_column_is_refused_in_french(
        tmp_path: Path) -> None:
    mapping = tmp_path / "correspondance.toml"
    mapping.write_text(MAPPING.read_text(encoding="utf-8").replace(
        'amount_ht = "Montant mandate HT"', 'amount_ht = "Montant payé HT"'), encoding="utf-8")
    home = tmp_path / "home"
    done = run_cli(home, "ingest", "--correspondance", str(mapping), str(EXAMPLE))
    assert done.returncode == 1, done.stderr
    (load,) = Catalog(Settings(home=home).catalog_path).loads()
    assert (load.kind, load.status, load.records, load.format) == (
        "accounting", "rejected", 0, "export")
    assert any("Montant payé HT" in e["message"] for e in load.errors)
    assert all(e["where"].startswith(str(EXAMPLE)) for e in load.errors)


def test_no_records_are_listed_behind_a_figure_a_step_computed(finance: Warehouse) -> None:
    from observatoire.indicators.service import records_behind

    # B03 has no fact table: nothing to list (the page answers 404), never an error
    assert records_behind(finance.settings, "delai-global-paiement", "toutes",
                          "population") is None


def test_the_indicator_pages_show_payment_indicators_with_their_evidence(
        finance: Warehouse, client: object) -> None:
    import json
    import os

    kept = os.environ.get("OBSERVATOIRE_HOME")
    os.environ["OBSERVATOIRE_HOME"] = str(finance.settings.home)
    try:
        page = client.get("/indicateurs/interets-moratoires/?periode=toutes")  # type: ignore[attr-defined]
        html = page.content.decode("utf-8")
        twin = json.loads(client.get(  # type: ignore[attr-defined]
            "/indicateurs/interets-moratoires.json?periode=toutes").content)
        missing = client.get("/indicateurs/delai-paiement-sous-traitants/"  # type: ignore[attr-defined]
                             ).content.decode("utf-8")
    finally:
        if kept is None:
            os.environ.pop("OBSERVATOIRE_HOME", None)
        else:
            os.environ["OBSERVATOIRE_HOME"] = kept
    assert page.status_code == 200
    # the evidence of the small sample: the amount, its parts, but no published value
    assert "503,57" in html and "intérêts moratoires" in html and "indemnités forfaitaires" in html
    assert "échantillon trop petit" in html
    whole = [r for r in twin["serie"] if r["period"] == "toutes" and r["category"] is None]
    assert [(r["numerator"], r["record_count"], r["coverage"], r["value"], r["status"])
            for r in whole] == [(503.57, 4, 1.0, None, "small_sample")]
    # B11: nothing in the flows says a subcontractor was paid directly
    assert "Données non disponibles" in missing and "sous-traitants" in missing


# --- simulated files: a declared property, not a file name --------------------------------------

BUYER_ID = "59920013600241"


def _line_count(path: Path) -> int:
    return sum(1 for _ in etree.parse(str(path)).iter("LigneDePiece"))


def test_a_file_declared_simulated_is_labelled_so_whatever_its_name(tmp_path: Path) -> None:
    """A PES file copied under a name that says nothing, beside a ``.provenance.toml`` that
    declares it simulated, has its lines labelled simulated in the load log, the warehouse, the
    explorer's service and the published dataset; the same kind of file without a declaration
    is real; a file named as ``accounting.simulate`` names them stays simulated (fallback)."""
    from observatoire import datasets, spending

    aller_2024 = PES / f"SIMULE_PES_DepenseAller_{BUYER_ID}_2024.xml"
    aller_2025 = PES / f"SIMULE_PES_DepenseAller_{BUYER_ID}_2025.xml"
    declared, plain, legacy = tmp_path / "declared", tmp_path / "plain", tmp_path / "legacy"
    for folder in (declared, plain, legacy):
        folder.mkdir()
    shutil.copy(aller_2024, declared / "mandats-2024.xml")
    (declared / ".provenance.toml").write_text(
        'simule = true\ndescription = "essai"\n', encoding="utf-8")
    shutil.copy(aller_2025, plain / "mandats-2025.xml")
    shutil.copy(PES / f"SIMULE_PES_DepenseRetour_{BUYER_ID}_2024.xml",
                legacy / f"SIMULE_PES_DepenseRetour_{BUYER_ID}_2024.xml")
    settings = Settings(home=tmp_path / "home")
    ingest(settings, [declared, plain, legacy])
    build(settings)

    loads = _loads(settings)
    found = [e for e in loads["mandats-2024.xml"].errors if e["code"] == "jeu_simule"]
    assert len(found) == 1 and found[0]["severity"] == "information"
    assert "essai" in found[0]["message"]
    assert not any(e["code"] == "jeu_simule" for e in loads["mandats-2025.xml"].errors)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        flags = dict(con.execute("SELECT file_name, simulated FROM accounting_files").fetchall())
    assert flags == {"mandats-2024.xml": True, "mandats-2025.xml": False,
                     f"SIMULE_PES_DepenseRetour_{BUYER_ID}_2024.xml": True}

    simulated = spending.search(settings, spending.PaymentFilters(source="pes_simule"))
    real = spending.search(settings, spending.PaymentFilters(source="pes"))
    assert simulated["count"] == _line_count(aller_2024) == simulated["simulated"]
    assert real["count"] == _line_count(aller_2025) and real["simulated"] == 0
    assert {p["file_name"] for p in simulated["payments"]} == {"mandats-2024.xml"}
    page = spending.buyer_payments(settings, BUYER_ID)
    assert page is not None and page["buyer_payments"]["simulated"]

    path = datasets.export(settings, "paiements", "json")
    import json

    rows = json.loads(path.read_text(encoding="utf-8"))
    by_file: dict[str, set[str]] = {}
    for r in rows:
        by_file.setdefault(r["file_name"], set()).add(r["source"])
    assert by_file == {"mandats-2024.xml": {"pes_simule"}, "mandats-2025.xml": {"pes"}}


def test_an_unreadable_provenance_declaration_refuses_the_file_in_french(
    tmp_path: Path,
) -> None:
    """A declaration that cannot be read never lets its files pass for real: they are refused,
    the load log says what, where and what to do."""
    folder = tmp_path / "depot"
    folder.mkdir()
    shutil.copy(PES / f"SIMULE_PES_DepenseAller_{BUYER_ID}_2025.xml", folder / "mandats.xml")
    (folder / ".provenance.toml").write_text('simule = "oui"\n', encoding="utf-8")
    settings = Settings(home=tmp_path / "home")
    ingest(settings, [folder])
    load = _loads(settings)["mandats.xml"]
    assert load.status == "rejected"
    assert "simule = true" in load.errors[0]["message"]
    assert load.errors[0]["where"].endswith(".provenance.toml")
    assert "docs/accounting.md" in load.errors[0]["hint"]


def test_ingest_command_reports_a_declared_simulated_file(tmp_path: Path) -> None:
    """The command line shows the declaration as an information line with what to do (it used
    to fail on the line's empty hint)."""
    folder = tmp_path / "declared"
    folder.mkdir()
    shutil.copy(PES / f"SIMULE_PES_DepenseAller_{BUYER_ID}_2024.xml", folder / "mandats.xml")
    (folder / ".provenance.toml").write_text("simule = true\n", encoding="utf-8")
    result = run_cli(tmp_path / "home", "ingest", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Fichier déclaré simulé par .provenance.toml" in result.stdout
    assert "Que faire : Rien à faire pour une démonstration" in result.stdout
