"""Corrections on lots: a contract of a reused or placeholder id, whose uid is the published uid,
« ~ » and a digest of its published content (docs/architecture.md, "Identity and merging").

Real builds on the cuts of Dematis' `v1/e-marchespublics.json` (tests/fixtures/identity/README.md):
buyer 21040049500011, id 20181101 (12 lots under one id) and id « 0 » (two lots, the first
published twice). Expected values are read from the fixture with the standard library.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire.build import BuildSummary, build
from observatoire.connectors.ingest import ingest
from tests.conftest import AppDb, make_account, signed_in

pytestmark = pytest.mark.appdb

FIXTURES = Path(__file__).parent / "fixtures" / "identity"
BUYER = "21040049500011"
CONSULTATION = BUYER + "20181101"  # the published uid the 12 lots share
PLACEHOLDER = BUYER + "0"  # id « 0 »: two lots, the first one published twice
LOT_AMOUNT = 34973  # the first lot of 20181101 in the file (holder 50283891500010)
CORRECTED = 35973


def _published(name: str = "dematis_reused_ids.json") -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(
        (FIXTURES / name).read_text(encoding="utf-8"))["marches"]
    return records


def _lots(records: list[dict[str, Any]], contract_id: str = "20181101") -> list[dict[str, Any]]:
    return [r for r in records if (r["acheteur"]["id"], r["id"]) == (BUYER, contract_id)]


class Home:
    """A data home of the two fixture files; the lots' file can be published again."""

    def __init__(self, root: Path, appdb: AppDb) -> None:
        self.settings = appdb.settings(root / "home")
        self.file = root / "platform" / "dematis.json"
        self.file.parent.mkdir(parents=True)
        shutil.copyfile(FIXTURES / "dematis_reused_ids.json", self.file)
        ingest(self.settings, [self.file, FIXTURES / "dematis_placeholder_ids.json"])

    def publish(self, records: list[dict[str, Any]]) -> None:
        """A new version of the platform's file, at the same path, ingested."""
        self.file.write_text(json.dumps({"marches": records}, ensure_ascii=False, indent=1),
                             encoding="utf-8")
        ingest(self.settings, [self.file])

    def build(self) -> BuildSummary:
        return build(self.settings)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        con = duckdb.connect(str(self.settings.warehouse_path), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def value(self, sql: str, params: list[Any] | None = None) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def lots(self, consultation: str = CONSULTATION) -> dict[str, float]:
        """uid → amount of the contracts of a published uid."""
        return dict(self.rows("SELECT uid, amount FROM contracts WHERE consultation_uid = ?",
                              [consultation]))  # type: ignore[arg-type]

    def uid_of(self, amount: float, consultation: str = CONSULTATION) -> str:
        uids = [u for u, a in self.lots(consultation).items() if a == amount]
        assert len(uids) == 1, (amount, uids)
        return uids[0]


@pytest.fixture
def home(tmp_path: Path, application_database: AppDb, no_corrections: None) -> Home:
    return Home(tmp_path, application_database)


@pytest.fixture
def steward() -> Any:
    return make_account("steward-lots", "gestionnaire", "acheteur:210400495").user


def _correct(user: Any, uid: str, **kwargs: Any) -> Any:
    from observatoire.stewardship.services import correct

    return correct(user, uid=uid, buyer_siret=BUYER, reason="Montant de l'acte d'engagement",
                   based_on=None, **kwargs)


def test_the_fixture_holds_twelve_lots_under_one_id() -> None:
    lots = _lots(_published())
    assert len(lots) == 12
    assert len({r["montant"] for r in lots}) == 12
    assert [r["montant"] for r in lots].count(LOT_AMOUNT) == 1
    assert CORRECTED not in {r["montant"] for r in lots}


def test_correcting_one_lots_amount_changes_that_lot_only_and_keeps_its_uid(
        home: Home, steward: Any) -> None:
    published = {float(r["montant"]) for r in _lots(_published())}
    home.build()
    before = home.lots()
    assert sorted(before.values()) == sorted(published)
    lot = home.uid_of(LOT_AMOUNT)
    assert lot.startswith(CONSULTATION + "~")
    correction = _correct(steward, lot, action="set_value", field="montant",
                          source_value=str(LOT_AMOUNT), new_value=str(CORRECTED))
    summary = home.build()
    assert summary.stale_corrections == 0
    after = home.lots()
    # the same 12 uids; the corrected lot has the new amount, the 11 others their own
    assert set(after) == set(before)
    assert after[lot] == CORRECTED
    assert {u: a for u, a in after.items() if u != lot} == {
        u: a for u, a in before.items() if u != lot}
    assert sorted(after.values()) == sorted(published - {LOT_AMOUNT} | {CORRECTED})
    assert home.value("SELECT amount FROM contract_versions WHERE uid = ? "
                      "AND version = 0", [lot]) == CORRECTED
    # the published value stays beside the corrected one, on that lot's record only
    assert home.rows("SELECT raw_amount FROM source_records WHERE uid = ?", [lot]) == [
        (str(LOT_AMOUNT),)]
    assert home.rows("SELECT uid, status, source_value, corrected_value FROM corrections_applied"
                     ) == [(lot, "applied", str(LOT_AMOUNT), str(CORRECTED))]
    assert home.rows("SELECT uid FROM contracts WHERE len(corrected_fields) > 0") == [(lot,)]
    correction.refresh_from_db()
    assert correction.status == "active"


def test_excluding_one_lot_sets_aside_its_records_only(home: Home, steward: Any) -> None:
    lots = _lots(_published())
    excluded_amount = max(r["montant"] for r in lots)
    home.build()
    before = home.lots()
    lot = home.uid_of(excluded_amount)
    _correct(steward, lot, action="exclude")
    home.build()
    after = home.lots()
    assert set(after) == set(before) - {lot}
    assert after == {u: a for u, a in before.items() if u != lot}
    # one record set aside, by the steward; the 11 other records of the consultation kept
    statuses = home.rows("""SELECT raw_amount, status, reasons FROM source_records
                            WHERE consultation_uid = ? ORDER BY raw_amount""", [CONSULTATION])
    assert sorted(statuses) == sorted(
        (str(r["montant"]), "set_aside", ["EXCLUDED_BY_STEWARD"]) if r["montant"] == excluded_amount
        else (str(r["montant"]), "kept", []) for r in lots)
    assert home.value("SELECT bool_and(balanced) FROM reconciliation") is True
    assert home.value("SELECT status FROM corrections_applied") == "applied"


def test_a_new_version_changing_the_corrected_lots_amount_makes_the_correction_stale(
        home: Home, steward: Any) -> None:
    home.build()
    lot = home.uid_of(LOT_AMOUNT)
    correction = _correct(steward, lot, action="set_value", field="montant",
                          source_value=str(LOT_AMOUNT), new_value=str(CORRECTED))
    home.build()
    assert home.lots()[lot] == CORRECTED
    others = {u: a for u, a in home.lots().items() if u != lot}
    # the buyer fixes the amount at the source
    records = _published()
    fixed = next(r for r in _lots(records) if r["montant"] == LOT_AMOUNT)
    fixed["montant"] = 36000
    home.publish(records)
    summary = home.build()
    assert summary.stale_corrections == 1
    assert home.rows("SELECT status, stale_reason FROM corrections_applied") == [
        ("stale", "source_changed")]
    correction.refresh_from_db()
    assert correction.status == "stale"
    # nothing wins silently: the published amount is used, in a lot of its own content
    after = home.lots()
    assert len(after) == 12
    assert lot not in after
    assert CORRECTED not in after.values()
    assert {u: a for u, a in after.items() if a != 36000} == others


def test_a_correction_on_a_placeholder_id_contract_reaches_its_records_only(
        home: Home, steward: Any) -> None:
    first, second, again = _lots(_published("dematis_placeholder_ids.json"), "0")
    assert first == again  # one contract published twice, and another one
    home.build()
    before = home.lots(PLACEHOLDER)
    assert sorted(before.values()) == sorted([first["montant"], second["montant"]])
    contract = home.uid_of(first["montant"], PLACEHOLDER)
    _correct(steward, contract, action="set_value", field="montant",
             source_value=str(first["montant"]), new_value=str(first["montant"] + 10))
    home.build()
    after = home.lots(PLACEHOLDER)
    assert after == {**before, contract: first["montant"] + 10}
    # both records of the contract carry the correction, the other contract none
    assert home.rows("""SELECT uid, raw_amount, count(*) FROM source_records
                        WHERE consultation_uid = ? GROUP BY ALL ORDER BY raw_amount""",
                     [PLACEHOLDER]) == sorted([(contract, str(first["montant"]), 2),
                                               (home.uid_of(second["montant"], PLACEHOLDER),
                                                str(second["montant"]), 1)],
                                              key=lambda row: row[1])
    assert home.value("SELECT record_count FROM contracts WHERE uid = ?", [contract]) == 2


def test_a_lot_is_corrected_from_its_page_then_published(
        home: Home, steward: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    home.build()
    monkeypatch.setenv("OBSERVATOIRE_HOME", str(home.settings.home))
    monkeypatch.setenv("OBSERVATOIRE_PROFILE", home.settings.profile)
    lot = home.uid_of(LOT_AMOUNT)
    client = signed_in(steward)
    form = client.get(f"/gestion/marches/{lot}/?champ=montant").content.decode("utf-8")
    assert f"Valeur publiée : « {LOT_AMOUNT} »" in form
    saved = client.post(f"/gestion/marches/{lot}/corriger/", {
        "action": "set_value", "champ": "montant", "valeur": str(CORRECTED),
        "motif": "Montant de l'acte d'engagement", "base": ""})
    assert saved.status_code == 302
    home.build()
    public = signed_in().get(f"/marches/{lot}.json")
    data = json.loads(public.content.decode("utf-8"))
    assert [(c["source_value"], c["corrected_value"]) for c in data["corrections"]] == [
        (str(LOT_AMOUNT), str(CORRECTED))]


def test_the_sibling_of_an_excluded_lot_keeps_its_uid(home: Home, steward: Any) -> None:
    """Buyer 39159607900023, id 201907201832500: two lots (20,000 € and 200,000 €, one holder,
    one day). Once one is excluded the other is alone under the id, yet it stays the lot it
    was: its uid comes from the published records, not from those the stewards kept."""
    consultation = "39159607900023201907201832500"
    amounts = sorted(r["montant"] for r in _published()
                     if (r["acheteur"]["id"], r["id"]) == ("39159607900023", "201907201832500"))
    assert amounts == [20000, 200000]
    home.build()
    before = home.lots(consultation)
    assert sorted(before.values()) == amounts
    _correct(steward, home.uid_of(20000, consultation), action="exclude")
    home.build()
    kept = home.uid_of(200000, consultation)
    assert home.lots(consultation) == {kept: 200000}
    assert kept in before


def test_a_correction_on_the_published_uid_of_lots_reaches_no_lot(
        home: Home, steward: Any) -> None:
    """A correction saved on the published uid before its lots were told apart: no contract
    has that uid any more, so it applies to none of them and comes back for review."""
    home.build()
    before = home.lots()
    _correct(steward, CONSULTATION, action="set_value", field="montant",
             source_value=str(LOT_AMOUNT), new_value=str(CORRECTED))
    summary = home.build()
    assert summary.stale_corrections == 1
    assert home.rows("SELECT status, stale_reason FROM corrections_applied") == [
        ("stale", "contract_missing")]
    assert home.lots() == before
