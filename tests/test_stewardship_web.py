"""The authenticated side through Django's test client, on real demo files and the test
application database: who may do what on every route, sign-in throttling, CSRF, sessions,
corrections from the pages to the public contract page."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire.build import build
from observatoire.config import Settings
from tests.conftest import AppDb, make_account, signed_in, stewardship_home

pytestmark = pytest.mark.appdb

GIP = "13001845000028"  # in the scope of the steward "gest-in" (SIREN 130018450)
MEGALIS = "59920013600241"  # in the scope of "gest-out"
UID_IN = GIP + "D2F2020S0757302"  # montant 0.0 in the file
UID_OUT = MEGALIS + "H9O2024T0000256"
PASSWORD = "Un-mot-de-passe-solide-2026"


@pytest.fixture(scope="module")
def site(application_database: AppDb, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Settings]:
    """A data home built from the two DECP 2024 demo files, served by the Django pages."""
    with stewardship_home(application_database, tmp_path_factory.mktemp("gestion-home")) as home:
        yield home


@pytest.fixture(scope="module")
def accounts(site: Settings) -> dict[str, Any]:
    return {
        "administrateur": make_account("admin-web", "administrateur").user,
        "lecteur": make_account("lecteur-web", "lecteur").user,
        "gestionnaire-dans": make_account("gest-in", "gestionnaire", "acheteur:130018450").user,
        "gestionnaire-hors": make_account("gest-out", "gestionnaire", "acheteur:599200136").user,
    }


def _text(response: Any) -> str:
    return str(response.content.decode("utf-8"))


# --- Every route under /gestion/, with every role ------------------------------------------

LOGIN = "login"  # redirected to the sign-in page
ROLES = ["anonyme", "lecteur", "gestionnaire-dans", "gestionnaire-hors", "administrateur"]
ALL = {"lecteur": 200, "gestionnaire-dans": 200, "gestionnaire-hors": 200, "administrateur": 200}
ADMIN_ONLY = {"lecteur": 403, "gestionnaire-dans": 403, "gestionnaire-hors": 403,
              "administrateur": 200}

#: route name -> (method, path, expected outcome per role). Paths name a contract of the
#: "gest-in" steward's scope; "gest-out" is a steward of another buyer.
MATRIX: dict[str, tuple[str, str, dict[str, Any]]] = {
    "gestion-connexion": ("GET", "/gestion/connexion/", {"anonyme": 200, **ALL}),
    # sign-in through the organisation's provider: off in this matrix (no OBSERVATOIRE_OIDC_*),
    # so both routes answer 404 to everyone; tests/test_oidc.py runs them against a provider
    "gestion-oidc": ("GET", "/gestion/connexion/oidc/", {r: 404 for r in ROLES}),
    "gestion-oidc-retour": ("GET", "/gestion/connexion/oidc/retour/?code=x&state=y",
                            {r: 404 for r in ROLES}),
    "gestion-deconnexion": ("POST", "/gestion/deconnexion/",
                            {r: 302 for r in ROLES}),
    "gestion-file": ("GET", "/gestion/", {"anonyme": LOGIN, **ALL}),
    "gestion-marche": ("GET", f"/gestion/marches/{UID_IN}/",
                       {"anonyme": LOGIN, **ALL, "gestionnaire-hors": 403}),
    # an unknown finding: reaching the logic answers 400, a refusal 403
    "gestion-corriger": ("POST", f"/gestion/marches/{UID_IN}/corriger/",
                         {"anonyme": LOGIN, "lecteur": 403, "gestionnaire-dans": 400,
                          "gestionnaire-hors": 403, "administrateur": 400}),
    "gestion-corrections": ("GET", "/gestion/corrections/", {"anonyme": LOGIN, **ALL}),
    "gestion-tableau": ("GET", "/gestion/tableau/", {"anonyme": LOGIN, **ALL}),
    # each chosen finding is checked against the scope; an empty reason changes nothing
    "gestion-pas-un-defaut": ("POST", "/gestion/constats/pas-un-defaut/",
                              {"anonyme": LOGIN, "lecteur": 403, "gestionnaire-dans": 302,
                               "gestionnaire-hors": 302, "administrateur": 302}),
    # no reason given: reaching the logic redirects to the contract with a message
    "gestion-annuler": ("POST", "/gestion/corrections/{correction}/annuler/",
                        {"anonyme": LOGIN, "lecteur": 403, "gestionnaire-dans": 302,
                         "gestionnaire-hors": 403, "administrateur": 302}),
    "gestion-correspondances": ("GET", "/gestion/correspondances/", {"anonyme": LOGIN, **ALL}),
    # deciding an unknown mapping: 404 once allowed
    "gestion-decider": ("POST", "/gestion/correspondances/999999/decider/",
                        {"anonyme": LOGIN, "lecteur": 403, "gestionnaire-dans": 403,
                         "gestionnaire-hors": 403, "administrateur": 404}),
    # withdrawing an unknown mapping: 404 once allowed (stewards: their own proposals)
    "gestion-retirer": ("POST", "/gestion/correspondances/999999/retirer/",
                        {"anonyme": LOGIN, "lecteur": 403, "gestionnaire-dans": 404,
                         "gestionnaire-hors": 404, "administrateur": 404}),
    # Egalim descriptions and matrix labels to map (this site has no catering data: empty)
    "gestion-correspondances-articles": ("GET", "/gestion/correspondances/egalim/articles/",
                                         {"anonyme": LOGIN, **ALL}),
    "gestion-correspondances-labels": ("GET", "/gestion/correspondances/egalim/labels/",
                                       {"anonyme": LOGIN, **ALL}),
    # indicator targets: everyone reads, administrators change (tests/test_targets.py posts)
    "gestion-cibles": ("GET", "/gestion/cibles/", {"anonyme": LOGIN, **ALL}),
    # reverting an unknown target change: 404 once allowed
    "gestion-cible-annuler": ("POST", "/gestion/cibles/999999/annuler/",
                              {"anonyme": LOGIN, "lecteur": 403, "gestionnaire-dans": 403,
                               "gestionnaire-hors": 403, "administrateur": 404}),
    "gestion-journal": ("GET", "/gestion/journal/", {"anonyme": LOGIN, **ADMIN_ONLY}),
    "gestion-journal-csv": ("GET", "/gestion/journal.csv", {"anonyme": LOGIN, **ADMIN_ONLY}),
    "gestion-etat": ("GET", "/gestion/etat/", {"anonyme": LOGIN, **ADMIN_ONLY}),
    # the health of the collected sources: every signed-in role reads it
    "gestion-sources": ("GET", "/gestion/sources/", {"anonyme": LOGIN, **ALL}),
    "gestion-comptes": ("GET", "/gestion/comptes/", {"anonyme": LOGIN, **ADMIN_ONLY}),
    # an unknown account: 404 once allowed
    "gestion-compte": ("POST", "/gestion/comptes/999999/",
                       {"anonyme": LOGIN, "lecteur": 403, "gestionnaire-dans": 403,
                        "gestionnaire-hors": 403, "administrateur": 404}),
}


def _gestion_routes() -> set[str]:
    from django.urls import URLResolver, get_resolver

    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and str(entry.pattern) == "gestion/":
            return {p.name for p in entry.url_patterns if p.name}
    raise AssertionError("no /gestion/ routes")


def test_every_route_is_checked_for_every_role(
    site: Settings, accounts: dict[str, Any], no_corrections: None
) -> None:
    from observatoire.stewardship.services import correct

    assert _gestion_routes() == set(MATRIX), "add the new route to MATRIX"
    correction = correct(accounts["administrateur"], uid=UID_IN, buyer_siret=GIP,
                         action="exclude", reason="pour la matrice", based_on=None)
    outcomes: dict[tuple[str, str], Any] = {}
    for name, (method, path, expected) in MATRIX.items():
        url = path.format(correction=correction.pk)
        for role in ROLES:
            client = signed_in(accounts.get(role))
            response = client.post(url, {"action": "not_a_defect", "constat": "inconnu",
                                         "motif": ""}) if method == "POST" else client.get(url)
            got: Any = response.status_code
            if got == 302 and response["Location"].startswith("/gestion/connexion/?next="):
                got = LOGIN
            outcomes[(name, role)] = got
            assert got == expected[role], (name, role, got)
    # the correction was neither reverted (no reason) nor changed by anyone refused
    correction.refresh_from_db()
    assert correction.status == "active"
    assert len(outcomes) == len(MATRIX) * len(ROLES)


def test_a_steward_sees_only_its_scope(site: Settings, accounts: dict[str, Any]) -> None:
    page = _text(signed_in(accounts["gestionnaire-dans"]).get("/gestion/?regle=AMOUNT_ZERO"))
    assert UID_IN in page and MEGALIS not in page
    con = duckdb.connect(str(site.warehouse_path), read_only=True)
    try:
        (expected,) = con.execute("SELECT count(*) FROM findings WHERE buyer_siret = ?",
                                  [GIP]).fetchone() or (0,)
    finally:
        con.close()
    page = _text(signed_in(accounts["gestionnaire-dans"]).get("/gestion/"))
    assert f"<strong>{expected} constats ouverts</strong>" in page
    assert "tous les acheteurs" in _text(signed_in(accounts["lecteur"]).get("/gestion/"))


def test_correct_from_the_pages_then_publish(
    site: Settings, accounts: dict[str, Any], application_database: AppDb,
    no_corrections: None,
) -> None:
    steward = signed_in(accounts["gestionnaire-dans"])
    form = _text(steward.get(f"/gestion/marches/{UID_IN}/?champ=montant"))
    assert 'name="base" value=""' in form and "Valeur publiée : « 0.0 »" in form
    missing = steward.post(f"/gestion/marches/{UID_IN}/corriger/", {
        "action": "set_value", "champ": "montant", "valeur": "abc", "motif": "x", "base": ""})
    assert missing.status_code == 400 and "n&#x27;est pas un nombre" in _text(missing)
    saved = steward.post(f"/gestion/marches/{UID_IN}/corriger/", {
        "action": "set_value", "champ": "montant", "valeur": "48 500,00",
        "motif": "Montant de l'acte d'engagement", "base": ""})
    assert saved.status_code == 302
    # a second steward who opened the same form before the save is refused, and shown why
    admin = signed_in(accounts["administrateur"])
    conflict = admin.post(f"/gestion/marches/{UID_IN}/corriger/", {
        "action": "set_value", "champ": "montant", "valeur": "1", "motif": "autre", "base": ""})
    assert conflict.status_code == 409
    text = _text(conflict)
    assert "Un autre changement a été enregistré entre-temps" in text
    assert "gest-in" in text and "48500.00" in text
    build(site)
    public = _text(signed_in().get(f"/marches/{UID_IN}/"))
    assert "valeur corrigée par" in public and "source : « 0.0 »" in public
    assert "48\u202f500 € HT" in public
    data = json.loads(_text(signed_in().get(f"/marches/{UID_IN}.json")))
    assert data["corrections"][0]["source_value"] == "0.0"
    assert data["corrections"][0]["corrected_value"] == "48500.00"
    rows = list(csv.DictReader(io.StringIO(_text(signed_in().get(
        f"/marches.csv?acheteur={GIP}")))))
    marked = {r["uid"]: r["corrected_fields"] for r in rows}
    assert marked[UID_IN] == "montant"
    assert "valeur corrigée" not in _text(signed_in().get(f"/marches/{GIP}D2F2021S0392902/"))


def test_sign_in_is_throttled_and_sessions_expire(site: Settings) -> None:
    from django.conf import settings

    make_account("gest-motdepasse", "gestionnaire", "acheteur:130018450", password=PASSWORD)
    client = signed_in()
    page = client.get("/gestion/connexion/")
    assert page.status_code == 200 and 'name="csrfmiddlewaretoken"' in _text(page)
    for _ in range(5):
        wrong = client.post("/gestion/connexion/", {"identifiant": "gest-motdepasse",
                                                    "mot_de_passe": "mauvais"})
        assert wrong.status_code == 401
        assert "Identifiant ou mot de passe incorrect" in _text(wrong)
    locked = client.post("/gestion/connexion/", {"identifiant": "gest-motdepasse",
                                                 "mot_de_passe": PASSWORD})
    assert locked.status_code == 429 and "Trop de tentatives" in _text(locked)
    # from another address, the right password still works
    other = signed_in(REMOTE_ADDR="192.0.2.7")
    ok = other.post("/gestion/connexion/", {"identifiant": "gest-motdepasse",
                                            "mot_de_passe": PASSWORD, "next": "/gestion/"})
    assert ok.status_code == 302 and ok["Location"] == "/gestion/"
    assert other.session.get_expiry_age() == settings.SESSION_COOKIE_AGE == 240 * 60
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    # an outside "next" is ignored
    away = signed_in(REMOTE_ADDR="192.0.2.8").post("/gestion/connexion/", {
        "identifiant": "gest-motdepasse", "mot_de_passe": PASSWORD,
        "next": "https://example.invalid/"})
    assert away["Location"] == "/gestion/"
    from django.contrib.auth import get_user_model

    stored = get_user_model().objects.get(username="gest-motdepasse").password
    assert stored.startswith("argon2$")


def test_sign_in_is_limited_per_address_across_usernames(site: Settings) -> None:
    """30 failed password sign-ins from one address within 15 minutes, whatever the names
    tried, and that address waits (README); other addresses do not."""
    from observatoire.stewardship.models import SignInFailure

    make_account("par-adresse", "lecteur", password=PASSWORD)
    SignInFailure.objects.filter(address__in=["192.0.2.50", "192.0.2.51"]).delete()
    guesser = signed_in(REMOTE_ADDR="192.0.2.50")
    for n in range(30):  # each name fewer times than the per-name limit (5)
        wrong = guesser.post("/gestion/connexion/", {"identifiant": f"nom-devine-{n}",
                                                     "mot_de_passe": "mauvais"})
        assert wrong.status_code == 401, n
    refused = guesser.post("/gestion/connexion/", {"identifiant": "par-adresse",
                                                   "mot_de_passe": PASSWORD})
    assert refused.status_code == 429
    assert "depuis cette adresse, tous identifiants confondus" in _text(refused)
    elsewhere = signed_in(REMOTE_ADDR="192.0.2.51").post(
        "/gestion/connexion/", {"identifiant": "par-adresse", "mot_de_passe": PASSWORD})
    assert elsewhere.status_code == 302


def test_old_sign_in_failures_are_forgotten(site: Settings) -> None:
    """Password failures are kept for the 15 minutes they count; the provider's, read by the
    accounts page, for 30 days. Recording a failure removes what is older."""
    from datetime import timedelta

    from django.utils import timezone

    from observatoire.stewardship.models import SignInFailure

    now = timezone.now()
    address = "192.0.2.60"
    SignInFailure.objects.filter(address=address).delete()
    rows = {
        "motdepasse-16-minutes": now - timedelta(minutes=16),
        "motdepasse-14-minutes": now - timedelta(minutes=14),
        "oidc:16-minutes@region.example": now - timedelta(minutes=16),
        "oidc:29-jours@region.example": now - timedelta(days=29),
        "oidc:31-jours@region.example": now - timedelta(days=31),
    }
    for username, at in rows.items():
        SignInFailure.objects.create(username=username, address=address, at=at)
    signed_in(REMOTE_ADDR=address).post("/gestion/connexion/", {
        "identifiant": "nouvel-echec", "mot_de_passe": "mauvais"})
    kept = set(SignInFailure.objects.filter(address=address).values_list("username", flat=True))
    assert kept == {"motdepasse-14-minutes", "oidc:16-minutes@region.example",
                    "oidc:29-jours@region.example", "nouvel-echec"}


#: user names no account may have: too long for the column (150), a NUL, a space, a quote
BAD_NAMES = ["a" * 200, "ad\x00min", "jean dupont", "o'neil", "<b>x</b>"]


def test_user_names_are_checked_not_failed_on(site: Settings, accounts: dict[str, Any]) -> None:
    """The sign-in answers 401 to any name (a 500 on PostgreSQL before, for a long name or a
    NUL); the accounts page refuses such a name with why, and makes none."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.count()
    client = signed_in(REMOTE_ADDR="192.0.2.70")
    admin = signed_in(accounts["administrateur"])
    for name in BAD_NAMES:
        answer = client.post("/gestion/connexion/", {"identifiant": name,
                                                     "mot_de_passe": PASSWORD})
        assert answer.status_code == 401, name
        assert "Identifiant ou mot de passe incorrect" in _text(answer)
        refused = admin.post("/gestion/comptes/", {"identifiant": name, "role": "lecteur",
                                                   "mot_de_passe": PASSWORD})
        assert refused.status_code == 400, name
        assert "Identifiant invalide" in _text(refused)
        assert "De 1 à 150 caractères : lettres, chiffres et . @ + - _" in _text(refused)
    assert get_user_model().objects.count() == users
    # Django's own rule otherwise: letters (accented too), digits, . @ + - _ up to 150
    for name in ("anne.martin@region.fr", "héloïse_2", "b" * 150):
        made = admin.post("/gestion/comptes/", {"identifiant": name, "role": "lecteur",
                                                "mot_de_passe": PASSWORD})
        assert made.status_code == 302, name
    assert get_user_model().objects.count() == users + 3


