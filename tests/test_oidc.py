"""Sign-in through the organisation's OpenID Connect provider, against a real provider.

The provider is oidc-provider (OpenID Certified, Node.js, installed by tasks.py from
tests/oidc_provider/package-lock.json), started on a free port of 127.0.0.1 with the observatory
registered as its client; the site is served by waitress as ``observatoire serve`` does. The
authorization-code flow runs over real HTTP: the provider's login form, its token, user-info
and key endpoints, the ID token's RS256 signature checked against its JWKS. Nothing is mocked.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from click.testing import CliRunner

from observatoire.config import OidcSettings, Settings
from observatoire.errors import ConfigError
from tests.conftest import (
    AppDb,
    live_server,
    make_account,
    stewardship_home,
)

PROVIDER = Path(__file__).resolve().parent / "oidc_provider"
CLIENT_ID = "observatoire-tests"
CLIENT_SECRET = secrets.token_urlsafe(32)  # made for this run, never written anywhere
NAME = "Région Test"
CALLBACK = "/gestion/connexion/oidc/retour/"


# --- Configuration (no provider needed) ----------------------------------------------------

def test_off_unless_configured_and_half_a_configuration_is_an_error() -> None:
    assert OidcSettings.from_env({}) is None
    full = OidcSettings.from_env({
        "OBSERVATOIRE_OIDC_ISSUER": "https://sso.exemple.fr/realms/region/",
        "OBSERVATOIRE_OIDC_CLIENT_ID": "observatoire",
        "OBSERVATOIRE_OIDC_CLIENT_SECRET": "tres-secret",
        "OBSERVATOIRE_OIDC_NAME": "Région Exemple"})
    assert full is not None
    assert full.issuer == "https://sso.exemple.fr/realms/region"  # discovery URL built from it
    assert (full.name, full.sign_algo, full.provider_logout) == ("Région Exemple", "RS256", False)
    assert full.trust_unverified_email is False  # only when the administrator says so
    assert "tres-secret" not in repr(full)
    with pytest.raises(ConfigError) as half:
        OidcSettings.from_env({"OBSERVATOIRE_OIDC_ISSUER": "https://sso.exemple.fr"})
    assert "OBSERVATOIRE_OIDC_CLIENT_SECRET" in half.value.message
    with pytest.raises(ConfigError) as endpoints:
        OidcSettings.from_env({"OBSERVATOIRE_OIDC_CLIENT_ID": "a",
                               "OBSERVATOIRE_OIDC_CLIENT_SECRET": "b",
                               "OBSERVATOIRE_OIDC_TOKEN_ENDPOINT": "https://sso/token"})
    assert "OBSERVATOIRE_OIDC_JWKS_URI" in endpoints.value.message
    explicit = OidcSettings.from_env({
        "OBSERVATOIRE_OIDC_CLIENT_ID": "a", "OBSERVATOIRE_OIDC_CLIENT_SECRET": "b",
        "OBSERVATOIRE_OIDC_AUTHORIZATION_ENDPOINT": "https://sso/auth",
        "OBSERVATOIRE_OIDC_TOKEN_ENDPOINT": "https://sso/token",
        "OBSERVATOIRE_OIDC_USERINFO_ENDPOINT": "https://sso/me",
        "OBSERVATOIRE_OIDC_JWKS_URI": "https://sso/jwks"})
    assert explicit is not None and explicit.issuer == ""


# --- A real provider and the site ----------------------------------------------------------

@pytest.fixture(scope="module")
def site(application_database: AppDb, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[str]:
    """The site, served by waitress on a free port, on a warehouse of the DECP 2024 demo."""
    # as `observatoire serve` with OBSERVATOIRE_TRUSTED_PROXIES: X-Forwarded-For reaches the
    # application, which trusts it only from a configured proxy
    with (stewardship_home(application_database, tmp_path_factory.mktemp("oidc-home")),
          live_server(clear_untrusted_proxy_headers=False) as url):
        yield url


@pytest.fixture(scope="module")
def issuer(site: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """oidc-provider on a free port, the observatory registered as its confidential client."""
    if not (PROVIDER / "node_modules" / "oidc-provider").exists():
        pytest.fail("Le fournisseur de test n'est pas installé : lancez python3 tasks.py test "
                    "(npm ci dans tests/oidc_provider).")
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
              "redirect_uris": [site + CALLBACK], "post_logout_redirect_uris": [site + "/"]}
    log = tmp_path_factory.mktemp("oidc-provider") / "stderr.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(["node", str(PROVIDER / "provider.mjs"), json.dumps(client)],
                                   stdout=subprocess.PIPE, stderr=stderr, cwd=PROVIDER)
    first: list[bytes] = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline()),  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    reader.join(30)
    try:
        if not first or not first[0]:
            raise AssertionError("oidc-provider did not start: "
                                 + log.read_text(encoding="utf-8", errors="replace"))
        yield str(json.loads(first[0])["issuer"])
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def _configured(issuer: str, **changes: Any) -> Any:
    from django.test import override_settings

    from observatoire.stewardship import oidc

    oidc._discovered.clear()
    settings = OidcSettings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, issuer=issuer,
                            name=NAME, timeout=10.0)
    return override_settings(OBSERVATOIRE_OIDC=OidcSettings(**{**settings.__dict__, **changes}))


@pytest.fixture
def oidc_on(issuer: str) -> Iterator[str]:
    """Sign-in through the provider switched on (as OBSERVATOIRE_OIDC_* would)."""
    with _configured(issuer):
        yield issuer


def _at_provider(http: requests.Session, site: str, start: str, login: str) -> str:
    """From the site's sign-in link (or the provider's authorization URL) through the
    provider's login form, up to (not into) the site's callback; its URL (with the provider's
    code and state)."""
    page = http.get(start if start.startswith("http") else site + start)
    assert page.status_code == 200 and 'name="login"' in page.text, page.text[:500]
    action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    assert action is not None
    step = http.post(urljoin(page.url, html.unescape(action.group(1))),
                     data={"prompt": "login", "login": login, "password": "peu-importe"},
                     allow_redirects=False)
    for _ in range(10):
        assert step.status_code in (302, 303), (step.status_code, step.text[:300])
        target = urljoin(step.url, step.headers["Location"])
        if target.startswith(site + CALLBACK):
            return target
        step = http.get(target, allow_redirects=False)
    raise AssertionError("the provider never sent back to the site")


def _sign_in(site: str, login: str, next_url: str = "/gestion/") -> tuple[requests.Session,
                                                                          requests.Response]:
    http = requests.Session()
    callback = _at_provider(http, site, f"/gestion/connexion/oidc/?next={next_url}", login)
    return http, http.get(callback)


def _accessible(text: str) -> None:
    """The basic accessibility criteria every page of /gestion/ meets (test_accessibility)."""
    from tests.test_accessibility import _Page

    page = _Page()
    page.feed(text)
    assert page.lang == "fr" and page.titles == 1 and page.h1 == 1
    assert page.skip and page.th_without_scope == 0
    for field in page.fields:
        assert (field.get("id") in page.label_for or field.get("wrapped")
                or field.get("aria-label")), field
    assert all(label for _, label in page.links)


def _accounts() -> None:
    make_account("oidc-admin", "administrateur", email="Lea.Admin@region.example")
    make_account("oidc-gest", "gestionnaire", "acheteur:130018450",
                 email="marc.gest@region.example")


@pytest.mark.appdb
def test_the_sign_in_page_offers_the_provider_only_when_configured(
        site: str, issuer: str) -> None:
    page = site + "/gestion/connexion/?next=/gestion/tableau/"
    with requests.get(page, timeout=30) as off:
        assert off.status_code == 200 and "Se connecter avec" not in off.text
    with _configured(issuer), requests.get(page, timeout=30) as on:
        assert on.status_code == 200
        assert (f'href="/gestion/connexion/oidc/?next=/gestion/tableau/">Se connecter avec '
                f'{NAME}</a>') in on.text
        assert 'name="mot_de_passe"' in on.text  # the password form stays beside it
        _accessible(on.text)
    for path in ("/gestion/connexion/oidc/", CALLBACK + "?code=a&state=b"):
        assert requests.get(site + path, allow_redirects=False, timeout=30).status_code == 404


@pytest.mark.appdb
def test_an_account_created_here_signs_in_with_its_role(site: str, oidc_on: str) -> None:
    from observatoire.stewardship.models import AuditEvent

    _accounts()
    events = AuditEvent.objects.count()
    # the e-mail address matches whatever its case; the "next" page is kept through the flow
    http, landed = _sign_in(site, "lea.admin@region.example", "/gestion/comptes/")
    with http:
        assert landed.status_code == 200 and landed.url == site + "/gestion/comptes/"
        assert "oidc-admin (Administrateur)" in landed.text
        assert landed.history[0].headers["Cache-Control"] == "no-store"
        cookie = next(c for c in http.cookies if c.name == "sessionid")
        assert cookie.expires is None  # ends with the browser, and after the session's age
    # a steward keeps the role and scope decided here: no administrator page
    http, landed = _sign_in(site, "marc.gest@region.example", "/gestion/comptes/")
    with http:
        assert landed.status_code == 403
        page = http.get(site + "/gestion/")
        assert page.status_code == 200 and "oidc-gest (Gestionnaire de données)" in page.text
        # signing out ends the session here
        token = http.cookies["csrftoken"]
        out = http.post(site + "/gestion/deconnexion/", data={"csrfmiddlewaretoken": token},
                        allow_redirects=False)
        assert out.status_code == 302 and out.headers["Location"] == "/"
        again = http.get(site + "/gestion/", allow_redirects=False)
        assert again.headers["Location"].startswith("/gestion/connexion/?next=")
    # like a password sign-in, it changes nothing the audit trail records
    assert AuditEvent.objects.count() == events


@pytest.mark.appdb
def test_a_provider_user_without_an_account_is_refused_and_recorded(
        site: str, oidc_on: str) -> None:
    from django.contrib.auth import get_user_model

    from observatoire.stewardship.models import SignInFailure

    users = get_user_model().objects.count()
    http, refused = _sign_in(site, "inconnu@region.example")
    with http:
        assert refused.status_code == 403
        assert "aucun compte de l&#x27;observatoire" in refused.text
        assert "inconnu@region.example" in refused.text
        assert http.get(site + "/gestion/", allow_redirects=False).status_code == 302
    assert get_user_model().objects.count() == users  # nobody was created
    assert SignInFailure.objects.filter(username="oidc:inconnu@region.example").count() == 1
    # the administrators see who was refused, to create the account if they should
    _accounts()
    http, admin = _sign_in(site, "lea.admin@region.example", "/gestion/comptes/")
    with http:
        assert "Connexions par Région Test refusées" in admin.text
        assert "inconnu@region.example" in admin.text
        # once, in the page (not in its <title>)
        assert admin.text.count("Connexions par Région Test refusées") == 1
        assert "<title>Comptes — Observatoire de l'achat public</title>" in admin.text
        _accessible(admin.text)
        _accessible(refused.text)


@pytest.mark.appdb
def test_a_disabled_account_is_refused(site: str, oidc_on: str) -> None:
    from observatoire.stewardship.models import Account
    from observatoire.stewardship.services import update_account

    account = make_account("oidc-parti", "lecteur", email="parti@region.example")
    update_account("tests", account, "lecteur", [], active=False)
    http, refused = _sign_in(site, "parti@region.example")
    with http:
        assert refused.status_code == 403 and "est désactivé" in refused.text
    assert not Account.objects.get(pk=account.pk).user.is_active


@pytest.mark.appdb
def test_a_forged_or_replayed_state_is_refused(site: str, oidc_on: str) -> None:
    _accounts()
    with requests.Session() as http:
        forged = http.get(site + CALLBACK + "?code=nimporte&state=invente")
        assert forged.status_code == 400 and "état inconnu" in forged.text
        callback = _at_provider(http, site, "/gestion/connexion/oidc/", "lea.admin@region.example")
        assert http.get(callback).status_code == 200  # signed in
        replayed = http.get(callback)  # the same code and state once more
        assert replayed.status_code == 400 and "déjà utilisé" in replayed.text
    # a state started in another browser is not valid in this one
    with requests.Session() as first, requests.Session() as second:
        callback = _at_provider(first, site, "/gestion/connexion/oidc/",
                                "lea.admin@region.example")
        stolen = second.get(callback)
        assert stolen.status_code == 400
        assert second.get(site + "/gestion/", allow_redirects=False).status_code == 302


@pytest.mark.appdb
def test_an_id_token_with_another_nonce_or_code_is_refused(site: str, oidc_on: str) -> None:
    from django.contrib.sessions.backends.db import SessionStore

    _accounts()
    with requests.Session() as http:
        # the provider's genuine, signed ID token carries the nonce of the sign-in it answers;
        # this session now expects another one for that state (as if the token was injected)
        callback = _at_provider(http, site, "/gestion/connexion/oidc/",
                                "lea.admin@region.example")
        state = parse_qs(urlsplit(callback).query)["state"][0]
        stored = SessionStore(http.cookies["sessionid"])
        states = stored["oidc_states"]
        assert states[state]["nonce"] and states[state]["code_verifier"]
        states[state]["nonce"] = "un-autre-nonce"
        stored["oidc_states"] = states
        stored.save()
        refused = http.get(callback)
        assert refused.status_code == 400 and "n&#x27;a pas pu être vérifiée" in refused.text
        assert http.get(site + "/gestion/", allow_redirects=False).status_code == 302
    with requests.Session() as http:
        # two sign-ins started in one browser: the answer to the first, presented with the
        # second's state, fails the PKCE check at the provider (the code was not issued for
        # the second's challenge)
        first = http.get(site + "/gestion/connexion/oidc/", allow_redirects=False)
        second = http.get(site + "/gestion/connexion/oidc/", allow_redirects=False)
        state_1 = parse_qs(urlsplit(first.headers["Location"]).query)["state"][0]
        state_2 = parse_qs(urlsplit(second.headers["Location"]).query)["state"][0]
        callback = _at_provider(http, site, first.headers["Location"],
                                "lea.admin@region.example")
        swapped = http.get(callback.replace(state_1, state_2))
        assert swapped.status_code == 400 and "a refusé l&#x27;échange" in swapped.text
        assert http.get(site + "/gestion/", allow_redirects=False).status_code == 302


@pytest.mark.appdb
def test_an_id_token_not_signed_by_the_provider_keys_is_refused(site: str, issuer: str) -> None:
    """The site trusts another key under the provider's key id: the provider's genuine ID
    token no longer verifies, and nobody is signed in."""
    _accounts()
    with _configured(issuer, jwks_uri=issuer + "/test/jwks-autre"):
        http, refused = _sign_in(site, "lea.admin@region.example")
        with http:
            assert refused.status_code == 400 and "signature" in refused.text
            assert http.get(site + "/gestion/", allow_redirects=False).status_code == 302


@pytest.mark.appdb
def test_an_id_token_for_another_client_or_issuer_is_refused(site: str, issuer: str) -> None:
    """A genuine ID token of the provider, checked as if the site were another client of the
    same provider (a token replayed from another application), or trusted another issuer."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.exceptions import SuspiciousOperation
    from mozilla_django_oidc.auth import OIDCAuthenticationBackend

    from observatoire.stewardship import oidc

    _accounts()
    with _configured(issuer), requests.Session() as http:
        callback = _at_provider(http, site, "/gestion/connexion/oidc/",
                                "lea.admin@region.example")
        query = parse_qs(urlsplit(callback).query)
        session = SessionStore(http.cookies["sessionid"])
        verifier = session["oidc_states"][query["state"][0]]["code_verifier"]
        token_endpoint = http.get(issuer + "/.well-known/openid-configuration").json()[
            "token_endpoint"]
        token = http.post(token_endpoint, auth=(CLIENT_ID, CLIENT_SECRET), data={
            "grant_type": "authorization_code", "code": query["code"][0],
            "code_verifier": verifier, "redirect_uri": site + CALLBACK}).json()["id_token"]
        backend = oidc.ProviderBackend()
        OIDCAuthenticationBackend.__init__(backend)
        key = backend.retrieve_matching_jwk(token)
        assert backend.get_payload_data(token, key)["sub"] == "lea.admin@region.example"
    with _configured(issuer, client_id="une-autre-application"), pytest.raises(
            SuspiciousOperation, match="Audience"):
        backend.get_payload_data(token, key)
    with _configured(issuer + "/autre"), pytest.raises(SuspiciousOperation, match="issuer"):
        backend.get_payload_data(token, key)


