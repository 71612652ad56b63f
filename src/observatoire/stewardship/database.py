"""The application database: one URL (``OBSERVATOIRE_DATABASE_URL``) for Django and the build.

``sqlite:///PATH`` (the default, in the data home) or ``postgresql://USER:PASSWORD@HOST:PORT/NAME``
(``postgres://`` too; query parameters such as ``sslmode`` are passed to the driver). Django gets
its ``DATABASES`` entry from :func:`django_database`; the build reads the corrections through
:func:`connect`, with the DB-API driver, so it needs neither Django nor a web server.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from observatoire.errors import ConfigError


@dataclass(frozen=True)
class DatabaseUrl:
    vendor: str  # sqlite | postgresql
    name: str  # file path (sqlite) or database name
    user: str = ""
    password: str = field(default="", repr=False)
    host: str = ""
    port: str = ""
    options: dict[str, str] = field(default_factory=dict)

    def with_name(self, name: str) -> DatabaseUrl:
        return DatabaseUrl(self.vendor, name, self.user, self.password, self.host, self.port,
                           dict(self.options))


def parse(url: str) -> DatabaseUrl:
    """Read a database URL, or say clearly what is wrong with it."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if not path:
            raise _bad(url, "le chemin du fichier SQLite manque")
        return DatabaseUrl("sqlite", path)
    if parts.scheme in ("postgresql", "postgres"):
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise _bad(url, "le nom de la base manque")
        return DatabaseUrl(
            "postgresql", name, unquote(parts.username or ""), unquote(parts.password or ""),
            parts.hostname or "", str(parts.port or ""), dict(parse_qsl(parts.query)),
        )
    raise _bad(url, f"le type « {parts.scheme or '?'} » n'est pas pris en charge")


def _bad(url: str, why: str) -> ConfigError:
    shown = urlsplit(url)._replace(netloc=urlsplit(url).hostname or "").geturl()
    return ConfigError(
        f"L'adresse de la base applicative est invalide : {why}.",
        where=f"OBSERVATOIRE_DATABASE_URL = {shown}",
        hint="Exemples : sqlite:///chemin/application.sqlite3 ou "
        "postgresql://utilisateur@127.0.0.1:5432/observatoire.",
    )


def django_database(url: str) -> dict[str, Any]:
    """The ``DATABASES['default']`` entry for a URL."""
    db = parse(url)
    if db.vendor == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": db.name,
                "OPTIONS": {"timeout": 30}}
    return {
        "ENGINE": "django.db.backends.postgresql", "NAME": db.name, "USER": db.user,
        "PASSWORD": db.password, "HOST": db.host, "PORT": db.port, "OPTIONS": db.options,
        "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True,
    }


def url_of(settings_dict: dict[str, Any]) -> DatabaseUrl:
    """The URL of a Django database entry (used by the tests for their test database)."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return DatabaseUrl("sqlite", str(settings_dict["NAME"]))
    return DatabaseUrl("postgresql", settings_dict["NAME"], settings_dict.get("USER") or "",
                       settings_dict.get("PASSWORD") or "", settings_dict.get("HOST") or "",
                       str(settings_dict.get("PORT") or ""),
                       dict(settings_dict.get("OPTIONS") or {}))


class Connection:
    """A DB-API connection with one parameter style (``%s``) for both drivers."""

    def __init__(self, raw: Any, vendor: str) -> None:
        self.raw = raw
        self.vendor = vendor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.vendor == "sqlite":
            sql = sql.replace("%s", "?")
        cur = self.raw.cursor()
        cur.execute(sql, tuple(params))
        return cur

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def has_table(self, name: str) -> bool:
        if self.vendor == "sqlite":
            found = self.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [name])
        else:
            found = self.execute("SELECT to_regclass(%s)", [name])
            return found.fetchone()[0] is not None
        return found.fetchone() is not None


@contextmanager
def connect(db: DatabaseUrl) -> Iterator[Connection | None]:
    """A connection in one transaction (committed at the end), or None for a SQLite file that
    does not exist yet (no account, hence no correction, was ever made)."""
    if db.vendor == "sqlite":
        if not Path(db.name).exists():
            yield None
            return
        raw: Any = sqlite3.connect(db.name, timeout=30)
    else:
        import psycopg

        params: dict[str, Any] = {
            "dbname": db.name, "user": db.user or None, "password": db.password or None,
            "host": db.host or None, "port": db.port or None, "connect_timeout": 10,
            **db.options}
        try:
            raw = psycopg.connect(**params)
        except psycopg.OperationalError as exc:
            raise ConfigError(
                f"La base applicative PostgreSQL ne répond pas : {str(exc).strip()}",
                where=f"{db.host or 'localhost'}:{db.port or 5432}/{db.name}",
                hint="Vérifiez que le serveur est démarré et OBSERVATOIRE_DATABASE_URL.",
            ) from exc
    try:
        yield Connection(raw, db.vendor)
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
