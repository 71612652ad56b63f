"""The one typed place for configuration.

Settings come from the environment (prefix ``OBSERVATOIRE_``) with documented defaults; the CLI may
override the data home. Everything the observatory writes lives under the data home.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from observatoire.errors import ConfigError


def _default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "observatoire"


#: Environment variables of the sign-in through the organisation's OpenID Connect provider.
OIDC_ENDPOINTS = {
    "authorization_endpoint": "OBSERVATOIRE_OIDC_AUTHORIZATION_ENDPOINT",
    "token_endpoint": "OBSERVATOIRE_OIDC_TOKEN_ENDPOINT",
    "userinfo_endpoint": "OBSERVATOIRE_OIDC_USERINFO_ENDPOINT",
    "jwks_uri": "OBSERVATOIRE_OIDC_JWKS_URI",
}


@dataclass(frozen=True)
class OidcSettings:
    """Sign-in through the organisation's OpenID Connect provider (off unless configured).

    The provider is named by its issuer (``OBSERVATOIRE_OIDC_ISSUER``: its endpoints are read
    from ``<issuer>/.well-known/openid-configuration``) or by explicit endpoints (which win over
    the discovery document). The client secret is read from the environment only.
    """

    client_id: str
    client_secret: str = field(repr=False)
    issuer: str = ""
    #: Explicit endpoints (``OBSERVATOIRE_OIDC_AUTHORIZATION_ENDPOINT``…), else discovered.
    authorization_endpoint: str = ""
    token_endpoint: str = ""
    userinfo_endpoint: str = ""
    jwks_uri: str = ""
    end_session_endpoint: str = ""
    #: Shown on the sign-in page: « Se connecter avec <name> » (``OBSERVATOIRE_OIDC_NAME``).
    name: str = "votre organisation"
    scopes: str = "openid email profile"
    #: The ID token's signature algorithm (``OBSERVATOIRE_OIDC_SIGN_ALGO``), checked via JWKS.
    sign_algo: str = "RS256"
    #: The callback URL registered at the provider, when the site is behind a reverse proxy
    #: that hides its public address (``OBSERVATOIRE_OIDC_REDIRECT_URI``); else derived.
    redirect_uri: str = ""
    #: Sign-out also ends the session at the provider (``OBSERVATOIRE_OIDC_PROVIDER_LOGOUT=1``).
    provider_logout: bool = False
    #: Seconds to wait for the provider (discovery, token, user info, keys).
    timeout: float = 10.0
    #: Accept addresses the provider does not say are verified (no ``email_verified`` claim),
    #: for a provider whose addresses only the organisation assigns
    #: (``OBSERVATOIRE_OIDC_TRUST_UNVERIFIED_EMAIL=1``). Off: a person could otherwise write an
    #: administrator's address in their profile at the provider and sign in as them.
    trust_unverified_email: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OidcSettings | None:
        """The provider's settings, or None when OpenID Connect is not configured."""
        values = {k: env.get(v, "").strip() for k, v in OIDC_ENDPOINTS.items()}
        issuer = env.get("OBSERVATOIRE_OIDC_ISSUER", "").strip().rstrip("/")
        client_id = env.get("OBSERVATOIRE_OIDC_CLIENT_ID", "").strip()
        secret = env.get("OBSERVATOIRE_OIDC_CLIENT_SECRET", "").strip()
        if not (issuer or any(values.values()) or client_id or secret):
            return None
        missing = [name for name, value in (
            ("OBSERVATOIRE_OIDC_CLIENT_ID", client_id),
            ("OBSERVATOIRE_OIDC_CLIENT_SECRET", secret)) if not value]
        if not issuer:
            missing += [OIDC_ENDPOINTS[k] for k, v in values.items() if not v]
        if missing:
            raise ConfigError(
                "La connexion par le fournisseur d'identité (OpenID Connect) est à moitié "
                "configurée : il manque " + ", ".join(missing) + ".",
                where="variables d'environnement OBSERVATOIRE_OIDC_*",
                hint="Donnez OBSERVATOIRE_OIDC_ISSUER (ou les quatre adresses du fournisseur), "
                "OBSERVATOIRE_OIDC_CLIENT_ID et OBSERVATOIRE_OIDC_CLIENT_SECRET, ou aucune.")
        try:
            timeout = float(env.get("OBSERVATOIRE_OIDC_TIMEOUT", "10"))
        except ValueError as exc:
            raise ConfigError("OBSERVATOIRE_OIDC_TIMEOUT n'est pas un nombre de secondes.",
                              hint="Par exemple OBSERVATOIRE_OIDC_TIMEOUT=10.") from exc
        return cls(
            client_id=client_id, client_secret=secret, issuer=issuer, **values,
            end_session_endpoint=env.get("OBSERVATOIRE_OIDC_END_SESSION_ENDPOINT", "").strip(),
            name=env.get("OBSERVATOIRE_OIDC_NAME", "").strip() or "votre organisation",
            scopes=env.get("OBSERVATOIRE_OIDC_SCOPES", "").strip() or "openid email profile",
            sign_algo=env.get("OBSERVATOIRE_OIDC_SIGN_ALGO", "").strip() or "RS256",
            redirect_uri=env.get("OBSERVATOIRE_OIDC_REDIRECT_URI", "").strip(),
            provider_logout=env.get("OBSERVATOIRE_OIDC_PROVIDER_LOGOUT") == "1",
            timeout=max(timeout, 1.0),
            trust_unverified_email=env.get("OBSERVATOIRE_OIDC_TRUST_UNVERIFIED_EMAIL") == "1",
        )