@pytest.mark.appdb
def test_provider_refusal_and_unreachable_provider_are_explained(
        site: str, issuer: str) -> None:
    with _configured(issuer), requests.Session() as http:
        start = http.get(site + "/gestion/connexion/oidc/", allow_redirects=False)
        state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
        denied = http.get(site + CALLBACK + f"?error=access_denied&state={state}")
        assert denied.status_code == 401 and "refusée ou interrompue" in denied.text
    with _configured("http://127.0.0.1:9"), requests.Session() as http:  # nothing listens there
        down = http.get(site + "/gestion/connexion/oidc/")
        assert down.status_code == 503 and "ne répond pas" in down.text
        assert 'name="mot_de_passe"' in down.text


@pytest.mark.appdb
def test_sign_out_can_end_the_provider_session_too(site: str, issuer: str) -> None:
    _accounts()
    with _configured(issuer, provider_logout=True):
        http, landed = _sign_in(site, "lea.admin@region.example")
        with http:
            assert landed.status_code == 200
            out = http.post(site + "/gestion/deconnexion/",
                            data={"csrfmiddlewaretoken": http.cookies["csrftoken"]},
                            allow_redirects=False)
            end = out.headers["Location"]
            assert end.startswith(issuer + "/session/end?")
            query = parse_qs(urlsplit(end).query)
            assert query["post_logout_redirect_uri"] == [site + "/"]
            assert query["client_id"] == [CLIENT_ID] and query["id_token_hint"][0].count(".") == 2
            assert http.get(end).status_code == 200  # the provider asks to confirm
            # the session here ended already
            assert http.get(site + "/gestion/", allow_redirects=False).status_code == 302


