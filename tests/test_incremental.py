"""Incremental builds equal complete builds, row for row, in every table.

Two data homes get the same files in the same order; after each ingest, one builds as
``observatoire build`` does (incremental when it can be), the other as ``build --complet`` (the
reference). Every table of the two warehouses is compared with ``EXCEPT ALL`` both ways; only
the columns that say when a build or an ingest ran, which differ between any two homes, are
left out (:data:`TIMES`). The files are the real DECP files of the demo and of the shared data,
in several orders, with a superseding version of a file, corrections and an exclusion made
through the application database, and the records the rules set aside.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire import explorer, lookups
from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from observatoire.formatting import number
from tests.conftest import DEMO, AppDb, make_account

SHARED = Path("/work/shared/data/decp")
V1, V2 = DEMO / "decp" / "v1", DEMO / "decp" / "v2"
TABULAR = next((DEMO / "decp").rglob("*.csv"))
GIP = V2 / "gip-maximilien_decp-13001845000028-2024-10-06-01.json"
MEGALIS = next(V2.glob("megalis*.json"))
REFS = DEMO / "ref"
PES = DEMO / "pes-simule"

#: Columns that say when a build or an ingest ran (they differ between two data homes).
TIMES = {
    "build_info": {"started_at", "finished_at"},
    "loads": {"loaded_at", "duration_s", "original_path"},
    "quality_builds": {"recorded_at"},
    "quality_history": {"recorded_at"},
    "indicator_history": {"recorded_at"},
}


def differences(a: Path, b: Path) -> dict[str, tuple[int, int]]:
    """Per table: rows of ``a`` not in ``b`` and of ``b`` not in ``a`` (multisets), where any."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")

        def tables(db: str) -> set[str]:
            return {t for (t,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [db]).fetchall()}

        out: dict[str, tuple[int, int]] = {}
        for t in sorted(tables("a") ^ tables("b")):
            out[t] = (-1, -1)
        for t in sorted(tables("a") & tables("b")):
            def columns(db: str, table: str = t) -> list[str]:
                return [c for (c,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = ? "
                    "AND table_name = ? ORDER BY column_index", [db, table]).fetchall()]
            if columns("a") != columns("b"):
                out[t] = (-2, -2)
                continue
            cols = ", ".join(f'"{c}"' for c in columns("a") if c not in TIMES.get(t, set()))
            counts = [con.execute(f'SELECT count(*) FROM (SELECT {cols} FROM {x}."{t}" '
                                  f'EXCEPT ALL SELECT {cols} FROM {y}."{t}")').fetchall()[0][0]
                      for x, y in (("a", "b"), ("b", "a"))]
            if any(counts):
                out[t] = (counts[0], counts[1])
        return out
    finally:
        con.close()


class Twins:
    """Two data homes fed the same files: one built incrementally, one completely."""

    def __init__(self, root: Path, appdb: AppDb | None = None,
                 profile: str = Settings.profile, patch_min_contracts: int = 0) -> None:
        make = appdb.settings if appdb else (lambda home: Settings(home=home, profile=profile))
        # 0: the indicator step is patched even at these files' small size (the patch is
        # what these tests prove equal to a complete build)
        self.incremental: Settings = replace(make(root / "incremental"),
                                             indicators_patch_min_contracts=patch_min_contracts)
        self.complete: Settings = make(root / "complete")
        self.modes: list[str] = []

    def ingest(self, *paths: Path) -> None:
        for settings in (self.incremental, self.complete):
            ingest(settings, list(paths))

    def build_and_compare(self) -> str:
        summary = build(self.incremental)
        build(self.complete, complete=True)
        self.modes.append(summary.mode)
        assert differences(self.incremental.warehouse_path,
                           self.complete.warehouse_path) == {}, summary.mode_reason
        holders_index_there_and_page_names_right(self.incremental.warehouse_path)
        return summary.mode


