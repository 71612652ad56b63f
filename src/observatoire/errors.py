"""The exceptions a user can meet, each with what went wrong, where, and what to do.

The CLI prints them as one clear French message, never as a traceback.
"""

from __future__ import annotations

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