def test_deactivating_an_account_ends_its_sessions(site: Settings,
                                                  accounts: dict[str, Any]) -> None:
    """Its sessions are deleted, not only refused while it is inactive: reactivated, the
    account does not get back a session opened before (a stolen one, say)."""
    from django.contrib.sessions.models import Session

    from observatoire.stewardship.models import Account

    make_account("a-desactiver", "lecteur", password=PASSWORD)
    make_account("reste-actif", "lecteur", password=PASSWORD)
    browsers = {}
    for name, address in (("a-desactiver", "192.0.2.80"), ("a-desactiver", "192.0.2.81"),
                          ("reste-actif", "192.0.2.82")):
        browser = signed_in(REMOTE_ADDR=address)
        assert browser.post("/gestion/connexion/", {
            "identifiant": name, "mot_de_passe": PASSWORD}).status_code == 302
        assert browser.get("/gestion/corrections/").status_code == 200
        browsers[address] = browser
    keys = {a: b.cookies["sessionid"].value for a, b in browsers.items()}
    account = Account.objects.get(user__username="a-desactiver")
    admin = signed_in(accounts["administrateur"])
    for active in ("non", "oui"):
        admin.post(f"/gestion/comptes/{account.pk}/", {"role": "lecteur", "actif": active})
    account.user.refresh_from_db()
    assert account.user.is_active
    alive = set(Session.objects.filter(session_key__in=keys.values())
                .values_list("session_key", flat=True))
    assert alive == {keys["192.0.2.82"]}
    for address in ("192.0.2.80", "192.0.2.81"):
        page = browsers[address].get("/gestion/corrections/")
        assert page.status_code == 302 and page["Location"].startswith("/gestion/connexion/")
    assert browsers["192.0.2.82"].get("/gestion/corrections/").status_code == 200


