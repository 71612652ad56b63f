"""Shared fixtures: the real demo files, and a warehouse built from them once per session."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import pytest

from observatoire.build import build
from observatoire.config import Settings
from observatoire.connectors.ingest import ingest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass
class Warehouse:
    """A built data home and a read-only connection to its warehouse."""

    settings: Settings
    con: duckdb.DuckDBPyConnection

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def value(self, sql: str, params: list[Any] | None = None) -> Any:
        row = self.con.execute(sql, params or []).fetchone()
        return row[0] if row else None


def warehouse_rows(settings: Settings, sql: str,
                   params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of a query on the warehouse in service, read-only (closed at once, so that a build
    or the pages may replace it next)."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def make_warehouse(home: Path, *paths: Path) -> Warehouse:
    settings = Settings(home=home)
    ingest(settings, list(paths))
    build(settings)
    return Warehouse(settings, duckdb.connect(str(settings.warehouse_path), read_only=True))


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """The demo data (real DECP files and reference extracts), ingested and built once."""
    wh = make_warehouse(tmp_path_factory.mktemp("demo-home"), DEMO / "decp", DEMO / "ref")
    yield wh
    wh.con.close()


# --- The application database (accounts, corrections, audit trail) -------------------------
#
# Django makes a test database and drops it at the end: a SQLite file in a temporary folder,
# or, when OBSERVATOIRE_TEST_DATABASE_URL names a PostgreSQL server, a database with a unique
# name on that server (so runs on the same server do not collide). A database configured for
# real use (OBSERVATOIRE_DATABASE_URL) is never touched: the tests ignore that variable.


@dataclass
class AppDb:
    """The test application database: its URL for the build, its vendor."""

    url: str
    vendor: str

    def settings(self, home: Path) -> Settings:
        """Settings of a data home whose builds read this database's corrections."""
        return Settings(home=home, database_url=self.url)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.pop("OBSERVATOIRE_DATABASE_URL", None)


def _url(db: Any) -> str:
    from urllib.parse import quote

    if db.vendor == "sqlite":
        return f"sqlite:///{db.name}"
    auth = quote(db.user) + (":" + quote(db.password) if db.password else "")
    return f"postgresql://{auth}@{db.host or 'localhost'}:{db.port or 5432}/{quote(db.name)}"


@pytest.fixture(scope="session")
def application_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppDb]:
    server = os.environ.get("OBSERVATOIRE_TEST_DATABASE_URL", "").strip()
    os.environ.setdefault("OBSERVATOIRE_HOME", str(tmp_path_factory.mktemp("app-home")))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatoire.web.settings")
    if server:
        os.environ["OBSERVATOIRE_DATABASE_URL"] = server
    try:
        import django

        django.setup()
        from django.db import connection
    finally:
        os.environ.pop("OBSERVATOIRE_DATABASE_URL", None)
    from django.test.utils import setup_databases, teardown_databases

    from observatoire.stewardship.database import url_of

    expected = "postgresql" if server else "sqlite"
    assert connection.vendor == expected, (
        f"Django was set up on {connection.vendor} before the tests could choose {expected}")
    connection.settings_dict["TEST"]["NAME"] = (
        f"test_observatoire_{os.getpid()}_{secrets.token_hex(4)}" if server
        else str(tmp_path_factory.mktemp("appdb") / "test-application.sqlite3"))
    old = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        yield AppDb(_url(url_of(connection.settings_dict)), connection.vendor)
    finally:
        connection.close()
        teardown_databases(old, verbosity=0)


def clear_corrections() -> None:
    """No correction, mapping nor target change in the shared test database (the audit trail
    stays: it is append-only, so tests read only the events of their own objects)."""
    from observatoire.stewardship.models import Correction, Mapping, TargetChange

    Correction.objects.update(supersedes=None)
    Correction.objects.all().delete()
    Mapping.objects.all().delete()
    TargetChange.objects.update(supersedes=None)
    TargetChange.objects.all().delete()


@pytest.fixture
def no_corrections(application_database: AppDb) -> None:
    """Start a test with no correction in the shared test database."""
    clear_corrections()


def make_account(username: str, role: str, *scopes: str, password: str | None = None,
                 directorates: dict[str, str] | None = None, email: str = "") -> Any:
    """An account made as the CLI makes it (password checked by the validators);
    ``directorates``: those of the profile, for ``direction:`` scopes."""
    from observatoire.stewardship.models import Account
    from observatoire.stewardship.services import create_account

    existing = Account.objects.filter(user__username=username).first()
    if existing is not None:
        return existing
    return create_account("tests", username, password or f"{username}-Mot-de-passe-2026",
                          role, list(scopes), directorates, email=email)


@pytest.fixture(scope="module")
def client(demo_warehouse: Warehouse) -> Iterator[object]:
    """Django's test client on the demo warehouse (the public pages and their twins)."""
    os.environ["OBSERVATOIRE_HOME"] = str(demo_warehouse.settings.home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatoire.web.settings")
    import django

    django.setup()
    from django.test import Client

    yield Client()


@contextmanager
def live_server(**adjustments: Any) -> Iterator[str]:
    """The site served by waitress on a free port in a thread, as ``observatoire serve`` does;
    its base URL. Stopped from the server's own loop thread: closing its sockets from the test's
    thread raced with the loop (an exception in the server's thread, which pytest, warnings
    being errors, blamed on whichever test ran next)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatoire.web.settings")
    from django.db import connection
    from waitress import create_server, wasyncore

    from observatoire.web.wsgi import application

    # the server's threads close their connection after each request, so that the test
    # database (on PostgreSQL too) can be dropped at the end
    kept = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 0
    server = create_server(application, host="127.0.0.1", port=0, threads=4, **adjustments)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    finally:
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server.map))  # type: ignore[union-attr]
        thread.join(10)
        server.task_dispatcher.shutdown()  # type: ignore[union-attr]
        connection.settings_dict["CONN_MAX_AGE"] = kept


@contextmanager
def stewardship_home(application_database: AppDb, folder: Path,
                     profile: str | None = None) -> Iterator[Settings]:
    """A data home built from the two DECP 2024 demo files, for the pages under /gestion/.
    The pages read the environment, which other modules' commands may have left pointing
    elsewhere (the CLI exports its home and profile for Django): both are set, then restored.
    Corrections other tests left are cleared first, so they do not reach this warehouse."""
    settings = application_database.settings(folder)
    if profile is not None:
        settings = replace(settings, profile=profile)
    ingest(settings, [DEMO / "decp" / "v2"])
    clear_corrections()
    build(settings)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OBSERVATOIRE_HOME", str(settings.home))
        env.setenv("OBSERVATOIRE_PROFILE", settings.profile)
        yield settings


def signed_in(user: Any = None, **kwargs: Any) -> Any:
    """Django's test client, signed in as ``user`` (anonymous without one)."""
    from django.test import Client

    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client
