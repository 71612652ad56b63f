"""Indicator targets changed in the application: decided by an administrator on
``/gestion/cibles/``, applied at the next build on top of the profile's targets (statuses
follow), shown on the public indicator page, reverted back to the profile's, every step in the
audit trail. Real demo files (the two DECP 2024 files), the test application database."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest
from tests.conftest import (
    DEMO,
    AppDb,
    clear_corrections,
    make_account,
    signed_in,
    stewardship_home,
    warehouse_rows,
)

pytestmark = pytest.mark.appdb

INDICATOR = "consideration-sociale"  # D01; generic profile: ≥ 30 % by 31/12/2025 (PNAD)
REASON = "Jalon intermédiaire voté par l'assemblée en 2023"


# The generic profile with every value published: the two DECP 2024 files hold 2 and 5
# marchés a year, below the generic minimum sample, and this module tests how targets judge them.
SMALL_SAMPLES_PROFILE = """
extends = "generique"
id = "generique-petits-echantillons"
name = "Profil générique"

[parameters]
min_population = 1
"""


@pytest.fixture(scope="module")
def site(application_database: AppDb, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp("cibles-profil")
    (folder / "profile.toml").write_text(SMALL_SAMPLES_PROFILE, encoding="utf-8")
    with stewardship_home(application_database, tmp_path_factory.mktemp("cibles-home"),
                          profile=str(folder)) as home:
        yield home


@pytest.fixture(scope="module")
def accounts(site: Settings) -> dict[str, Any]:
    return {
        "administrateur": make_account("admin-cibles", "administrateur").user,
        "gestionnaire": make_account("gest-cibles", "gestionnaire", "acheteur:130018450").user,
        "lecteur": make_account("lecteur-cibles", "lecteur").user,
    }


def _text(response: Any) -> str:
    return str(response.content.decode("utf-8"))


def _result(settings: Settings, year: int) -> tuple[Any, ...]:
    rows = warehouse_rows(settings, """SELECT value, target_value, target_comparator, target_date,
                                      target_source, status
                               FROM indicator_results WHERE indicator_id = ? AND period = ?
                                 AND breakdown = 'total' AND basis = 'count'""",
                  [INDICATOR, str(year)])
    assert len(rows) == 1
    return tuple(rows[0])


def _by_hand(settings: Settings, year: int) -> float:
    """D01 recomputed from the contracts with plain SQL: the marchés notified that year with
    a social consideration, among those where the field is known."""
    (yes, known), = warehouse_rows(settings, """
        SELECT count(*) FILTER (WHERE has_social_consideration),
               count(*) FILTER (WHERE has_social_consideration IS NOT NULL)
        FROM contracts WHERE kind = 'marche' AND year(notification_date) = ?""", [year])
    assert known > 0
    return float(yes) / float(known)


def _status(value: float, target: float, comparator: str) -> str:
    """The status by hand, for a deadline that is the end of the period (no « on track »)."""
    reached = {">=": value >= target, ">": value > target, "<=": value <= target,
               "<": value < target}[comparator]
    return "met" if reached else "not_met"


def test_a_target_changed_in_the_application_changes_the_status_and_reverting_restores_it(
    site: Settings, accounts: dict[str, Any]
) -> None:
    from observatoire.stewardship.models import AuditEvent, TargetChange

    clear_corrections()
    build(site)
    v2023, v2024 = _by_hand(site, 2023), _by_hand(site, 2024)
    assert (v2023, v2024) == (0.0, 0.0)  # 0 of 2, 0 of 5: the demo's buyers declare none
    profile_2023 = _result(site, 2023)
    assert profile_2023[0] == pytest.approx(v2023)
    assert profile_2023[1:4] == (0.3, ">=", date(2025, 12, 31))
    assert "PNAD" in profile_2023[4]
    # 2023 ends before the 2025 deadline but the value did not progress since 2021 (0 %)
    assert profile_2023[5] == "not_met"

    admin = signed_in(accounts["administrateur"])
    posted = admin.post("/gestion/cibles/", {
        "indicateur": INDICATOR, "base": "count", "echeance": "2023-12-31",
        "action": "fixer", "comparateur": ">=", "valeur": "0", "motif": REASON,
        "source": "Délibération n° 23-0042"})
    assert posted.status_code == 302, _text(posted)
    change = TargetChange.objects.get(indicator_id=INDICATOR, status="active")
    assert (change.value, change.comparator, change.target_date) == (0.0, ">=",
                                                                     date(2023, 12, 31))
    # a decision applies at the next build, not before
    assert _result(site, 2023)[5] == "not_met"
    build(site)
    value, target, comparator, deadline, source, status = _result(site, 2023)
    assert value == pytest.approx(v2023)  # the value itself does not move
    assert (target, comparator, deadline) == (0.0, ">=", date(2023, 12, 31))
    assert status == _status(v2023, 0.0, ">=") == "met"
    assert source.startswith("Cible modifiée par les administrateurs de l'observatoire le ")
    assert REASON in source and "Délibération n° 23-0042" in source
    # the 2025 deadline of the profile still judges 2024
    assert _result(site, 2024)[1:4] == (0.3, ">=", date(2025, 12, 31))
    assert _result(site, 2024)[5] == "not_met"

    # the public page says the target was changed here, when and why, and the one before
    page = _text(signed_in().get(f"/indicateurs/{INDICATOR}/"))
    assert "modifiée dans l'application" in page and "Historique des cibles" in page
    assert REASON.replace("'", "&#x27;") in page
    assert "Plan national pour des achats durables" in page  # the profile's 2025 target
    twin = signed_in().get(f"/indicateurs/{INDICATOR}.json").json()
    assert [c["change_id"] for c in twin["changements_de_cibles"]] == [change.pk]
    assert twin["changements_de_cibles"][0]["previous_value"] is None  # a new deadline

    # a form shown before this change cannot silently replace it
    stale = admin.post("/gestion/cibles/", {
        "indicateur": INDICATOR, "base": "count", "echeance": "2023-12-31",
        "action": "fixer", "comparateur": ">=", "valeur": "10", "motif": "autre avis",
        "en_vigueur": ""})
    assert stale.status_code == 409 and "La cible a changé" in _text(stale)
    # the history of changes writes the target as the pages do (percent, French comma)
    assert "≥ 0,0\u00a0% (source : Délibération n° 23-0042)" in _text(
        admin.get("/gestion/cibles/"))

    # withdraw the profile's 2025 target: once every deadline has passed the last one holds,
    # so 2024 is now judged against the 2023 milestone set above
    assert admin.post("/gestion/cibles/", {
        "indicateur": INDICATOR, "base": "count", "echeance": "2025-12-31",
        "action": "retirer", "motif": "Cible nationale non reprise"}).status_code == 302
    withdrawal = TargetChange.objects.get(indicator_id=INDICATOR, action="withdraw")
    build(site)
    assert _result(site, 2024)[1:4] == (0.0, ">=", date(2023, 12, 31))
    assert _result(site, 2024)[5] == _status(v2024, 0.0, ">=") == "met"
    changes = warehouse_rows(site, """SELECT action, previous_value, previous_comparator
                              FROM indicator_target_changes WHERE change_id = ?""",
                     [withdrawal.pk])
    assert changes == [("withdraw", 0.3, ">=")]

    # revert both: the profile's target and statuses come back
    for c in (change, withdrawal):
        assert admin.post(f"/gestion/cibles/{c.pk}/annuler/",
                          {"motif": "Retour au profil"}).status_code == 302
    build(site)
    assert _result(site, 2023) == profile_2023
    assert _result(site, 2024)[1:4] == (0.3, ">=", date(2025, 12, 31))
    assert set(TargetChange.objects.filter(indicator_id=INDICATOR)
               .values_list("status", flat=True)) == {"reverted"}

    # every step in the audit trail, with its author and reason
    trail = list(AuditEvent.objects.filter(object_type="target_change").order_by("id")
                 .values_list("action", "actor_name", "object_id", "details"))
    steps = [(a, who, int(oid), d["reason"]) for a, who, oid, d in trail
             if int(oid) in (change.pk, withdrawal.pk)]
    assert steps == [
        ("target_set", "admin-cibles", change.pk, REASON),
        ("target_withdrawn", "admin-cibles", withdrawal.pk, "Cible nationale non reprise"),
        ("target_reverted", "admin-cibles", change.pk, "Retour au profil"),
        ("target_reverted", "admin-cibles", withdrawal.pk, "Retour au profil"),
    ]
    journal = _text(admin.get("/gestion/journal.csv"))
    assert "target_set" in journal and "target_reverted" in journal

    # the results history: the value never changed, the published status did, and back
    history = warehouse_rows(site, """SELECT status FROM indicator_history
                              WHERE indicator_id = ? AND period = '2023' AND basis = 'count'
                              ORDER BY build_id, recorded_at""", [INDICATOR])
    assert [s for (s,) in history][-2:] == ["met", "not_met"]
    values = warehouse_rows(site, """SELECT DISTINCT value FROM indicator_history
                             WHERE indicator_id = ? AND period = '2023' AND basis = 'count'""",
                    [INDICATOR])
    assert values == [(v2023,)]


def test_only_administrators_change_targets(site: Settings, accounts: dict[str, Any]) -> None:
    from observatoire.stewardship.models import TargetChange
    from observatoire.stewardship.services import change_target

    clear_corrections()
    form = {"indicateur": INDICATOR, "base": "count", "echeance": "2024-12-31",
            "action": "fixer", "comparateur": ">=", "valeur": "20", "motif": "essai"}
    for role in ("gestionnaire", "lecteur"):
        client = signed_in(accounts[role])
        page = client.get("/gestion/cibles/")
        assert page.status_code == 200
        assert "seul un administrateur les change" in _text(page)
        assert 'name="valeur"' not in _text(page)
        assert client.post("/gestion/cibles/", form).status_code == 403
    anonymous = signed_in().post("/gestion/cibles/", form)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/gestion/connexion/?next=")
    assert not TargetChange.objects.exists()

    admin = signed_in(accounts["administrateur"])
    page = admin.get(f"/gestion/cibles/?indicateur={INDICATOR}&base=count&echeance=2025-12-31")
    assert page.status_code == 200 and 'name="valeur"' in _text(page)
    for bad, why in (({"motif": ""}, "Le motif est obligatoire"),
                     ({"valeur": "120"}, "entre 0 et 100"),
                     ({"base": "value"}, "Base inconnue"),
                     ({"indicateur": "inconnu"}, "Indicateur inconnu"),
                     ({"echeance": "31/12/2024"}, "Date d'échéance invalide"),
                     ({"action": "retirer"}, "pas de cible à cette échéance")):
        response = admin.post("/gestion/cibles/", {**form, **bad})
        assert response.status_code == 400 and why in html.unescape(_text(response)), bad
    assert not TargetChange.objects.exists()

    # a steward may not revert either; the change stays in force
    from observatoire.indicators.profile import load_profile

    change = change_target(accounts["administrateur"], load_profile(site.profile),
                           indicator_id=INDICATOR, basis="count", target_date="2024-12-31",
                           action="set", value="20", comparator=">=", reason="essai",
                           based_on=None)
    assert signed_in(accounts["gestionnaire"]).post(
        f"/gestion/cibles/{change.pk}/annuler/", {"motif": "non"}).status_code == 403
    # the form needs Django's CSRF token
    strict = signed_in(accounts["administrateur"], enforce_csrf_checks=True)
    assert strict.post(f"/gestion/cibles/{change.pk}/annuler/",
                       {"motif": "sans jeton"}).status_code == 403
    change.refresh_from_db()
    assert change.status == "active"
    # markup typed by an administrator is escaped on the page
    change_target(accounts["administrateur"], load_profile(site.profile),
                  indicator_id=INDICATOR, basis="count", target_date="2024-12-31",
                  action="set", value="25", comparator=">=", reason="<script>x</script>",
                  based_on=change.pk)
    text = _text(admin.get("/gestion/cibles/"))
    assert "<script>x</script>" not in text and "&lt;script&gt;x&lt;/script&gt;" in text
    clear_corrections()


def test_targets_changed_in_the_profile_files_are_audited(
    application_database: AppDb, tmp_path: Any
) -> None:
    """Editing a target in the profile's TOML is a change by a person too: the next build
    records one event, actor « fichier du profil », with the old and new targets."""
    from observatoire.stewardship.models import AuditEvent

    folder = tmp_path / "profil-test"
    (folder / "indicators").mkdir(parents=True)
    (folder / "profile.toml").write_text(
        'extends = "generique"\nid = "profil-cibles-test"\nname = "Test"\n', encoding="utf-8")
    cibles = folder / "indicators" / "cibles.toml"

    def write(value: int) -> None:
        cibles.write_text(f"""[[indicator]]
id = "{INDICATOR}"

[[indicator.targets]]
value = {value}
comparator = ">="
date = 2025-12-31
source = "Délibération de test"
""", encoding="utf-8")

    write(30)
    home = tmp_path / "home"
    settings = Settings(home=home, database_url=application_database.url, profile=str(folder))
    ingest(settings, [DEMO / "decp" / "v2"])
    clear_corrections()

    def events() -> list[Any]:
        return list(AuditEvent.objects.filter(object_type="profile",
                                              object_id="profil-cibles-test").order_by("id"))

    build(settings)
    assert events() == []  # the first build only records what the files say
    write(35)
    build(settings)
    (event,) = events()
    assert event.actor_name == "fichier du profil" and event.actor is None
    assert event.action == "profile_targets_changed"
    assert event.summary.startswith("Cibles modifiées dans le fichier du profil")
    (change,) = event.details["changes"]
    assert (change["indicator_id"], change["basis"], change["date"]) == (
        INDICATOR, "count", "2025-12-31")
    assert change["old"].startswith("≥ 30,0\u00a0% au 31/12/2025")
    assert change["new"].startswith("≥ 35,0\u00a0% au 31/12/2025")
    build(settings)
    assert len(events()) == 1  # nothing changed since
