"""People's decisions on Egalim mappings, as the Egalim build reads them.

Two kinds of mappings need a person's decision, and both live in the stewardship application's
database (``stewardship_mapping``, with the same lifecycle and audit trail as every mapping:
proposed, accepted or rejected, superseded, withdrawn):

- ``egalim_article``: a purchase-line description (its :func:`description_key`) → an article
  code of the nomenclature, or ``""`` when a person decided that no article fits;
- ``egalim_label``: a raw label string of a supplier matrix that the normaliser does not know
  (its :func:`labels.normalise_label` key) → a characteristic code, or ``""``: not a label.

The build gets the mappings in force from :func:`observatoire.stewardship.store.decisions`
(plain SQL) and turns them into the two look-up tables below. The decisions used to be kept in
a SQLite file of the data home (``egalim-decisions.sqlite``); :func:`read_legacy` reads it once
so that ``observatoire migrate`` can bring its history into the application database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from observatoire.egalim.codes import EGALIM_CHARACTERISTICS, INFO_CHARACTERISTICS
from observatoire.egalim.labels import LabelMeaning, normalise_label

ARTICLE_KIND = "egalim_article"
LABEL_KIND = "egalim_label"

#: The file where decisions were kept before they moved to the application database.
LEGACY_FILE = "egalim-decisions.sqlite"
#: What the legacy file is renamed to once imported (kept, never read again).
LEGACY_IMPORTED = "egalim-decisions.sqlite.reprise"

#: Codes a raw matrix label can be mapped to: product labels and origins. The contract-level
#: criteria (EXTERNALITES, PERFORMANCE) come from the contracts, never from a label.
LABEL_TARGETS: dict[str, str] = {
    code: label for code, label in (*EGALIM_CHARACTERISTICS.items(),
                                    *INFO_CHARACTERISTICS.items())
    if code not in ("EXTERNALITES", "PERFORMANCE")
}


def description_key(description: str) -> str:
    """The key a description is decided on: case, accents and punctuation ignored."""
    return normalise_label(description)


def article_mappings(mappings: Iterable[dict[str, Any]]) -> dict[str, str]:
    """description key → article code, for the description mappings in force that name an
    article (a decision "no article fits" links nothing)."""
    return {m["key"]: m["value"] for m in mappings
            if m["kind"] == ARTICLE_KIND and m["value"]}


def label_mappings(mappings: Iterable[dict[str, Any]]) -> dict[str, LabelMeaning]:
    """raw label key → its meaning, for the label mappings in force (``""``: not a label, it
    does not qualify and is no longer reported)."""
    return {m["key"]: LabelMeaning(m["value"] or None) for m in mappings
            if m["kind"] == LABEL_KIND}


@dataclass(frozen=True)
class LegacyDecision:
    """One row of the legacy file's append-only history."""

    decision_id: int
    description_key: str
    description: str
    decision: str  # accepter | refuser
    article_code: str | None
    proposed_code: str | None
    score: float | None
    decided_by: str
    decided_at: str
    source_file: str | None


def legacy_path(home: Path) -> Path:
    return home / LEGACY_FILE


def read_legacy(path: Path) -> list[LegacyDecision]:
    """The whole history of a legacy decisions file, oldest first (read-only)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        con.row_factory = sqlite3.Row
        found = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                            "AND name = 'mapping_decisions'").fetchone()
        if found is None:
            return []
        return [LegacyDecision(**dict(r)) for r in con.execute(
            """SELECT decision_id, description_key, description, decision, article_code,
                      proposed_code, score, decided_by, decided_at, source_file
               FROM mapping_decisions ORDER BY decision_id""").fetchall()]
    finally:
        con.close()