@pytest.mark.appdb
def test_accounts_get_an_email_address_and_may_have_no_password(site: str) -> None:
    from observatoire.cli import cli
    from observatoire.stewardship.services import StewardshipError, create_account

    runner = CliRunner()
    made = runner.invoke(cli, ["accounts", "create", "sso-lecteur", "--role", "lecteur",
                               "--email", "sso.lecteur@region.example", "--sans-mot-de-passe"])
    assert made.exit_code == 0, made.output
    assert "sans mot de passe" in made.output
    listed = runner.invoke(cli, ["accounts", "list", "--json"])
    row = next(r for r in json.loads(listed.output) if r["identifiant"] == "sso-lecteur")
    assert (row["email"], row["mot_de_passe"]) == ("sso.lecteur@region.example", False)
    with pytest.raises(StewardshipError, match="déjà celle d'un autre compte"):
        create_account("tests", "doublon", None, "lecteur", [], email="SSO.Lecteur@region.example")
    with pytest.raises(StewardshipError, match="besoin d'une adresse"):
        create_account("tests", "ni-l-un-ni-l-autre", None, "lecteur", [])


@pytest.mark.appdb
@pytest.mark.browser
def test_signing_in_through_the_provider_in_chromium(site: str, oidc_on: str) -> None:
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, FLAGS, SHOTS

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium est introuvable : installez le paquet Debian « chromium ».")
    _accounts()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        p: Any = browser.new_context(locale="fr-FR").new_page()
        p.goto(site + "/gestion/tableau/")
        p.wait_for_url(re.compile(r".*/gestion/connexion/\?next=.*"))
        p.screenshot(path=str(SHOTS / "connexion-fournisseur.png"), full_page=True)
        p.get_by_role("link", name=f"Se connecter avec {NAME}").click()
        p.wait_for_url(oidc_on + "/interaction/**")  # the provider's own login page
        p.fill("input[name=login]", "lea.admin@region.example")
        p.fill("input[name=password]", "mot-de-passe-chez-le-fournisseur")
        p.get_by_role("button", name="Sign-in").click()
        p.wait_for_url(site + "/gestion/tableau/")
        assert "oidc-admin (Administrateur)" in p.locator("nav.gestion").inner_text()
        p.get_by_role("button", name="Se déconnecter").click()
        p.wait_for_url(site + "/")
        # signed out here, still signed in at the provider: one click signs in again
        p.goto(site + "/gestion/connexion/")
        p.get_by_role("link", name=f"Se connecter avec {NAME}").click()
        p.wait_for_url(site + "/gestion/")
        assert "oidc-admin" in p.locator("nav.gestion").inner_text()

        # someone the provider knows but who has no account here
        other: Any = browser.new_context(locale="fr-FR").new_page()
        other.goto(site + "/gestion/connexion/")
        other.get_by_role("link", name=f"Se connecter avec {NAME}").click()
        other.wait_for_url(oidc_on + "/interaction/**")
        other.fill("input[name=login]", "sans.compte@region.example")
        other.fill("input[name=password]", "mot-de-passe-chez-le-fournisseur")
        other.get_by_role("button", name="Sign-in").click()
        other.wait_for_url(re.compile(r".*/gestion/connexion/oidc/retour/\?.*"))
        alert = other.get_by_role("alert").inner_text()
        assert "aucun compte de l'observatoire" in alert and "sans.compte@region.example" in alert
        other.screenshot(path=str(SHOTS / "connexion-fournisseur-sans-compte.png"),
                         full_page=True)
        browser.close()


