"""Django for the command line: configure it from a ``Settings`` and migrate the database."""

from __future__ import annotations

import os
from collections.abc import Callable

from rich.markup import escape

from observatoire.config import Settings


def django_for(settings: Settings) -> None:
    """Set up Django on the application database of these settings (once per process)."""
    os.environ["OBSERVATOIRE_HOME"] = str(settings.home)
    os.environ["OBSERVATOIRE_PROFILE"] = settings.profile
    if settings.database_url:
        os.environ["OBSERVATOIRE_DATABASE_URL"] = settings.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "observatoire.web.settings")
    import django

    django.setup()


def migrate(settings: Settings, on_note: Callable[[str], None] | None = None) -> list[str]:
    """Bring the application database to the current migrations; the names applied. Then
    bring in, once, the legacy Egalim decisions file of the data home (see
    :mod:`observatoire.stewardship.legacy`), saying so through ``on_note`` (default: the
    error stream, which keeps ``--json`` outputs clean)."""
    settings.ensure_home()
    from observatoire.console import err

    for warning in settings.permission_warnings():
        err.print(f"[yellow]Attention[/] : {escape(warning)}")
    django_for(settings)
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from observatoire.errors import ConfigError

    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        if exc.__class__.__name__ != "OperationalError":
            raise
        raise ConfigError(
            f"La base applicative ne répond pas : {str(exc).strip()}",
            where=connection.settings_dict.get("HOST") or connection.settings_dict["NAME"],
            hint="Vérifiez OBSERVATOIRE_DATABASE_URL et que le serveur est démarré.",
        ) from exc
    if plan:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
    from observatoire.stewardship.legacy import import_legacy_decisions

    note = import_legacy_decisions(settings)
    if note:
        if on_note is None:
            err.print(note)
        else:
            on_note(note)
    return [f"{m.app_label}.{m.name}" for m, _ in plan]