def test_forms_need_their_csrf_token_and_public_pages_set_no_cookie(
    site: Settings, accounts: dict[str, Any]
) -> None:
    strict = signed_in(accounts["gestionnaire-dans"], enforce_csrf_checks=True)
    refused = strict.post(f"/gestion/marches/{UID_IN}/corriger/", {
        "action": "exclude", "motif": "sans jeton", "base": ""})
    assert refused.status_code == 403 and "protection CSRF" in _text(refused)
    anonymous = signed_in().get(f"/marches/{UID_IN}/")
    assert anonymous.status_code == 200
    assert not anonymous.cookies and "Cookie" not in anonymous.get("Vary", "")


def test_administrator_pages_accounts_audit_and_status(
    site: Settings, accounts: dict[str, Any], no_corrections: None
) -> None:
    from observatoire.stewardship.models import Account, AuditEvent

    admin = signed_in(accounts["administrateur"])
    weak = admin.post("/gestion/comptes/", {"identifiant": "nouveau", "mot_de_passe": "1234",
                                            "role": "lecteur"})
    assert weak.status_code == 400 and "Mot de passe refusé" in _text(weak)
    # the generic profile defines no directorate: a directorate scope is refused, and said
    form = _text(admin.get("/gestion/comptes/"))
    assert "ne définit aucune direction" in form
    no_directorate = admin.post("/gestion/comptes/", {
        "identifiant": "dir-lycees", "mot_de_passe": PASSWORD, "role": "gestionnaire",
        "perimetres": "cantine:13001845000028 direction:DAJ"})
    assert no_directorate.status_code == 400
    assert "ne définit aucune direction" in _text(no_directorate)
    created = admin.post("/gestion/comptes/", {
        "identifiant": "dir-lycees", "mot_de_passe": PASSWORD, "role": "gestionnaire",
        "perimetres": "cantine:13001845000028 acheteur:599200136"})
    assert created.status_code == 302
    account = Account.objects.get(user__username="dir-lycees")
    assert sorted(str(s) for s in account.scopes.all()) == [
        "acheteur:599200136", "cantine:13001845000028"]
    event = AuditEvent.objects.filter(action="account_created", object_id="dir-lycees").get()
    assert event.actor_name == "admin-web"
    # role and scope changes are traced; a deactivated account cannot sign in
    changed = admin.post(f"/gestion/comptes/{account.pk}/", {
        "role": "gestionnaire", "perimetres": "acheteur:130018450", "actif": "non"},
        follow=True)
    assert "à jour" in _text(changed)
    change = AuditEvent.objects.filter(action="account_changed", object_id="dir-lycees").get()
    assert change.details["before"]["scopes"] == ["acheteur:599200136",
                                                  "cantine:13001845000028"]
    assert change.details["after"] == {"role": "gestionnaire", "active": False,
                                       "scopes": ["acheteur:130018450"], "email": ""}
    refused = signed_in(REMOTE_ADDR="192.0.2.9").post("/gestion/connexion/", {
        "identifiant": "dir-lycees", "mot_de_passe": PASSWORD})
    assert refused.status_code == 401
    own = admin.post(f"/gestion/comptes/{Account.objects.get(user__username='admin-web').pk}/",
                     {"role": "lecteur", "actif": "oui"}, follow=True)
    assert "votre propre rôle" in _text(own)
    journal = admin.get("/gestion/journal.csv")
    rows = list(csv.DictReader(io.StringIO(_text(journal))))
    assert journal["Content-Disposition"] == 'attachment; filename="journal.csv"'
    assert len(rows) == AuditEvent.objects.count()
    assert any(r["object_id"] == "dir-lycees" for r in rows)
    status = _text(admin.get("/gestion/etat/"))
    assert "gip-maximilien_decp-13001845000028-2024-10-06-01.json" in status
    assert "tous les fichiers se réconcilient" in status
    # the steps of the last build, from the build log
    assert "Étapes de la construction n°" in status and "modele.marches" in status