@pytest.mark.appdb
def test_the_accounts_page_sets_email_addresses_and_password_free_accounts(
        site: str, issuer: str) -> None:
    from django.test import Client

    from observatoire.stewardship.models import Account, AuditEvent

    admin = Client()
    admin.force_login(make_account("oidc-admin-page", "administrateur").user)
    # without a provider, a password is still required
    refused = admin.post("/gestion/comptes/", {"identifiant": "sans-mdp", "role": "lecteur",
                                               "email": "sans.mdp@region.example"})
    assert refused.status_code == 400 and "Mot de passe refusé" in refused.content.decode()
    with _configured(issuer):
        page = admin.get("/gestion/comptes/").content.decode()
        assert "laissez vide pour un compte qui se connecte seulement par Région Test" in page
        created = admin.post("/gestion/comptes/", {"identifiant": "sans-mdp", "role": "lecteur",
                                                   "email": "sans.mdp@region.example"})
        assert created.status_code == 302
    account = Account.objects.get(user__username="sans-mdp")
    assert not account.user.has_usable_password()
    assert account.user.email == "sans.mdp@region.example"
    changed = admin.post(f"/gestion/comptes/{account.pk}/", {
        "role": "lecteur", "actif": "oui", "email": "nouvelle.adresse@region.example"},
        follow=True)
    assert "à jour" in changed.content.decode()
    event = AuditEvent.objects.filter(action="account_changed", object_id="sans-mdp").get()
    assert event.details["before"]["email"] == "sans.mdp@region.example"
    assert event.details["after"]["email"] == "nouvelle.adresse@region.example"
    # a password-free account keeps an address: it is how it signs in
    emptied = admin.post(f"/gestion/comptes/{account.pk}/", {
        "role": "lecteur", "actif": "oui", "email": ""}, follow=True)
    assert "garde son adresse" in emptied.content.decode()