def holders_index_there_and_page_names_right(path: Path) -> None:
    """The index of the holders by uid (``observatoire.lookups``), kept by a patch's deletes and
    inserts: the names the pages find through it are those of the table's rows."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT index_name FROM duckdb_indexes()").fetchall() == [
            (lookups.HOLDERS_BY_UID,)]
        expected: dict[str, set[str]] = {}
        for uid, name in con.execute(
                """SELECT h.uid, COALESCE(s.name, h.holder_id) FROM contract_holders h
                   LEFT JOIN suppliers s USING (supplier_key) WHERE h.is_current""").fetchall():
            expected.setdefault(uid, set()).add(name)
        uids = sorted({u for (u,) in con.execute("SELECT uid FROM contracts").fetchall()})
        found: dict[str, list[str]] = {}
        for start in range(0, len(uids), explorer.MAX_PAGE_SIZE):
            found |= explorer._holder_names(con, uids[start:start + explorer.MAX_PAGE_SIZE])
        assert found == {uid: sorted(names) for uid, names in expected.items()}
    finally:
        con.close()


ORDERS = {
    # a consolidated CSV first, the JSON flows after, one by one
    "csv-then-json": [[REFS, TABULAR, V1 / "data.gouv.fr_aife.json"],
                      [V1 / "data.gouv.fr_pes.json"],
                      [SHARED / "v1" / "e-marchespublics.json", MEGALIS],
                      [GIP, *sorted((SHARED / "quirks").glob("*.json"))]],
    # the other way round
    "json-then-csv": [[REFS, GIP, MEGALIS],
                      [V1 / "e-marchespublics.json"],
                      [V1 / "data.gouv.fr_pes.json", V1 / "data.gouv.fr_aife.json"],
                      [TABULAR]],
}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_incremental_equals_complete_in_several_orders(tmp_path: Path, order: str) -> None:
    twins = Twins(tmp_path)
    for batch in ORDERS[order]:
        twins.ingest(*batch)
        twins.build_and_compare()
    assert twins.modes[0] == "complet"  # the first build has nothing to start from
    # the later builds were incremental, unless the fallback said why (checked above)
    assert "incremental" in twins.modes[1:], twins.modes


def _gip() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GIP.read_text(encoding="utf-8"))
    return data


def test_superseding_version_corrections_and_exclusion(
        tmp_path: Path, application_database: AppDb, no_corrections: None) -> None:
    from observatoire.stewardship.services import correct

    buyer = "13001845000028"
    zero_amount, excluded = buyer + "D2F2020S0757302", buyer + "D2F2021S0392902"
    steward = make_account("steward-increment", "gestionnaire", "acheteur:130018450").user
    twins = Twins(tmp_path, application_database)
    platform = tmp_path / "platform" / "decp.json"
    platform.parent.mkdir()
    shutil.copyfile(GIP, platform)
    # people's decisions, read by both homes from the one application database
    correct(steward, uid=zero_amount, buyer_siret=buyer, action="set_value", field="montant",
            source_value="0.0", new_value="18500", reason="Montant de l'acte", based_on=None)
    correct(steward, uid=excluded, buyer_siret=buyer, action="exclude",
            reason="Marché saisi deux fois", based_on=None)
    twins.ingest(REFS, platform, V1 / "data.gouv.fr_pes.json")
    assert twins.build_and_compare() == "complet"
    # a new version of the platform's file: one amount changed, one contract gone, one new
    data = _gip()
    records = data["marches"]["marche"]
    changed = next(r for r in records if r["id"] not in (zero_amount[14:], excluded[14:]))
    changed["montant"] = float(changed["montant"] or 0) + 1000
    gone = records.pop(next(i for i, r in enumerate(records)
                            if r["id"] not in (zero_amount[14:], excluded[14:], changed["id"])))
    added = json.loads(json.dumps(changed))
    added["id"] = "INCREMENT0001"
    records.append(added)
    platform.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    twins.ingest(platform)
    assert twins.build_and_compare() == "incremental"
    con = duckdb.connect(str(twins.incremental.warehouse_path), read_only=True)
    try:
        # what the new version says, and what people decided, are in the patched warehouse
        assert con.execute("SELECT amount_initial FROM contracts WHERE uid = ?",
                           [zero_amount]).fetchall() == [(18500.0,)]
        assert con.execute("SELECT count(*) FROM contracts WHERE uid = ?",
                           [excluded]).fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM contracts WHERE uid = ?",
                           [buyer + gone["id"]]).fetchall() == [(0,)]
        assert con.execute("SELECT amount_initial FROM contracts WHERE uid = ?",
                           [buyer + "INCREMENT0001"]).fetchall() == [(changed["montant"],)]
        assert con.execute("SELECT bool_and(balanced) FROM reconciliation").fetchall() == [(True,)]
    finally:
        con.close()
    # a decision changed since: the next build is complete, and says why
    correct(steward, uid=buyer + changed["id"], buyer_siret=buyer, action="exclude",
            reason="Doublon", based_on=None)
    twins.ingest(MEGALIS)
    summary = build(twins.incremental)
    assert summary.mode == "complet" and "décisions" in summary.mode_reason


def _one_record(source: Path, target: Path, record_id: str, new_id: str,
                amount: float | None = None) -> Path:
    """A file of one record of ``source`` (its id ``record_id``) under ``new_id``."""
    data = json.loads(source.read_text(encoding="utf-8"))
    (record,) = [r for r in data["marches"]["marche"] if r["id"] == record_id]
    record["id"] = new_id
    if amount is not None:
        record["montant"] = amount
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"marches": {"marche": [record]}}, ensure_ascii=False),
                      encoding="utf-8")
    return target


def _mark_payment_indicators(path: Path) -> None:
    """Change one payment indicator value in the warehouse in service: it stays in the next
    build only if that build keeps the table."""
    con = duckdb.connect(str(path))
    try:
        con.execute("""UPDATE payment_indicator_results SET value = -1
            WHERE rowid = (SELECT min(rowid) FROM payment_indicator_results)""")
    finally:
        con.close()


def test_payments_kept_unless_the_patch_reaches_what_they_read(tmp_path: Path) -> None:
    """The payments model and indicators (PES files of one buyer, 59920013600241) keep their
    tables when the new files touch no contract, buyer or holder they read, and run again when
    they do: both as a complete build."""
    paying = "59920013600241"
    twins = Twins(tmp_path)
    twins.ingest(REFS, GIP, MEGALIS, *sorted(PES.glob("*.xml")))
    assert twins.build_and_compare() == "complet"
    con = duckdb.connect(str(twins.complete.warehouse_path), read_only=True)
    try:
        paid = con.execute("SELECT contract_uid FROM contract_payments WHERE contract_source "
                           "= 'decp' ORDER BY 1").fetchall()
        assert con.execute("SELECT count(*) FROM payment_indicator_results").fetchall()[0][0] > 0
    finally:
        con.close()
    assert paid and all(uid.startswith(paying) for (uid,) in paid)

    # a new contract of another buyer (GIP Maximilien): the payments' tables kept
    _mark_payment_indicators(twins.incremental.warehouse_path)
    twins.ingest(_one_record(GIP, tmp_path / "flux" / "gip.json", "D2F2023S0302702",
                             "INCREMENTPAY1"))
    summary = build(twins.incremental)
    build(twins.complete, complete=True)
    ran = [t.name for t in summary.steps]
    assert summary.mode == "incremental" and "increment.paiements" in ran
    assert not {"paiements.depot", "paiements.modele", "paiements.qualite"} & set(ran)
    # the marked value was carried over: the table was kept, not computed again
    assert differences(twins.incremental.warehouse_path,
                       twins.complete.warehouse_path) == {"payment_indicator_results": (1, 1)}

    # a record of a paid contract (another amount): the payments model and indicators run
    # again, as a complete build (the marked value is gone)
    uid = paid[0][0]
    twins.ingest(_one_record(MEGALIS, tmp_path / "flux" / "megalis.json", uid[len(paying):],
                             uid[len(paying):], amount=99999.0))
    summary = build(twins.incremental)
    build(twins.complete, complete=True)
    ran = [t.name for t in summary.steps]
    assert summary.mode == "incremental"
    assert {"paiements.depot", "paiements.modele", "paiements.qualite"} <= set(ran)
    assert differences(twins.incremental.warehouse_path, twins.complete.warehouse_path) == {}

    # a new contract of the paying buyer: it may be what a payment is linked to by buyer,
    # holder and dates, so the payments run again (here to the same rows)
    twins.ingest(_one_record(MEGALIS, tmp_path / "flux" / "megalis-new.json",
                             uid[len(paying):], "INCREMENTPAY2"))
    summary = build(twins.incremental)
    build(twins.complete, complete=True)
    assert summary.mode == "incremental" and "paiements.modele" in [t.name for t in summary.steps]
    assert differences(twins.incremental.warehouse_path, twins.complete.warehouse_path) == {}


def test_the_profile_fingerprint_is_the_same_in_another_process() -> None:
    """The next build (another process) compares it with this one's: a digest that changed
    with the process (the order of a set of strings does) would make every build complete."""
    import subprocess
    import sys

    from observatoire.build import profile_fingerprint
    from observatoire.indicators.profile import load_profile

    code = ("from observatoire.build import profile_fingerprint as f; "
            "from observatoire.indicators.profile import load_profile as p; "
            "print(f(p('demonstration')))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, "PYTHONHASHSEED": "random"})
    assert other.stdout.strip() == profile_fingerprint(load_profile("demonstration"))
    assert profile_fingerprint(load_profile("generique")) != other.stdout.strip()


def test_a_file_that_moves_a_buyer_placed_by_publication_falls_back(tmp_path: Path) -> None:
    """A buyer SIRENE does not place is placed where the consolidated rows of it mostly say:
    two new rows of the buyer published once in the file, in another département, move it,
    and every contract of it with it. The build says so and is complete."""
    import csv

    with TABULAR.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    buyer = "21330104700014"
    (row,) = [r for r in rows if r["acheteur_id"] == buyer]  # published once in the file
    assert (row["acheteur_departement_code"], row["acheteur_region_code"]) == ("33", "75")
    moved = _two_copies(tmp_path / "flux" / "decp-deplacement.csv", row, "D",
                        acheteur_departement_code="35", acheteur_region_code="53")
    twins = Twins(tmp_path)
    twins.ingest(REFS, TABULAR)
    twins.build_and_compare()
    twins.ingest(moved)
    summary = build(twins.incremental)
    build(twins.complete, complete=True)
    assert summary.mode == "complet" and "lieu de 1 acheteur" in summary.mode_reason
    assert differences(twins.incremental.warehouse_path, twins.complete.warehouse_path) == {}
    con = duckdb.connect(str(twins.incremental.warehouse_path), read_only=True)
    try:
        assert con.execute("SELECT departement_code, location_source FROM buyers "
                           "WHERE buyer_siret = ?", [buyer]).fetchall() == [("35", "publication")]
    finally:
        con.close()


def test_rows_that_publish_the_places_of_their_buyer_and_holder_stay_incremental(
        tmp_path: Path) -> None:
    """New consolidated rows of a buyer and a holder that SIRENE does not place, publishing
    the places they already have: the incremental build reads the places every record of
    theirs publishes (the few source records that publish one), finds them unchanged, and
    equals the complete build."""
    import csv

    twins = Twins(tmp_path)
    twins.ingest(REFS, TABULAR)
    twins.build_and_compare()
    con = duckdb.connect(str(twins.incremental.warehouse_path), read_only=True)
    try:
        buyers = {b: (d, r) for b, d, r in con.execute(
            "SELECT buyer_siret, departement_code, region_code FROM buyers "
            "WHERE location_source = 'publication'").fetchall()}
        holders = {h: (d, r) for h, d, r in con.execute(
            "SELECT holder_id, departement_code, region_code FROM suppliers "
            "WHERE location_source = 'publication' AND id_type = 'SIRET'").fetchall()}
    finally:
        con.close()
    with TABULAR.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # a row publishing where its buyer and its holder already are, both placed by publication
    row = next(r for r in rows
               if buyers.get(r["acheteur_id"]) == (r["acheteur_departement_code"],
                                                    r["acheteur_region_code"])
               and holders.get(r["titulaire_id"]) == (r["titulaire_departement_code"],
                                                      r["titulaire_region_code"]))
    again = _two_copies(tmp_path / "flux" / "decp-memes-lieux.csv", row, "L")
    twins.ingest(again)
    assert twins.build_and_compare() == "incremental"


def _marches(path: Path, period: str) -> int:
    """Contracts (« marchés ») of a year the results count (``marches-pme``'s population)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("""SELECT record_count FROM indicator_results
            WHERE indicator_id = 'marches-pme' AND breakdown = 'total' AND period = ?""",
                           [period]).fetchall()
    finally:
        con.close()
    return int(rows[0][0]) if rows else 0


def test_indicators_patched_when_contracts_change_cells(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A new version of a file moves one contract to another year, raises another's amount
    above the EU thresholds and drops a third: the indicator step patches its facts and
    results (it does not fall back to computing them whole) and they equal a complete build's,
    the old year one contract fewer, the new year one more."""
    buyer = "13001845000028"
    twins = Twins(tmp_path)
    platform = tmp_path / "platform" / "decp.json"
    platform.parent.mkdir()
    shutil.copyfile(GIP, platform)
    twins.ingest(REFS, platform, V1 / "data.gouv.fr_pes.json")
    assert twins.build_and_compare() == "complet"
    before = {p: _marches(twins.complete.warehouse_path, p) for p in ("2019", "2021", "2017")}
    data = _gip()
    records = data["marches"]["marche"]
    moved = next(r for r in records if r["dateNotification"].startswith("2019"))
    moved["dateNotification"] = "2021-03-15"
    raised = next(r for r in records if r["dateNotification"].startswith("2023"))
    raised["montant"] = 9_000_000.0  # above the works and the supplies thresholds
    gone = records.pop(next(i for i, r in enumerate(records)
                            if r["dateNotification"].startswith("2017")))
    platform.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    twins.ingest(platform)
    with caplog.at_level("INFO", logger="observatoire.indicators.service"):
        assert twins.build_and_compare() == "incremental"
    assert not [r for r in caplog.records if "en entier" in r.getMessage()]
    path = twins.incremental.warehouse_path
    assert {p: _marches(path, p) for p in before} == {
        "2019": before["2019"] - 1, "2021": before["2021"] + 1, "2017": before["2017"] - 1}
    con = duckdb.connect(str(path), read_only=True)
    try:
        facts = dict(con.execute(
            "SELECT uid, (period_year, above_eu_threshold) FROM indicator_contracts "
            "WHERE uid IN (?, ?, ?)",
            [buyer + moved["id"], buyer + raised["id"], buyer + gone["id"]]).fetchall())
    finally:
        con.close()
    assert facts == {buyer + moved["id"]: (2021, facts[buyer + moved["id"]][1]),
                     buyer + raised["id"]: (2023, True)}


def _result(path: Path, indicator: str, breakdown: str, value: str | None,
            period: str) -> float | None:
    """The numerator of a result of the whole warehouse (count, distinct or ratio basis)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("""SELECT numerator FROM indicator_results WHERE indicator_id = ?
            AND breakdown = ? AND breakdown_value IS NOT DISTINCT FROM ? AND period = ?
            AND basis IN ('count', 'distinct')""", [indicator, breakdown, value, period]).fetchall()
    finally:
        con.close()
    return rows[0][0] if rows else None


def test_indicators_patched_for_a_new_holder_and_a_contract_that_changed_division(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A new version of a file adds a contract of 2019 whose holder no other contract has, and
    gives another contract of 2019 a works CPV and another amount: the indicator step patches
    the kept groups with the changed fact rows (the distinct holders counted again, the
    contract counted in its new CPV division) and every table equals a complete build's."""
    twins = Twins(tmp_path)
    platform = tmp_path / "platform" / "decp.json"
    platform.parent.mkdir()
    shutil.copyfile(GIP, platform)
    twins.ingest(REFS, platform, V1 / "data.gouv.fr_pes.json")
    assert twins.build_and_compare() == "complet"
    before = twins.complete.warehouse_path
    holders = _result(before, "titulaires-distincts", "total", None, "2019")
    works = _result(before, "marches-notifies", "cpv_division", "45", "2019") or 0
    contracts = _result(before, "marches-notifies", "total", None, "2019")
    assert holders and contracts
    data = _gip()
    records = data["marches"]["marche"]
    of_2019 = [r for r in records if r["dateNotification"].startswith("2019")
               and not r.get("codeCPV", "").startswith("45")]
    added = json.loads(json.dumps(of_2019[0]))
    added["id"] = "NOUVEAU2019"
    # a SIRET (Luhn-valid) of a company no contract names
    added["titulaires"] = [{"titulaire": {"typeIdentifiant": "SIRET", "id": "90000000100017"}}]
    records.append(added)
    of_2019[1]["codeCPV"], of_2019[1]["montant"] = "45210000", 1_234_567.0
    platform.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    twins.ingest(platform)
    with caplog.at_level("INFO", logger="observatoire.indicators"):
        assert twins.build_and_compare() == "incremental"
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "en entier" in m]
    assert ("Indicateurs mis à jour par les lignes de faits changées : contract, holder, "
            "record.") in messages
    after = twins.incremental.warehouse_path
    assert _result(after, "titulaires-distincts", "total", None, "2019") == holders + 1
    assert _result(after, "marches-notifies", "cpv_division", "45", "2019") == works + 1
    assert _result(after, "marches-notifies", "total", None, "2019") == contracts + 1


