"""Django settings, derived from the observatory's one typed configuration (``Settings``).

Nothing secret lives in the repository: the secret key comes from ``OBSERVATOIRE_SECRET_KEY``
or is generated once into the data home (readable by its owner only).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from observatoire.config import Settings

OBSERVATOIRE = Settings.from_env()


def _secret_key(home: Path) -> str:
    if os.environ.get("OBSERVATOIRE_SECRET_KEY"):
        return os.environ["OBSERVATOIRE_SECRET_KEY"]
    path = home / "secret_key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key(OBSERVATOIRE.home)
DEBUG = os.environ.get("OBSERVATOIRE_DEBUG_WEB") == "1"
_HOSTS = os.environ.get("OBSERVATOIRE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
ALLOWED_HOSTS = [h.strip() for h in _HOSTS.split(",") if h.strip()]
ROOT_URLCONF = "observatoire.web.urls"
WSGI_APPLICATION = "observatoire.web.wsgi.application"
INSTALLED_APPS = ["observatoire.web"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "observatoire.web.assets.frontend",
            ]
        },
    }
]
# The application database (accounts, corrections… in later issues) lives in the data home.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(OBSERVATOIRE.home / "application.sqlite3"),
    }
}
LANGUAGE_CODE = "fr"
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Pages are kept in memory until the warehouse changes (see views.cached_by_warehouse).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 500},
    }
}
