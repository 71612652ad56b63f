"""Corrections (redressements) through real builds: they survive re-ingestion and rebuilds, go
stale when the source changes the value they were made on, can be reverted, never lose a
concurrent change silently, and leave a complete audit trail.

The data is a real demo file (GIP Maximilien, DECP 2024); expected values are read from the
file itself with the standard library.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire.build import BuildSummary, build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from observatoire.errors import ConfigError
from tests.conftest import DEMO, AppDb, Warehouse, make_account

SOURCE = DEMO / "decp" / "v2" / "gip-maximilien_decp-13001845000028-2024-10-06-01.json"
BUYER = "13001845000028"
ZERO_AMOUNT = "D2F2020S0757302"  # published with montant 0.0 (AMOUNT_ZERO)
UID = BUYER + ZERO_AMOUNT
OTHER = "D2F2021S0392902"


def _published() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SOURCE.read_text(encoding="utf-8"))
    return data


def _record(data: dict[str, Any], contract_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in data["marches"]["marche"] if r["id"] == contract_id)
    return found


class Home:
    """A data home whose single source file can be published again in new versions."""

    def __init__(self, root: Path, appdb: AppDb) -> None:
        self.settings: Settings = appdb.settings(root / "home")
        self.file = root / "platform" / "decp.json"
        self.file.parent.mkdir(parents=True)
        shutil.copyfile(SOURCE, self.file)
        ingest(self.settings, [self.file])

    def publish(self, data: dict[str, Any]) -> None:
        """A new version of the platform's file, at the same path, ingested."""
        self.file.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        ingest(self.settings, [self.file])

    def build(self) -> BuildSummary:
        return build(self.settings)

    def value(self, sql: str, params: list[Any] | None = None) -> Any:
        con = duckdb.connect(str(self.settings.warehouse_path), read_only=True)
        try:
            row = con.execute(sql, params or []).fetchone()
        finally:
            con.close()
        return row[0] if row else None

    def amount(self, uid: str = UID) -> Any:
        return self.value("SELECT amount_initial FROM contracts WHERE uid = ?", [uid])


@pytest.fixture
def home(tmp_path: Path, application_database: AppDb, no_corrections: None) -> Home:
    return Home(tmp_path, application_database)


@pytest.fixture
def steward() -> Any:
    return make_account("steward-build", "gestionnaire", "acheteur:130018450").user


def _correct_amount(user: Any, value: str, based_on: int | None = None, source: str = "0.0",
                    reason: str = "Montant de l'acte d'engagement") -> Any:
    from observatoire.stewardship.services import correct

    return correct(user, uid=UID, buyer_siret=BUYER, action="set_value", field="montant",
                   source_value=source, new_value=value, reason=reason, based_on=based_on)


def test_the_source_value_is_what_the_file_says() -> None:
    # The correction below is made on the value the file publishes: 0.0.
    assert _record(_published(), ZERO_AMOUNT)["montant"] == 0.0


@pytest.mark.appdb
def test_a_correction_survives_reingestion_and_rebuilds(home: Home, steward: Any) -> None:
    home.build()
    assert home.amount() is None  # 0 is not a usable amount
    correction = _correct_amount(steward, "48 500")
    assert correction.new_value == "48500"
    summary = home.build()
    assert home.amount() == 48500.0
    assert home.value("SELECT corrected_fields FROM contracts WHERE uid = ?", [UID]) == ["montant"]
    # the published value stays beside the corrected one
    assert home.value("SELECT raw_amount FROM source_records WHERE uid = ?", [UID]) == "0.0"
    assert home.value("""SELECT source_value || ' -> ' || corrected_value || ' ' || status
                         FROM corrections_applied WHERE correction_id = ?""",
                      [correction.pk]) == "0.0 -> 48500 applied"
    assert home.value("SELECT count(*) FROM findings WHERE uid = ? AND rule_id = 'AMOUNT_ZERO'",
                      [UID]) == 0
    assert summary.stale_corrections == 0

    # A new version of the file, which changes another contract, supersedes the first one.
    data = _published()
    _record(data, OTHER)["objet"] = "Objet republié par la plateforme"
    home.publish(data)
    home.build()
    assert home.value("SELECT count(*) FROM loads WHERE superseded_by IS NOT NULL") == 1
    assert home.value("SELECT object FROM contracts WHERE uid = ?", [BUYER + OTHER]) == (
        "Objet republié par la plateforme")
    assert home.amount() == 48500.0
    home.build()  # and once more, nothing new
    assert home.amount() == 48500.0
    correction.refresh_from_db()
    assert correction.status == "active"