@pytest.mark.appdb
def test_failed_provider_sign_ins_are_throttled_per_address(
    site: str, oidc_on: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused sign-ins through the provider count per client address (behind a trusted
    reverse proxy, the one X-Forwarded-For gives); answers to no sign-in started here count
    for nothing (anyone could send them to lock everyone behind the proxy out)."""
    from observatoire.stewardship.models import SignInFailure
    from observatoire.stewardship.views import MAX_PROVIDER_FAILURES

    SignInFailure.objects.filter(username__startswith="oidc:").delete()
    monkeypatch.setenv("OBSERVATOIRE_TRUSTED_PROXIES", "127.0.0.1")
    try:
        with requests.Session() as http:
            for _ in range(MAX_PROVIDER_FAILURES + 5):
                bogus = http.get(site + CALLBACK + "?error=Appelez+le+0800&state=x",
                                 headers={"X-Forwarded-For": "203.0.113.9"})
                assert bogus.status_code == 401
                assert "0800" not in bogus.text  # the provider's text is not shown as is
        assert not SignInFailure.objects.filter(username__startswith="oidc:").exists()
        # real refusals (the provider knows the person, the observatory has no account)
        for n in range(MAX_PROVIDER_FAILURES):
            http = requests.Session()
            callback = _at_provider(http, site, "/gestion/connexion/oidc/",
                                    f"inconnu-{n}@region.example")
            with http:
                refused = http.get(callback, headers={"X-Forwarded-For": "203.0.113.9"})
                assert refused.status_code == 403
        assert set(SignInFailure.objects.filter(username__startswith="oidc:")
                   .values_list("address", flat=True)) == {"203.0.113.9"}
        with requests.Session() as http:
            locked = http.get(site + CALLBACK + "?code=a&state=b",
                              headers={"X-Forwarded-For": "203.0.113.9"})
            assert locked.status_code == 429 and "Trop de connexions" in locked.text
            # another client behind the same proxy is not locked out; a forged first hop
            # does not change the address the proxy saw
            other = http.get(site + CALLBACK + "?code=a&state=b",
                             headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.7"})
            assert other.status_code == 400
    finally:
        SignInFailure.objects.filter(username__startswith="oidc:").delete()


@pytest.mark.appdb
def test_an_address_the_provider_does_not_say_is_verified_opens_no_session(
    site: str, oidc_on: str
) -> None:
    """Matching by e-mail is safe only for addresses the provider vouches for: one it says is
    unverified never opens a session; one it says nothing about only when the administrator
    declares that the organisation alone assigns addresses at that provider."""
    make_account("oidc-nv", "lecteur", email="non-verifie.anne@region.example")
    make_account("oidc-sv", "lecteur", email="sans-verif.paul@region.example")
    http, refused = _sign_in(site, "non-verifie.anne@region.example")
    with http:
        assert refused.status_code == 403 and "pas vérifiée : elle ne peut" in refused.text
    http, refused = _sign_in(site, "sans-verif.paul@region.example")
    with http:
        assert refused.status_code == 403 and "ne dit pas que" in refused.text
        assert http.get(site + "/gestion/", allow_redirects=False).status_code == 302
    with _configured(oidc_on, trust_unverified_email=True):
        http, landed = _sign_in(site, "sans-verif.paul@region.example")
        with http:
            assert landed.status_code == 200 and landed.url == site + "/gestion/"
        http, refused = _sign_in(site, "non-verifie.anne@region.example")
        with http:  # "unverified" stays a refusal whatever the setting
            assert refused.status_code == 403


def test_trusted_proxies_are_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSERVATOIRE_TRUSTED_PROXIES", "10.0.0.5, 10.0.0.6 ::1")
    assert Settings.from_env().trusted_proxies == ("10.0.0.5", "10.0.0.6", "::1")
    monkeypatch.setenv("OBSERVATOIRE_TRUSTED_PROXIES", "10.0.0.5,proxy.interne")
    with pytest.raises(ConfigError) as bad:
        Settings.from_env()
    assert "« proxy.interne » n'est pas une adresse IP" in bad.value.message
