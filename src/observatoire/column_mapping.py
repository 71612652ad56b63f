"""What every column mapping shares (Egalim purchase exports, finance exports): how header
names are compared, how the mapped columns are found in a header (with the message for a
missing or repeated one), and how the TOML file is read.

A mapping file has a ``[mapping]`` table with ``name``, ``separator``, ``date_formats``,
``decimal_separator`` and a ``[mapping.columns]`` table (canonical field = source column); each
kind of mapping adds its own fields (see :mod:`observatoire.egalim.mapping` and
:mod:`observatoire.accounting.exports`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from observatoire.errors import ConfigError


def header_key(name: str) -> str:
    """A header name as compared: case, surrounding spaces and a byte-order mark ignored."""
    return name.strip().lstrip("\ufeff").strip().lower()


@dataclass
class HeaderProblem:
    """One header error: the column concerned, what is wrong and what to do."""

    column: str
    value: str
    message: str
    hint: str


class ColumnFinder:
    """Finds mapped source columns in a header (any order; extra columns allowed), keeping a
    :class:`HeaderProblem` for each one absent or repeated."""

    def __init__(self, header: list[str]) -> None:
        self.positions: dict[str, list[int]] = {}
        for i, name in enumerate(header):
            self.positions.setdefault(header_key(name), []).append(i)
        self.available = ", ".join(f"« {h} »" for h in header if h.strip()) or "aucune"
        self.problems: list[HeaderProblem] = []

    def find(self, source: str, what: str) -> int | None:
        """The index of column ``source`` (mapped to field ``what``), or None and a problem."""
        found = self.positions.get(header_key(source), [])
        if len(found) == 1:
            return found[0]
        message = (
            f"La colonne « {source} » ({what}) est absente de l'en-tête."
            if not found
            else f"La colonne « {source} » ({what}) apparaît {len(found)} fois dans l'en-tête."
        )
        self.problems.append(
            HeaderProblem(
                source,
                "",
                message,
                f"Colonnes présentes : {self.available}. Corrigez le fichier ou la "
                "correspondance.",
            )
        )
        return None


def load_mapping_toml(path: Path) -> Any:
    """The ``[mapping]`` table of a mapping file (the whole file if it has none), unchecked."""
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Impossible de lire le fichier de correspondance ({exc}).",
            where=where,
            hint="Vérifiez le chemin et que le fichier est en UTF-8.",
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"Le fichier de correspondance n'est pas du TOML valide ({exc}).",
            where=where,
            hint="Vérifiez la syntaxe (guillemets, crochets des sections).",
        ) from exc
    return data.get("mapping", data)


def parse_separator(value: object) -> str | None:
    """A column separator as written in a mapping file (``\\t``, ``tab`` for a tabulation)."""
    if value is None:
        return None
    text = str(value)
    return {"\\t": "\t", "tab": "\t", "tabulation": "\t"}.get(text.lower(), text)


def check_number_and_separator(decimal_separator: str, separator: str | None,
                               where: str) -> None:
    """The reading options every mapping shares: the decimal separator and the column one."""
    if decimal_separator not in (".", ",", "auto"):
        raise ConfigError(
            f"Séparateur décimal « {decimal_separator} » non pris en charge.",
            where=where,
            hint="Indiquez « . », « , » ou « auto ».",
        )
    if separator is not None and len(separator) != 1:
        raise ConfigError(
            f"Séparateur de colonnes « {separator} » invalide : un seul caractère.",
            where=where,
            hint="Indiquez par exemple « ; », « , » ou « \\t », ou retirez-le pour le "
            "détecter automatiquement.",
        )
