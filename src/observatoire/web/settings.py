"""Django settings, derived from the observatory's one typed configuration (``Settings``).

Nothing secret lives in the repository: the secret key comes from ``OBSERVATOIRE_SECRET_KEY``
or is generated once into the data home (readable by its owner only).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from observatoire.config import Settings, create_private_file
from observatoire.stewardship.database import django_database

OBSERVATOIRE = Settings.from_env()


def _secret_key(home: Path) -> str:
    if os.environ.get("OBSERVATOIRE_SECRET_KEY"):
        return os.environ["OBSERVATOIRE_SECRET_KEY"]
    path = home / "secret_key"
    if not path.exists():
        create_private_file(path)
        path.write_text(secrets.token_urlsafe(50), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key(OBSERVATOIRE.home)
DEBUG = os.environ.get("OBSERVATOIRE_DEBUG_WEB") == "1"
_HOSTS = os.environ.get("OBSERVATOIRE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
ALLOWED_HOSTS = [h.strip() for h in _HOSTS.split(",") if h.strip()]
# Behind a reverse proxy (the production set-up): the public address is a host the site
# answers to and the origin browsers send with its forms (Origin: https://…), which the CSRF
# check must trust even when the proxy's scheme is not (OBSERVATOIRE_PUBLIC_URL).
if OBSERVATOIRE.public_url:
    ALLOWED_HOSTS.append(urlsplit(OBSERVATOIRE.public_url).hostname or "")
CSRF_TRUSTED_ORIGINS = [OBSERVATOIRE.public_url] if OBSERVATOIRE.public_url else []
# The scheme the proxy forwards (X-Forwarded-Proto) is believed only from the addresses of
# OBSERVATOIRE_TRUSTED_PROXIES: web.middleware.TrustedProxyMiddleware drops it from anyone else.
OBSERVATOIRE_TRUSTED_PROXIES = OBSERVATOIRE.trusted_proxies
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HSTS on every response that came over HTTPS (Django sends it on secure requests only):
# browsers then refuse plain HTTP to the site for a year. Not for subdomains: the
# organisation's other sites are not ours to decide.
SECURE_HSTS_SECONDS = 365 * 24 * 3600
ROOT_URLCONF = "observatoire.web.urls"
WSGI_APPLICATION = "observatoire.web.wsgi.application"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "observatoire.web",
    "observatoire.stewardship",
]
# Sessions, CSRF and authentication only act when a view uses them: the public pages never
# touch the session or a CSRF token, so they set no cookie and stay cacheable for everyone
# (views.cached_by_warehouse). The authenticated side lives under /gestion/.
MIDDLEWARE = [
    "observatoire.web.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "observatoire.web.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "observatoire.web.middleware.StorageErrorMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.messages.context_processors.messages",
                "observatoire.web.assets.frontend",
                "observatoire.web.site_views.site",
            ]
        },
    }
]
# The application database (accounts, corrections, audit trail): SQLite in the data home by
# default, PostgreSQL in production (OBSERVATOIRE_DATABASE_URL).
DATABASES = {"default": django_database(OBSERVATOIRE.application_database_url)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # SQLite would create it readable by everyone (0644): it holds live sessions, password
    # hashes and e-mail addresses (its journal files take its permissions).
    create_private_file(Path(DATABASES["default"]["NAME"]))
# Passwords: Argon2id (argon2-cffi), PBKDF2 accepted for hashes made before.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/gestion/connexion/"
# Passwords, and, when OBSERVATOIRE_OIDC_* configure it, the organisation's OpenID Connect
# provider (stewardship.oidc: inert otherwise; it reads the typed OBSERVATOIRE_OIDC below).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "observatoire.stewardship.oidc.ProviderBackend",
]
OBSERVATOIRE_OIDC = OBSERVATOIRE.oidc
# Sessions end OBSERVATOIRE_SESSION_MINUTES after sign-in, and when the browser closes.
SESSION_COOKIE_AGE = OBSERVATOIRE.session_minutes * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Behind HTTPS (production), cookies are sent over HTTPS only.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = OBSERVATOIRE.https
CSRF_FAILURE_VIEW = "observatoire.stewardship.views.csrf_failure"
LANGUAGE_CODE = "fr"
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Pages are kept on disk until the warehouse changes, for every process of the server
# (web.pagecache, used by web.formats.cached_by_warehouse); Django's cache is not used.