def test_stale_corrections_are_listed_for_review(site: Settings, accounts: dict[str, Any],
                                                 no_corrections: None, tmp_path: Path) -> None:
    from observatoire.stewardship.models import Correction

    Correction.objects.create(uid=UID_IN, buyer_siret=GIP, action="set_value", field="montant",
                              source_value="12.0", new_value="13", reason="ancienne source",
                              author=accounts["gestionnaire-dans"], author_name="gest-in")
    summary = build(site)
    assert summary.stale_corrections == 1
    page = _text(signed_in(accounts["gestionnaire-dans"]).get("/gestion/corrections/?statut=stale"))
    assert "ancienne source" in page and "à revoir" in page
    queue = _text(signed_in(accounts["gestionnaire-dans"]).get("/gestion/"))
    assert "1 corrections à revoir" in queue
    assert "ancienne source" not in _text(
        signed_in(accounts["gestionnaire-hors"]).get("/gestion/corrections/"))


def test_dashboard_of_a_scope(site: Settings, accounts: dict[str, Any]) -> None:
    from observatoire.formatting import percent

    con = duckdb.connect(str(site.warehouse_path), read_only=True)
    try:
        rows = con.execute("SELECT notification_year, amount_initial FROM contracts "
                           "WHERE buyer_siret = ?", [GIP]).fetchall()
    finally:
        con.close()
    years: dict[Any, list[Any]] = {}
    for year, amount in rows:
        years.setdefault(year, []).append(amount)
    page = _text(signed_in(accounts["gestionnaire-dans"]).get("/gestion/tableau/"))
    assert MEGALIS not in page
    for year, amounts in years.items():
        share = sum(a is not None for a in amounts) / len(amounts)
        cells = (f"<td>{year}</td><td class=\"num\">{len(amounts)}</td>"
                 f"<td class=\"num\">{percent(share, 0)}</td>")
        assert cells in page, year
    everyone = _text(signed_in(accounts["lecteur"]).get("/gestion/tableau/"))
    assert f"?acheteur={MEGALIS}" in everyone and f"?acheteur={GIP}" in everyone