@pytest.mark.appdb
def test_a_changed_source_value_makes_the_correction_stale(home: Home, steward: Any) -> None:
    from observatoire.stewardship.models import AuditEvent

    correction = _correct_amount(steward, "48500")
    home.build()
    assert home.amount() == 48500.0
    data = _published()
    _record(data, ZERO_AMOUNT)["montant"] = 51234.5  # the buyer fixed it at the source
    home.publish(data)
    summary = home.build()
    assert summary.stale_corrections == 1
    # the correction neither wins nor disappears: the source value is used and it is flagged
    assert home.amount() == 51234.5
    assert home.value("""SELECT status || ' ' || stale_reason FROM corrections_applied
                         WHERE correction_id = ?""", [correction.pk]) == "stale source_changed"
    assert home.value("SELECT current_source_values FROM corrections_applied "
                      "WHERE correction_id = ?", [correction.pk]) == ["51234.5"]
    correction.refresh_from_db()
    assert correction.status == "stale"
    events = AuditEvent.objects.filter(object_type="correction", object_id=str(correction.pk),
                                       action="correction_stale")
    assert events.count() == 1
    assert events[0].actor_name == f"construction {summary.build_id}"
    # a later build does not apply it again, and does not flag it twice
    home.build()
    assert home.amount() == 51234.5
    assert events.count() == 1
    # reviewed: the steward confirms a value on top of the new source value
    confirmed = _correct_amount(steward, "48500", based_on=correction.pk, source="51234.5",
                                reason="La source se trompe encore : acte d'engagement")
    correction.refresh_from_db()
    assert (correction.status, confirmed.supersedes_id) == ("superseded", correction.pk)
    home.build()
    assert home.amount() == 48500.0


@pytest.mark.appdb
def test_a_revert_restores_the_source_value(home: Home, steward: Any) -> None:
    from observatoire.stewardship.models import Correction
    from observatoire.stewardship.services import revert

    correction = _correct_amount(steward, "48500")
    home.build()
    assert home.amount() == 48500.0
    revert(steward, correction, "Erreur de saisie")
    home.build()
    assert home.amount() is None
    assert home.value("SELECT raw_amount FROM contracts c JOIN source_records s "
                      "ON s.record_key = c.primary_record_key WHERE c.uid = ?", [UID]) == "0.0"
    assert home.value("SELECT count(*) FROM findings WHERE uid = ? AND rule_id = 'AMOUNT_ZERO'",
                      [UID]) == 1
    assert home.value("SELECT count(*) FROM corrections_applied") == 0
    assert home.value("SELECT corrected_fields FROM contracts WHERE uid = ?", [UID]) == []
    # nothing is deleted: the correction is kept, reverted, with who and why
    kept = Correction.objects.get(pk=correction.pk)
    assert (kept.status, kept.closed_by_name, kept.closed_reason) == (
        "reverted", "steward-build", "Erreur de saisie")


@pytest.mark.appdb
def test_two_stewards_on_the_same_field_lose_nothing_silently(
    application_database: AppDb, no_corrections: None, steward: Any
) -> None:
    from django.db import IntegrityError, transaction

    from observatoire.stewardship.models import Correction
    from observatoire.stewardship.services import Conflict

    other = make_account("steward-build-2", "gestionnaire", "acheteur:130018450").user
    # both opened the page when no correction existed (based on: none)
    first = _correct_amount(steward, "48500")
    with pytest.raises(Conflict) as refused:
        _correct_amount(other, "49000")
    assert "steward-build" in refused.value.message and "48500" in refused.value.message
    assert refused.value.other is not None and refused.value.other.pk == first.pk
    # having read the first change, the second steward saves on top of it
    second = _correct_amount(other, "49000", based_on=first.pk)
    first.refresh_from_db()
    assert (first.status, second.status, second.supersedes_id) == (
        "superseded", "active", first.pk)
    # a save based on the superseded one is refused too
    with pytest.raises(Conflict):
        _correct_amount(steward, "50000", based_on=first.pk)
    # and the database itself refuses two corrections in force on one field
    with pytest.raises(IntegrityError), transaction.atomic():
        Correction.objects.create(uid=UID, buyer_siret=BUYER, action="set_value",
                                  field="montant", source_value="0.0", new_value="1",
                                  reason="x", author=steward, author_name="x")
    assert Correction.objects.filter(uid=UID, status__in=["active", "stale"]).count() == 1


