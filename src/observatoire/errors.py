"""The exceptions a user can meet, each with what went wrong, where, and what to do.

The CLI prints them as one clear French message, never as a traceback.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass


@dataclass
class ObservatoireError(Exception):
    """A problem the user can fix: `message` says what, `where` where, `hint` what to do."""

    message: str
    where: str = ""
    hint: str = ""

    def __str__(self) -> str:
        parts = [self.message]
        if self.where:
            parts.append(f"Où : {self.where}")
        if self.hint:
            parts.append(f"Que faire : {self.hint}")
        return "\n".join(parts)


class InputFileError(ObservatoireError):
    """A source file cannot be read at all (empty, binary, unknown format...)."""


class ConfigError(ObservatoireError):
    """The configuration or the data home is not usable."""


class WarehouseMissing(ObservatoireError):
    """No warehouse has been built yet."""


class StorageError(ObservatoireError):
    """The disk is full, or a folder the observatoire writes to cannot be written."""


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READ_ONLY = {errno.EROFS}
_DENIED = {errno.EACCES, errno.EPERM}
#: What DuckDB, SQLite and Arrow say for the same conditions (they raise their own exceptions,
#: often without an errno; the text comes from the system's strerror or from SQLite).
_NO_SPACE_TEXT = ("no space left on device", "database or disk is full", "disk quota exceeded",
                  "file too large")
_READ_ONLY_TEXT = ("read-only file system", "readonly database")
_DENIED_TEXT = ("permission denied", "operation not permitted")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _condition(exc: BaseException) -> str | None:
    code = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
    text = str(exc).lower()
    if code in _NO_SPACE or any(t in text for t in _NO_SPACE_TEXT):
        return "full"
    if code in _READ_ONLY or any(t in text for t in _READ_ONLY_TEXT):
        return "read-only"
    if code in _DENIED or (not isinstance(exc, OSError) and any(t in text for t in _DENIED_TEXT)):
        return "denied"
    return None


def storage_error(exc: BaseException, home: str | os.PathLike[str]) -> StorageError | None:
    """What to tell the user, in French, when ``exc`` (or what caused it) is a full disk or a
    folder that cannot be written; None for anything else. ``home`` is the data home, which is
    what the user can free or fix. One helper for the CLI (build, ingest…) and the site
    (downloads: see ``observatoire.web.middleware``)."""
    for cause in _chain(exc):
        condition = _condition(cause)
        if condition is None:
            continue
        path = getattr(cause, "filename", None) if isinstance(cause, OSError) else None
        where = str(path or home)
        if condition == "full":
            return StorageError(
                f"Espace disque insuffisant dans {home} : l'opération s'est arrêtée avant la "
                "fin.", where=where,
                hint="Libérez de la place sur ce disque, ou placez le dossier de données sur un "
                "disque plus grand (OBSERVATOIRE_HOME), puis relancez. Une construction "
                "interrompue laisse l'entrepôt précédent en service.")
        outside = path is not None and not str(path).startswith(str(home))
        if condition == "denied" and outside:
            return StorageError(f"{path} n'est pas accessible : droits insuffisants.",
                                where=str(path),
                                hint="Vérifiez les droits de ce fichier ou dossier, puis relancez.")
        return StorageError(
            f"{home} n'est pas accessible en écriture"
            + (" (disque en lecture seule)." if condition == "read-only" else
               " (droits insuffisants)."), where=where,
            hint="Le dossier de données doit être inscriptible par l'utilisateur qui lance "
            "l'observatoire : vérifiez les droits du dossier et que son disque n'est pas monté "
            "en lecture seule, puis relancez.")
    return None