def test_bulk_not_a_defect_keeps_to_the_safe_and_the_scope(
    site: Settings, accounts: dict[str, Any], no_corrections: None
) -> None:
    from observatoire.stewardship.models import Correction

    con = duckdb.connect(str(site.warehouse_path), read_only=True)
    try:
        mine = [r[0] for r in con.execute(
            """SELECT finding_id FROM findings WHERE buyer_siret = ? AND uid IS NOT NULL
               AND severity = 'information' ORDER BY finding_id LIMIT 2""", [GIP]).fetchall()]
        blocking = con.execute("SELECT finding_id FROM findings WHERE buyer_siret = ? AND "
                               "severity = 'bloquant' AND uid IS NOT NULL LIMIT 1",
                               [GIP]).fetchone()
        theirs = con.execute("SELECT finding_id FROM findings WHERE buyer_siret = ? LIMIT 1",
                             [MEGALIS]).fetchone()
    finally:
        con.close()
    assert len(mine) == 2 and blocking and theirs
    steward = signed_in(accounts["gestionnaire-dans"])
    before = _text(steward.get("/gestion/"))
    response = steward.post("/gestion/constats/pas-un-defaut/", {
        "constat": [*mine, blocking[0], theirs[0]], "motif": "Montants faibles assumés",
        "retour": "/gestion/?gravite=information"}, follow=True)
    assert response.redirect_chain[-1][0] == "/gestion/?gravite=information"
    assert "2 constat(s) marqué(s)" in _text(response) and "2 laissé(s)" in _text(response)
    made = Correction.objects.filter(action="not_a_defect")
    assert made.count() == 2 and {c.buyer_siret for c in made} == {GIP}
    build(site)
    after = _text(steward.get("/gestion/"))
    count = int(before.split(" constats ouverts")[0].rsplit("<strong>", 1)[1])
    assert f"<strong>{count - 2} constats ouverts</strong>" in after