def _addresses(text: str) -> tuple[str, ...]:
    """IP addresses separated by commas or spaces, checked."""
    out = []
    for item in text.replace(",", " ").split():
        try:
            out.append(str(ipaddress.ip_address(item)))
        except ValueError as exc:
            raise ConfigError(
                f"« {item} » n'est pas une adresse IP.", where="OBSERVATOIRE_TRUSTED_PROXIES",
                hint="Donnez les adresses des mandataires inverses, séparées par des virgules "
                "(par exemple 10.0.0.5,10.0.0.6).") from exc
    return tuple(out)


def _contact(text: str) -> str:
    """An e-mail address or an http(s) address (it becomes a link on every page)."""
    if text and not (re.fullmatch(r"[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+", text)
                     or re.fullmatch(r"https?://[^\s<>\"']+", text)):
        raise ConfigError(f"« {text} » n'est ni une adresse électronique ni une adresse web.",
                          where="OBSERVATOIRE_CONTACT",
                          hint="Par exemple OBSERVATOIRE_CONTACT=donnees@region.fr ou "
                          "OBSERVATOIRE_CONTACT=https://www.region.fr/contact.")
    return text


def _integer(env: Mapping[str, str], name: str, default: int, example: int) -> int:
    """An integer variable, or a message naming the variable and the value that is not one."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise ConfigError(f"« {text} » n'est pas un nombre entier.", where=name,
                          hint=f"Donnez un nombre entier, par exemple {name}={example}.") from exc


def _public_url(env: Mapping[str, str]) -> str:
    """``OBSERVATOIRE_PUBLIC_URL``: the site's address as people type it (scheme, host, port),
    checked here: it becomes the origin trusted by the CSRF check and an allowed host."""
    text = env.get("OBSERVATOIRE_PUBLIC_URL", "").strip().rstrip("/")
    if not text:
        return ""
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid or parts.path or parts.query or parts.fragment or parts.username:
        raise ConfigError(
            f"« {text} » n'est pas l'adresse publique d'un site.",
            where="OBSERVATOIRE_PUBLIC_URL",
            hint="Donnez le protocole et le nom (et le port s'il n'est pas le port habituel), "
            "sans chemin : par exemple OBSERVATOIRE_PUBLIC_URL=https://observatoire.region.fr.")
    return f"{parts.scheme}://{parts.netloc}".lower()


#: A DuckDB memory size: a number and a unit (decimal or binary), as ``SET memory_limit`` takes it.
MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B)", re.IGNORECASE)


def _memory_limit(env: Mapping[str, str]) -> str:
    """``OBSERVATOIRE_MEMORY_LIMIT``, checked here: it is written into DuckDB's SET statement."""
    text = env.get("OBSERVATOIRE_MEMORY_LIMIT", "").strip() or "1500MB"
    if not MEMORY_SIZE.fullmatch(text):
        raise ConfigError(f"« {text} » n'est pas une taille de mémoire.",
                          where="OBSERVATOIRE_MEMORY_LIMIT",
                          hint="Donnez un nombre suivi d'une unité (KB, MB, GB, TB), "
                          "par exemple OBSERVATOIRE_MEMORY_LIMIT=1500MB.")
    return text


