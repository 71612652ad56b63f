"""The decisions people take on description → article mappings, kept outside the warehouse.

The warehouse is derived and rebuilt from the landed files; a person's decision is an input, so
it lives in a small SQLite file of the data home (``egalim-decisions.sqlite``), beside the load
log. The history is append-only (a new decision on a description supersedes the previous one, which
stays); the view ``current_decisions`` gives the latest decision per description.

The interface (:class:`DecisionStore`: ``record``, ``current``, ``history``, ``accepted``) is all
the rest of the code uses, so the store can later move into the stewardship application's
database (with its audit trail) without touching the build.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from observatoire.egalim.labels import normalise_label

FILE_NAME = "egalim-decisions.sqlite"

DECISIONS = ("accepter", "refuser")

SCHEMA = """
CREATE TABLE IF NOT EXISTS mapping_decisions (
    decision_id     INTEGER PRIMARY KEY,
    description_key TEXT NOT NULL,     -- the description, normalised (see description_key)
    description     TEXT NOT NULL,     -- as written on the line the person saw
    decision        TEXT NOT NULL CHECK (decision IN ('accepter', 'refuser')),
    article_code    TEXT,              -- the article accepted (NULL when refused)
    proposed_code   TEXT,              -- what the suggestion proposed
    score           REAL,              -- the suggestion's similarity (0–100)
    decided_by      TEXT NOT NULL,
    decided_at      TEXT NOT NULL,
    source_file     TEXT
);
CREATE INDEX IF NOT EXISTS mapping_decisions_key ON mapping_decisions (description_key);
CREATE VIEW IF NOT EXISTS current_decisions AS
SELECT d.* FROM mapping_decisions d
WHERE d.decision_id = (SELECT max(decision_id) FROM mapping_decisions x
                       WHERE x.description_key = d.description_key);
"""


def description_key(description: str) -> str:
    """The key a description is decided on: case, accents and punctuation ignored."""
    return normalise_label(description)


@dataclass(frozen=True)
class Decision:
    description_key: str
    description: str
    decision: str
    article_code: str | None
    proposed_code: str | None
    score: float | None
    decided_by: str
    decided_at: str
    source_file: str | None = None
    decision_id: int | None = None


class DecisionStore:
    """The decisions file of a data home. Every statement is parameterised."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(SCHEMA)

    @classmethod
    def of_home(cls, home: Path) -> DecisionStore:
        return cls(home / FILE_NAME)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30)
        con.row_factory = sqlite3.Row
        try:
            with con:
                yield con
        finally:
            con.close()

    def record(self, decisions: list[Decision]) -> int:
        """Append decisions (one transaction); returns how many were written."""
        with self._connect() as con:
            con.executemany(
                """INSERT INTO mapping_decisions (description_key, description, decision,
                       article_code, proposed_code, score, decided_by, decided_at, source_file)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [(d.description_key, d.description, d.decision, d.article_code,
                  d.proposed_code, d.score, d.decided_by, d.decided_at, d.source_file)
                 for d in decisions],
            )
        return len(decisions)

    def _select(self, sql: str) -> list[Decision]:
        with self._connect() as con:
            return [Decision(**dict(r)) for r in con.execute(sql).fetchall()]

    def current(self) -> list[Decision]:
        """The latest decision per description."""
        return self._select("SELECT * FROM current_decisions ORDER BY description_key")

    def history(self) -> list[Decision]:
        return self._select("SELECT * FROM mapping_decisions ORDER BY decision_id")

    def accepted(self) -> dict[str, str]:
        """description key → article code, for the descriptions whose latest decision accepts."""
        return {d.description_key: d.article_code for d in self.current()
                if d.decision == "accepter" and d.article_code}