def test_cpv_domain_mapping_is_proposed_decided_traced_and_applied(
    site: Settings, accounts: dict[str, Any]
) -> None:
    from observatoire.stewardship.models import AuditEvent, Mapping

    def domain() -> Any:
        con = duckdb.connect(str(site.warehouse_path), read_only=True)
        try:
            row = con.execute("SELECT cpv, purchase_domain FROM indicator_contracts "
                              "WHERE uid = ?", [UID_IN]).fetchone()
        finally:
            con.close()
        return row

    assert domain() == ("70130000", "services")  # division 70: the profile's default
    steward = signed_in(accounts["gestionnaire-dans"])
    reader = signed_in(accounts["lecteur"])
    assert reader.post("/gestion/correspondances/", {"cpv": "7013", "domaine": "travaux",
                                                     "motif": "x"}).status_code == 403
    bad = steward.post("/gestion/correspondances/", {"cpv": "7x", "domaine": "travaux",
                                                     "motif": "x"})
    assert bad.status_code == 400 and "début de code CPV" in _text(bad)
    assert steward.post("/gestion/correspondances/", {
        "cpv": "7013", "domaine": "travaux",
        "motif": "Locations de salles pour chantiers"}).status_code == 302
    twice = steward.post("/gestion/correspondances/", {"cpv": "7013", "domaine": "fournitures",
                                                       "motif": "autre"})
    assert twice.status_code == 400 and "attend déjà une décision" in _text(twice)
    mapping = Mapping.objects.get(key="7013", status="proposed")
    build(site)
    assert domain() == ("70130000", "services")  # proposed only: not applied
    admin = signed_in(accounts["administrateur"])
    assert admin.post(f"/gestion/correspondances/{mapping.pk}/decider/", {
        "decision": "accepter", "motif": "Validé par la DAJ"}).status_code == 302
    build(site)
    assert domain() == ("70130000", "travaux")
    page = _text(signed_in().get(f"/marches/{UID_IN}/"))
    assert "domaine : Travaux" in page
    trail = list(AuditEvent.objects.filter(object_type="mapping", object_id=str(mapping.pk))
                 .order_by("id").values_list("action", "actor_name"))
    assert trail == [("mapping_proposed", "gest-in"), ("mapping_accepted", "admin-web")]
    # a second decision on the same proposal is refused
    again = admin.post(f"/gestion/correspondances/{mapping.pk}/decider/",
                       {"decision": "refuser", "motif": "non"}, follow=True)
    assert "déjà été décidée" in _text(again)


