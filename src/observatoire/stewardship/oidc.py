"""Sign-in through the organisation's OpenID Connect provider, with mozilla-django-oidc.

Off unless configured (``Settings.oidc``, from the ``OBSERVATOIRE_OIDC_*`` variables). The
library's views and backend read their settings through ``get_settings``; here that reads the
one typed configuration and the provider's discovery document
(``<issuer>/.well-known/openid-configuration``, fetched on first use and kept an hour), so no
``OIDC_*`` Django setting is written by hand and explicit endpoints win over discovered ones.

Who gets in: a person whose provider account carries an e-mail address (``email`` claim, not
marked unverified) that is the e-mail address of exactly one active account created here by an
administrator. Nobody is created by a sign-in; roles and scopes stay decided here. The ID token
is checked before that: signature with the provider's keys (JWKS, ``RS256`` by default),
issuer, audience, expiry and the nonce of the session's sign-in; the ``state`` must be one this
session started (the library keeps them in the session, one use each).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import jwt
import requests
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from observatoire.config import OidcSettings

LOG = logging.getLogger(__name__)

#: The route the provider sends people back to (registered at the provider).
CALLBACK_ROUTE = "gestion-oidc-retour"
#: How long a discovery document is kept before it is fetched again (seconds).
DISCOVERY_TTL = 3600.0


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be read or does not fit (French message)."""


class Refused(Exception):
    """The provider vouched for someone who may not sign in here (French message)."""

    def __init__(self, message: str, who: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.who = who


class NoAccount(Refused):
    """The provider's person matches no account of the observatory."""


def configured() -> OidcSettings | None:
    """The provider's settings, or None when sign-in through a provider is off."""
    oidc: OidcSettings | None = getattr(django_settings, "OBSERVATOIRE_OIDC", None)
    return oidc


_discovered: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def discover(oidc: OidcSettings) -> dict[str, Any]:
    """The provider's discovery document (kept ``DISCOVERY_TTL`` seconds)."""
    with _lock:
        cached = _discovered.get(oidc.issuer)
        if cached and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1]
    url = oidc.issuer + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=oidc.timeout)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProviderUnavailable(
            f"Le fournisseur d'identité ne répond pas ({url} : {exc}).") from exc
    if not isinstance(document, dict) or document.get("issuer", "").rstrip("/") != oidc.issuer:
        raise ProviderUnavailable(
            f"Le document de découverte de {url} annonce un autre émetteur "
            f"(« {document.get('issuer') if isinstance(document, dict) else '?'} ») "
            "que OBSERVATOIRE_OIDC_ISSUER.")
    with _lock:
        _discovered[oidc.issuer] = (time.monotonic(), document)
    return document


def endpoints(oidc: OidcSettings) -> dict[str, Any]:
    """The provider's endpoints: explicit settings, else its discovery document."""
    document = discover(oidc) if oidc.issuer else {}
    found: dict[str, Any] = {}
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                "end_session_endpoint"):
        found[key] = getattr(oidc, key) or document.get(key) or ""
    missing = [k for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                           "jwks_uri") if not found[k]]
    if missing:
        raise ProviderUnavailable(
            "Le fournisseur d'identité n'annonce pas : " + ", ".join(missing) + ".")
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    found["basic_auth"] = "client_secret_basic" in methods
    pkce = document.get("code_challenge_methods_supported")
    found["pkce"] = pkce is None or "S256" in pkce
    return found


def setting(attr: str, *default: Any) -> Any:
    """What the library asks for (``OIDC_*``), from the typed configuration."""
    oidc = configured()
    if oidc is None:
        return import_from_settings(attr, *default)
    fixed: dict[str, Any] = {
        "OIDC_RP_CLIENT_ID": oidc.client_id,
        "OIDC_RP_CLIENT_SECRET": oidc.client_secret,
        "OIDC_RP_SIGN_ALGO": oidc.sign_algo,
        "OIDC_RP_SCOPES": oidc.scopes,
        "OIDC_RP_IDP_SIGN_KEY": None,  # always the provider's published keys (JWKS)
        "OIDC_CREATE_USER": False,
        "OIDC_USE_NONCE": True,
        "OIDC_ALLOW_UNSECURED_JWT": False,
        "OIDC_VERIFY_SSL": True,
        "OIDC_TIMEOUT": oidc.timeout,
        "OIDC_STORE_ID_TOKEN": oidc.provider_logout,  # the hint sent when signing out there
        "OIDC_AUTHENTICATION_CALLBACK_URL": CALLBACK_ROUTE,
        "LOGIN_REDIRECT_URL": "/gestion/",
        "LOGIN_REDIRECT_URL_FAILURE": "/gestion/connexion/",
    }
    if attr in fixed:
        return fixed[attr]
    found = {
        "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
        "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
        "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
        "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
        "OIDC_TOKEN_USE_BASIC_AUTH": "basic_auth",
        "OIDC_USE_PKCE": "pkce",
    }
    if attr in found:
        return endpoints(oidc)[found[attr]]
    return import_from_settings(attr, *default)