@pytest.mark.appdb
def test_the_audit_trail_holds_every_step_and_cannot_be_changed(
    home: Home, steward: Any, application_database: AppDb
) -> None:
    from django.db import DatabaseError, connection, transaction

    from observatoire.stewardship.models import AuditEvent
    from observatoire.stewardship.services import revert

    start = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    first = _correct_amount(steward, "48500")
    second = _correct_amount(steward, "48600", based_on=first.pk, reason="Avenant oublié")
    home.build()
    data = _published()
    _record(data, ZERO_AMOUNT)["montant"] = 1000.0
    home.publish(data)
    home.build()
    revert(steward, second, "Plus nécessaire")
    events = list(AuditEvent.objects.filter(id__gt=start).order_by("id"))
    steps = [(e.action, e.object_id) for e in events]
    assert steps == [
        ("correction_created", str(first.pk)),
        ("correction_created", str(second.pk)),
        ("correction_stale", str(second.pk)),
        ("correction_reverted", str(second.pk)),
    ]
    created = next(e for e in events if e.object_id == str(second.pk))
    assert created.details["supersedes"] == first.pk
    assert created.details["source_value"] == "0.0" and created.details["new_value"] == "48600"
    assert created.actor_name == "steward-build"
    # append-only, in the application and in the database
    with pytest.raises(PermissionError):
        created.save()
    with pytest.raises(PermissionError):
        created.delete()
    for sql in ("UPDATE stewardship_auditevent SET summary = 'effacé'",
                "DELETE FROM stewardship_auditevent"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)
    assert AuditEvent.objects.filter(id__gt=start).count() == len(events)


@pytest.mark.appdb
def test_exclusion_and_not_a_defect(home: Home, steward: Any) -> None:
    from observatoire.stewardship.services import correct

    excluded = BUYER + OTHER
    below = BUYER + "D2F2016F0000202"
    assert _record(_published(), "D2F2016F0000202")["montant"] == 1210.3
    home.build()
    kept = home.value("SELECT count(*) FROM contracts")
    correct(steward, uid=excluded, buyer_siret=BUYER, action="exclude",
            reason="Marché saisi deux fois", based_on=None)
    dismissed = correct(steward, uid=below, buyer_siret=BUYER, action="not_a_defect",
                        field="montant", rule_id="AMOUNT_BELOW_THRESHOLD", source_value="1210.3",
                        reason="Achat de fournitures de faible montant", based_on=None)
    home.build()
    assert home.value("SELECT count(*) FROM contracts") == kept - 1
    assert home.value("SELECT status || ' ' || list_contains(reasons, 'EXCLUDED_BY_STEWARD') "
                      "FROM source_records WHERE uid = ?", [excluded]) == "set_aside true"
    assert home.value("SELECT bool_and(balanced) FROM reconciliation") is True
    assert home.value("SELECT status FROM corrections_applied WHERE correction_id = ?",
                      [dismissed.pk]) == "applied"
    from observatoire.stewardship.permissions import Perimeter
    from observatoire.stewardship.queue import open_findings

    found = open_findings(home.settings, Perimeter(False, buyers=("130018450",)),
                          rule="AMOUNT_BELOW_THRESHOLD")
    assert below not in {f["uid"] for f in found["findings"]}
    total = home.value("SELECT count(*) FROM findings WHERE rule_id = 'AMOUNT_BELOW_THRESHOLD'")
    assert found["count"] == total - 1


def test_uid_of_raw_values_is_the_model_uid(demo_warehouse: Warehouse) -> None:
    # corrections are attached to the published uid computed from raw values: the model's
    # consultation_uid (a lot's uid adds a suffix to it)
    assert demo_warehouse.value("""SELECT count(*) FROM source_records
        WHERE consultation_uid IS DISTINCT FROM contract_uid(raw_id, raw_buyer_id)""") == 0
    assert demo_warehouse.value("SELECT count(*) FROM source_records WHERE uid IS NOT NULL") > 0


def test_an_unreachable_application_database_stops_the_build(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home",
                        database_url="postgresql://personne@127.0.0.1:1/observatoire")
    ingest(settings, [SOURCE])
    with pytest.raises(ConfigError) as error:
        build(settings)
    assert "ne répond pas" in error.value.message
    assert not settings.warehouse_path.exists()