def test_who_corrected_is_said_in_words() -> None:
    """The wording comes from the profile the warehouse was built with (indicator_profile)."""
    from observatoire.indicators.profile import load_profile
    from observatoire.web.views import corrector_phrase

    def phrase(name: str) -> str:
        profile = load_profile(name)
        scope = "all_buyers" if profile.scope_all_buyers else "profile_buyers"
        return corrector_phrase(profile.organisation, scope)

    assert phrase("region-bretagne") == "la Région Bretagne"
    assert phrase("generique") == "les gestionnaires des données"


def test_every_gestion_page_meets_the_basic_accessibility_criteria(
    site: Settings, accounts: dict[str, Any]
) -> None:
    from tests.test_accessibility import _Page

    admin = signed_in(accounts["administrateur"])
    pages = [path for method, path, expected in MATRIX.values()
             if method == "GET" and expected["administrateur"] == 200
             and not path.endswith(".csv")]
    pages += [f"/gestion/marches/{UID_IN}/?champ=montant", "/gestion/?gravite=information"]
    fields = 0
    for url in pages:
        response = admin.get(url)
        assert response.status_code == 200, url
        page = _Page()
        page.feed(_text(response))
        assert page.lang == "fr" and page.titles == 1 and page.h1 == 1, url
        assert page.skip and page.th_without_scope == 0, url
        for field in page.fields:
            assert (field.get("id") in page.label_for or field.get("wrapped")
                    or field.get("aria-label")), (url, field)
        assert all(text for _, text in page.links), url
        fields += len(page.fields)
    assert fields >= 20