@dataclass(frozen=True)
class Settings:
    """Runtime settings. ``home`` is the data home (``OBSERVATOIRE_HOME``)."""

    home: Path = field(default_factory=_default_home)
    #: Records parsed per batch before they are written to the staging file (bounds memory).
    batch_size: int = 20_000
    #: DuckDB memory cap for builds (``OBSERVATOIRE_MEMORY_LIMIT``). The process uses about
    #: 300 MB more than this (Python, Arrow), so 1500MB keeps a build under 2 GB.
    memory_limit: str = "1500MB"
    #: DuckDB worker threads for builds (``OBSERVATOIRE_THREADS``; 0 = all cores).
    threads: int = 0
    #: Processes that parse new files in parallel at ingest (``OBSERVATOIRE_WORKERS``).
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    #: Processes of ``observatoire serve`` (``OBSERVATOIRE_PROCESSUS``): one per core, since
    #: Python runs one thread at a time per process and pages are independent.
    serve_processes: int = field(default_factory=lambda: os.cpu_count() or 1)
    #: Deployment profile (``OBSERVATOIRE_PROFILE``): a shipped profile's name or a folder.
    profile: str = "generique"
    #: Application database (``OBSERVATOIRE_DATABASE_URL``): accounts, corrections, audit trail.
    #: Empty = SQLite file ``application.sqlite3`` in the data home; in production a URL such as
    #: ``postgresql://user:password@host:5432/observatoire``.
    database_url: str = ""
    #: Minutes after sign-in at which a session ends (``OBSERVATOIRE_SESSION_MINUTES``).
    session_minutes: int = 240
    #: Served behind HTTPS (``OBSERVATOIRE_HTTPS=1``): session and CSRF cookies HTTPS-only.
    https: bool = False
    #: Sign-in through the organisation's OpenID Connect provider; None = off (password only).
    oidc: OidcSettings | None = None
    #: Addresses of the reverse proxies in front of the site (``OBSERVATOIRE_TRUSTED_PROXIES``,
    #: separated by commas): from them, the client's address is read in ``X-Forwarded-For`` (for
    #: the throttling of failed sign-ins, which would otherwise count everyone as the proxy).
    trusted_proxies: tuple[str, ...] = ()
    #: How the public reaches the publisher about the data (``OBSERVATOIRE_CONTACT``: an e-mail
    #: address or a web address), shown on every page; empty = not given.
    contact: str = ""
    #: The site's host, as the legal notice must name it (``OBSERVATOIRE_HOST``: name, address
    #: and telephone of the hosting company); empty = not given.
    host: str = ""
    #: The site's public address (``OBSERVATOIRE_PUBLIC_URL``, e.g.
    #: ``https://observatoire.region.fr``): behind a reverse proxy, the origin browsers send
    #: with forms (trusted by the CSRF check) and a host the site answers to.
    public_url: str = ""
    #: Below this many contract fact rows (``indicator_contracts``), an incremental build
    #: computes the indicator step whole instead of patching it
    #: (``OBSERVATOIRE_INDICATORS_PATCH_MIN_CONTRACTS``). 0 (the default) = always patch: the
    #: patch from the changed fact rows costs less than the whole step at the demo's size too
    #: (docs/benchmarks.md, "Freshness").
    indicators_patch_min_contracts: int = 0

    @property
    def landing_dir(self) -> Path:
        """Content-addressed copies of every ingested file."""
        return self.home / "landing"

    @property
    def staging_dir(self) -> Path:
        """Parsed records (Parquet), one file per landed file and parser version; derived."""
        return self.home / "staging"

    @property
    def work_dir(self) -> Path:
        """Scratch space: DuckDB spill files, UTF-8 copies of reference files; derived."""
        return self.home / "work"

    @property
    def catalog_path(self) -> Path:
        """SQLite file holding the load log and the build log."""
        return self.home / "catalog.sqlite"

    @property
    def warehouse_path(self) -> Path:
        """The warehouse in service."""
        return self.home / "warehouse.duckdb"

    @property
    def application_database_path(self) -> Path:
        """The embedded application database (SQLite) used when no URL is configured."""
        return self.home / "application.sqlite3"

    @property
    def application_database_url(self) -> str:
        """The application database as a URL (``sqlite:///…`` when none is configured)."""
        return self.database_url or f"sqlite:///{self.application_database_path}"

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> Settings:
        """Read settings from the environment; ``home`` (e.g. from ``--home``) wins."""
        env = os.environ
        chosen = (
            Path(home)
            if home
            else Path(env["OBSERVATOIRE_HOME"])
            if env.get("OBSERVATOIRE_HOME")
            else _default_home()
        )
        batch = _integer(env, "OBSERVATOIRE_BATCH_SIZE", 20_000, 20_000)
        threads = _integer(env, "OBSERVATOIRE_THREADS", 0, 2)
        workers = _integer(env, "OBSERVATOIRE_WORKERS", os.cpu_count() or 1, 2)
        serve_processes = _integer(env, "OBSERVATOIRE_PROCESSUS", os.cpu_count() or 1, 2)
        session_minutes = _integer(env, "OBSERVATOIRE_SESSION_MINUTES", 240, 240)
        patch_min = _integer(env, "OBSERVATOIRE_INDICATORS_PATCH_MIN_CONTRACTS", 0, 200_000)
        public_url = _public_url(env)
        oidc = OidcSettings.from_env(env)
        if oidc and public_url and not oidc.redirect_uri:
            # the callback at the public address, whatever scheme the proxy is believed for
            oidc = replace(oidc, redirect_uri=f"{public_url}/gestion/connexion/oidc/retour/")
        return cls(
            home=chosen.expanduser().resolve(),
            batch_size=max(batch, 100),
            memory_limit=_memory_limit(env),
            threads=max(threads, 0),
            workers=max(workers, 1),
            serve_processes=max(serve_processes, 1),
            profile=env.get("OBSERVATOIRE_PROFILE") or "generique",
            database_url=env.get("OBSERVATOIRE_DATABASE_URL", "").strip(),
            session_minutes=max(session_minutes, 5),
            https=env.get("OBSERVATOIRE_HTTPS") == "1",
            oidc=oidc,
            trusted_proxies=_addresses(env.get("OBSERVATOIRE_TRUSTED_PROXIES", "")),
            contact=_contact(env.get("OBSERVATOIRE_CONTACT", "").strip()),
            host=env.get("OBSERVATOIRE_HOST", "").strip(),
            public_url=public_url,
            indicators_patch_min_contracts=max(patch_min, 0),
        )

    def ensure_home(self) -> None:
        """Create the data home and its folders, with a clear error if that is impossible.
        A home created here is its owner's only (0700): it holds the application database
        (live sessions, password hashes, e-mail addresses) and the secret key."""
        try:
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
            for d in (self.landing_dir, self.staging_dir, self.work_dir):
                d.mkdir(exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"Impossible de créer le dossier de données : {exc.strerror}.",
                where=str(self.home),
                hint="Choisissez un dossier accessible en écriture (OBSERVATOIRE_HOME ou --home).",
            ) from exc

    def permission_warnings(self) -> list[str]:
        """What other local users could read in the data home (French, one line each)."""
        found = []
        checks = [(self.home, "Le dossier de données", "700"),
                  (self.application_database_path, "La base applicative (comptes, sessions, "
                   "mots de passe chiffrés, adresses électroniques)", "600"),
                  (self.home / "secret_key", "La clé secrète du site", "600")]
        for path, what, wanted in checks:
            try:
                mode = path.stat().st_mode & 0o777
            except OSError:
                continue
            if mode & 0o077:
                found.append(f"{what} est lisible par d'autres utilisateurs de la machine "
                             f"(droits {mode:o}) : {path}. Que faire : chmod {wanted} {path}")
        return found


def create_private_file(path: Path) -> None:
    """Create ``path`` empty, readable by its owner only (0600), unless it exists: for files
    that other local users must not read (SQLite takes an empty file as a new database)."""
    if path.exists():  # nothing to write (its folder may be read-only)
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