class StartView(OIDCAuthenticationRequestView):  # type: ignore[misc]
    """Sends the person to the provider, with a state, a nonce and a PKCE challenge."""

    get_settings = staticmethod(setting)

    def get_extra_params(self, request: Any) -> dict[str, str]:
        oidc = configured()
        return {"redirect_uri": oidc.redirect_uri} if oidc and oidc.redirect_uri else {}


class CallbackView(OIDCAuthenticationCallbackView):  # type: ignore[misc]
    """Where the provider sends the person back; the state is checked here, the rest by
    :class:`ProviderBackend`."""

    get_settings = staticmethod(setting)


class ProviderBackend(OIDCAuthenticationBackend):  # type: ignore[misc]
    """An authentication backend beside Django's password backend. Inert unless the provider
    is configured and the request is the provider's callback: a password sign-in never
    reaches the provider (nor its discovery document)."""

    get_settings = staticmethod(setting)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.UserModel = get_user_model()

    def authenticate(self, request: Any, **kwargs: Any) -> Any:
        if configured() is None or request is None or "nonce" not in kwargs:
            return None
        OIDCAuthenticationBackend.__init__(self)  # the endpoints, discovered on first use
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id: Any) -> Any:
        return ModelBackend.get_user(self, user_id)  # refuses inactive users, like passwords

    def get_token(self, payload: dict[str, Any]) -> Any:
        oidc = configured()
        if oidc and oidc.redirect_uri:
            payload["redirect_uri"] = oidc.redirect_uri
        return super().get_token(payload)

    def get_payload_data(self, token: Any, key: Any) -> dict[str, Any]:
        """The ID token's claims once its signature, algorithm, issuer, audience and expiry
        are checked (the library checks the nonce after)."""
        oidc = configured()
        assert oidc is not None
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != oidc.sign_algo:
                raise SuspiciousOperation(
                    f"ID token signed with {header.get('alg')!r}, expected {oidc.sign_algo!r}")
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[oidc.sign_algo], audience=oidc.client_id,
                issuer=oidc.issuer or None, leeway=60,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(f"ID token refused: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != oidc.client_id:
            raise SuspiciousOperation("ID token for several audiences without our azp")
        return claims

    def get_or_create_user(self, access_token: str, id_token: str,
                           payload: dict[str, Any]) -> Any:
        """The account created here for this person's e-mail address; never a new one."""
        claims = self.get_userinfo(access_token, id_token, payload)
        if claims.get("sub") != payload.get("sub"):
            raise SuspiciousOperation("user info for another subject than the ID token")
        email = str(claims.get("email") or payload.get("email") or "").strip()
        if not email:
            raise Refused("Le fournisseur d'identité n'a pas transmis d'adresse électronique : "
                          "elle est nécessaire pour retrouver votre compte. Demandez à "
                          "l'administrateur du fournisseur d'ajouter la portée « email ».",
                          who=f"sub:{payload.get('sub')}")
        verified = claims.get("email_verified", payload.get("email_verified"))
        if verified is False or verified == "false":
            raise Refused(f"Le fournisseur d'identité indique que l'adresse « {email} » n'est "
                          "pas vérifiée : elle ne peut pas ouvrir de session ici.", who=email)
        settings = configured()
        trusted = settings is not None and settings.trust_unverified_email
        if verified not in (True, "true") and not trusted:
            raise Refused(f"Le fournisseur d'identité ne dit pas que l'adresse « {email} » est "
                          "vérifiée : elle ne peut pas ouvrir de session ici. Si seule "
                          "l'organisation attribue les adresses chez ce fournisseur, "
                          "l'administrateur de l'observatoire peut les accepter "
                          "(OBSERVATOIRE_OIDC_TRUST_UNVERIFIED_EMAIL=1).", who=email)
        users = list(self.UserModel.objects.filter(email__iexact=email,
                                                   account__isnull=False)[:2])
        if len(users) != 1:
            raise NoAccount(
                f"Votre identité est reconnue ({email}), mais aucun compte de l'observatoire "
                "n'a cette adresse électronique"
                + (" (plusieurs comptes l'ont)" if users else "")
                + ". Demandez à un administrateur de créer votre compte avec cette adresse "
                "(les rôles et les périmètres sont décidés ici).", who=email)
        if not users[0].is_active:
            raise Refused(f"Le compte « {users[0].get_username()} » est désactivé.", who=email)
        return users[0]


def logout_url(request: Any) -> str | None:
    """The provider's end-session URL when sign-out should end the session there too (read
    before the local session is flushed); None otherwise."""
    oidc = configured()
    id_token = request.session.get("oidc_id_token")
    if oidc is None or not oidc.provider_logout or not id_token:
        return None
    try:
        end = endpoints(oidc)["end_session_endpoint"]
    except ProviderUnavailable:
        LOG.warning("provider logout skipped: discovery failed")
        return None
    if not end:
        return None
    from urllib.parse import urlencode

    query = urlencode({"id_token_hint": id_token, "client_id": oidc.client_id,
                       "post_logout_redirect_uri": request.build_absolute_uri("/")})
    return f"{end}{'&' if '?' in end else '?'}{query}"
