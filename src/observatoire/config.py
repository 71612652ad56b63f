"""The one typed place for configuration.

Settings come from the environment (prefix ``OBSERVATOIRE_``) with documented defaults; the CLI may
override the data home. Everything the observatory writes lives under the data home.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from observatoire.errors import ConfigError


def _default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "observatoire"


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
        try:
            batch = int(env.get("OBSERVATOIRE_BATCH_SIZE", "20000"))
            threads = int(env.get("OBSERVATOIRE_THREADS", "0"))
            workers = int(env.get("OBSERVATOIRE_WORKERS", str(os.cpu_count() or 1)))
            session_minutes = int(env.get("OBSERVATOIRE_SESSION_MINUTES", "240"))
        except ValueError as exc:
            raise ConfigError(
                "Une variable d'environnement numérique n'est pas un entier.",
                where="OBSERVATOIRE_BATCH_SIZE, OBSERVATOIRE_THREADS, OBSERVATOIRE_WORKERS ou "
                "OBSERVATOIRE_SESSION_MINUTES",
                hint="Donnez un nombre entier, par exemple OBSERVATOIRE_THREADS=2.",
            ) from exc
        return cls(
            home=chosen.expanduser().resolve(),
            batch_size=max(batch, 100),
            memory_limit=env.get("OBSERVATOIRE_MEMORY_LIMIT", "1500MB"),
            threads=max(threads, 0),
            workers=max(workers, 1),
            profile=env.get("OBSERVATOIRE_PROFILE") or "generique",
            database_url=env.get("OBSERVATOIRE_DATABASE_URL", "").strip(),
            session_minutes=max(session_minutes, 5),
            https=env.get("OBSERVATOIRE_HTTPS") == "1",
        )

    def ensure_home(self) -> None:
        """Create the data home and its folders, with a clear error if that is impossible."""
        try:
            for d in (self.home, self.landing_dir, self.staging_dir, self.work_dir):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"Impossible de créer le dossier de données : {exc.strerror}.",
                where=str(self.home),
                hint="Choisissez un dossier accessible en écriture (OBSERVATOIRE_HOME ou --home).",
            ) from exc