def test_indicators_computed_whole_below_the_patch_threshold(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Below the threshold of contract fact rows, an incremental build computes the indicator
    step whole (faster there) and says so with the count it read; the tables equal a complete
    build's."""
    twins = Twins(tmp_path, patch_min_contracts=1_000_000)
    twins.ingest(REFS, GIP)
    assert twins.build_and_compare() == "complet"
    con = duckdb.connect(str(twins.complete.warehouse_path), read_only=True)
    try:
        contracts = con.execute("SELECT count(*) FROM indicator_contracts").fetchall()[0][0]
    finally:
        con.close()
    twins.ingest(V1 / "data.gouv.fr_pes.json")
    with caplog.at_level("INFO", logger="observatoire.indicators.service"):
        assert twins.build_and_compare() == "incremental"
    assert [r.getMessage() for r in caplog.records if "en entier" in r.getMessage()] == [
        f"Indicateurs calculés en entier : {number(contracts)} marchés, moins que le seuil de "
        f"1\u202f000\u202f000 (OBSERVATOIRE_INDICATORS_PATCH_MIN_CONTRACTS) sous lequel le "
        "calcul entier est plus rapide."]


def test_indicators_of_a_profile_with_directorates_and_named_buyers(tmp_path: Path) -> None:
    """The Bretagne profile names its buyers (the mandate breakdown, a scope) and its
    directorates (the records' directorate comes from their findings): the patched indicator
    tables equal a complete build's there too."""
    twins = Twins(tmp_path, profile="region-bretagne")
    twins.ingest(REFS, TABULAR, V1 / "data.gouv.fr_aife.json")
    twins.build_and_compare()
    twins.ingest(V1 / "data.gouv.fr_pes.json", V1 / "e-marchespublics.json")
    assert twins.build_and_compare() == "incremental"


def _payments_warehouse() -> duckdb.DuckDBPyConnection:
    """The tables the payments' checks read, with one paying buyer, one paid contract, and one
    finance contract of the buyer 12345 (a buyer id shorter than a SIRET)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE payments (buyer_id VARCHAR, contract_uid VARCHAR, "
                "supplier_siret VARCHAR)")
    con.execute("INSERT INTO payments VALUES ('59920013600241', '59920013600241C1', "
                "'11111111100011'), (NULL, NULL, NULL)")
    con.execute("CREATE TABLE finance_contracts (buyer_id VARCHAR, decp_uid VARCHAR)")
    con.execute("INSERT INTO finance_contracts VALUES ('12345', NULL)")
    con.execute("CREATE TABLE contract_payments (contract_uid VARCHAR)")
    con.execute("INSERT INTO contract_payments VALUES ('59920013600241C1')")
    con.execute("CREATE TABLE contracts (uid VARCHAR, buyer_siret VARCHAR, "
                "consultation_uid VARCHAR, directorate_id VARCHAR)")
    con.execute("INSERT INTO contracts VALUES ('59920013600241C1', '59920013600241', "
                "'59920013600241C1', 'D1'), ('13001845000028X', '13001845000028', "
                "'13001845000028X', NULL)")
    con.execute("CREATE TABLE contract_holders (uid VARCHAR, supplier_key VARCHAR)")
    con.execute("INSERT INTO contract_holders VALUES ('59920013600241C1', 'SIRET:222')")
    for table in ("patched_contracts_work (uid VARCHAR, buyer_siret VARCHAR, "
                  "consultation_uid VARCHAR)", "patched_buyers_work (buyer_siret VARCHAR)",
                  "patched_suppliers_work (supplier_key VARCHAR, siret VARCHAR)"):
        con.execute(f"CREATE TEMP TABLE {table}")
    return con


@pytest.mark.parametrize(("patched", "kept"), [
    (("13001845000028Y", "13001845000028", "13001845000028Y"), True),  # another buyer
    (("13001845000028Y", "59920013600241", "13001845000028Y"), False),  # the paying buyer's
    # a consultation uid a payment's "buyer id || contract number" may equal
    (("1234X", "99999999999999", "12345ABC"), False),
    (("59920013600241C1", None, None), False),  # a paid contract's holders
])
def test_the_payments_model_is_kept_unless_a_patched_contract_is_one_it_reads(
        patched: tuple[str, str | None, str | None], kept: bool) -> None:
    from observatoire.model import payments_increment

    con = _payments_warehouse()
    con.execute("INSERT INTO patched_contracts_work VALUES (?, ?, ?)", list(patched))
    assert payments_increment.model_kept(con, []) is kept


def test_the_payment_indicators_are_kept_unless_their_buyers_holders_or_directorates_moved(
        ) -> None:
    from observatoire.model import payments_increment

    con = _payments_warehouse()
    assert payments_increment.model_kept(con, []) is True
    assert payments_increment.indicators_kept(con) is True
    con.execute("UPDATE contracts SET directorate_id = 'D2' WHERE uid = '59920013600241C1'")
    assert payments_increment.indicators_kept(con) is False
    con.execute("UPDATE contracts SET directorate_id = 'D1' WHERE uid = '59920013600241C1'")
    con.execute("INSERT INTO patched_suppliers_work VALUES ('SIRET:222', '222')")  # a holder
    assert payments_increment.indicators_kept(con) is False
    con.execute("DELETE FROM patched_suppliers_work")
    con.execute("INSERT INTO patched_suppliers_work VALUES ('SIRET:333', '11111111100011')")
    assert payments_increment.indicators_kept(con) is False  # a supplier a payment names
    con.execute("DELETE FROM patched_suppliers_work")
    con.execute("INSERT INTO patched_buyers_work VALUES ('59920013600241')")
    assert payments_increment.indicators_kept(con) is False
    con.execute("DELETE FROM patched_buyers_work")
    assert payments_increment.indicators_kept(con) is True


def test_the_quality_flows_use_the_replaced_findings_unless_a_replaced_correction_reaches_others(
        ) -> None:
    from observatoire.quality import history

    con = duckdb.connect()
    con.execute("CREATE TABLE findings (record_key VARCHAR, uid VARCHAR)")
    con.execute("INSERT INTO findings VALUES ('f#1', 'U1'), ('f#2', 'U2'), ('f#3', NULL)")
    assert history._patched(con) is False  # a complete build: no patch
    con.execute(f"CREATE TEMP TABLE {history.PATCHED_RECORDS} AS SELECT 'f#1' AS record_key")
    con.execute(f"CREATE TEMP TABLE {history.PATCHED_CORRECTIONS} AS SELECT 'U1' AS uid")
    assert history._patched(con) is True
    # a replaced correction of a contract with a finding the patch left
    con.execute(f"INSERT INTO {history.PATCHED_CORRECTIONS} VALUES ('U2'), (NULL)")
    assert history._patched(con) is False


def _two_copies(path: Path, row: dict[str, str], tag: str, **changes: str) -> Path:
    """A tabular DECP file at ``path`` of two copies of ``row`` under new ids (``tag`` + 1, 2),
    with ``changes``."""
    import csv

    path.parent.mkdir()
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        writer.writeheader()
        for n in (1, 2):
            writer.writerow({**row, "id": f"{row['id']}{tag}{n}", "uid": f"{row['uid']}{tag}{n}",
                             **changes})
    return path
