"""The declared provenance of finance files: a ``.provenance.toml`` beside them says that the
files of its folder are simulated (the demo's PES set), so that their lines are labelled
simulated on every page, in the API and in the datasets — whatever the files are called.

    # .provenance.toml
    simule = true
    description = "Jeu PES V2 simulé de la démonstration : aucun paiement réel."

The connector reads it when it parses a file and writes what it declares into the file's
load-log line (a finding ``jeu_simule``, severity ``information``): the build reads it from
there (``connectors/accounting._staged``), so it holds even when the file is read again later
from its landed copy. The name is hidden (a leading dot) so that ingesting the folder never
takes it for a data file. Files named ``SIMULE_…`` (what ``accounting.simulate`` wrote before
this declaration existed) are still labelled simulated: a fallback for loads logged earlier.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from observatoire.errors import InputFileError

FILE_NAME = ".provenance.toml"
#: The load-log finding that records a declared simulated file.
SIMULATED_CODE = "jeu_simule"
#: The file-name prefix of the files ``accounting.simulate`` writes (fallback only).
LEGACY_PREFIX = "SIMULE_"
_KEYS = {"simule", "description"}


@dataclass(frozen=True)
class Provenance:
    simulated: bool
    description: str
    declared_in: Path


def declared(folder: Path) -> Provenance | None:
    """The provenance declared for the files of ``folder``; None when it declares none.
    A declaration that cannot be read raises: a file must never pass for real by mistake."""
    path = folder / FILE_NAME
    if not path.is_file():
        return None
    hint = ("Écrivez par exemple « simule = true » et « description = \"…\" », ou retirez le "
            "fichier (voir docs/accounting.md, « Fichiers simulés »).")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise InputFileError(f"La déclaration de provenance est illisible ({error}).",
                             where=str(path), hint=hint) from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise InputFileError(f"La déclaration de provenance a des clés inconnues : "
                             f"{', '.join(unknown)}.", where=str(path), hint=hint)
    if not isinstance(data.get("simule"), bool):
        raise InputFileError("La déclaration de provenance doit dire « simule = true » ou "
                             "« simule = false ».", where=str(path), hint=hint)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise InputFileError("La description de la provenance doit être un texte.",
                             where=str(path), hint=hint)
    return Provenance(data["simule"], description, path)


def finding(provenance: Provenance, shown: str) -> dict[str, Any]:
    """The load-log line's record of a simulated file."""
    said = f" ({provenance.description})" if provenance.description else ""
    return {"code": SIMULATED_CODE, "severity": "information",
            "message": f"Fichier déclaré simulé par {provenance.declared_in.name}{said} : ses "
                       "lignes sont étiquetées « simulé » sur les pages, dans l'API et les jeux "
                       "de données.",
            "where": shown,
            "hint": "Rien à faire pour une démonstration ; ne publiez pas ces lignes comme des "
                    "paiements réels."}


def is_simulated(file_name: str, errors: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a load is simulated: declared (its load-log finding), or, for a load logged
    before declarations existed, named as ``accounting.simulate`` names its files."""
    return (any(e.get("code") == SIMULATED_CODE for e in errors)
            or file_name.startswith(LEGACY_PREFIX))
