"""Description → article mappings: suggestions by fuzzy matching, decided by a person.

``suggest`` proposes, for each description of the lines that have no known article, the closest
articles of the nomenclature (similarity of the normalised texts, :mod:`difflib` from the standard
library, on the articles that share a word stem with the description: fast enough for thousands of
descriptions against hundreds of articles, see docs/architecture.md). The proposals are written to a
CSV file that a person reviews: in the column ``decision`` they write ``accepter`` or ``refuser``,
or put another article code in ``code_retenu``. ``read_decisions`` turns the reviewed file into
:class:`Reviewed` rows, all or nothing (a wrong code is reported with its line), which the CLI
records as mappings of the application database (``egalim_article``, see :mod:`decisions`).
The pages under ``/gestion/`` show the same suggestions. Nothing is ever applied without a
person's decision.
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from observatoire.egalim.decisions import description_key
from observatoire.egalim.nomenclature import Article
from observatoire.errors import ConfigError

COLUMNS = (
    "description", "lignes", "montant_ht", "famille_ligne", "code_propose", "libelle_propose",
    "famille_proposee", "score", "autres_propositions", "decision", "code_retenu",
)

#: What a reviewer writes in the column ``decision``.
DECISIONS = ("accepter", "refuser")

#: Below this similarity (0–100) no article is proposed.
MIN_SCORE = 40.0
#: A candidate of another family than the line's is worth this much less.
OTHER_FAMILY = 0.85


@dataclass(frozen=True)
class Candidate:
    article: Article
    score: float


@dataclass
class Suggestion:
    description: str
    lines: int
    amount: float
    family: str | None
    candidates: list[Candidate]

    def row(self) -> dict[str, Any]:
        best = self.candidates[0] if self.candidates else None
        return {
            "description": self.description,
            "lignes": self.lines,
            "montant_ht": f"{self.amount:.2f}",
            "famille_ligne": self.family or "",
            "code_propose": best.article.code if best else "",
            "libelle_propose": best.article.label if best else "",
            "famille_proposee": best.article.family if best else "",
            "score": f"{best.score:.0f}" if best else "",
            "autres_propositions": " | ".join(
                f"{c.article.code} {c.article.label} ({c.score:.0f})" for c in self.candidates[1:]
            ),
            "decision": "",
            "code_retenu": "",
        }


def _sorted_words(text: str) -> str:
    return " ".join(sorted(text.split()))


def _stems(key: str) -> set[str]:
    """The first four letters of each word of three letters or more (typos past them, plurals
    and units do not matter)."""
    return {w[:4] for w in key.split() if len(w) >= 3 and not w.isdigit()}


class Matcher:
    """The articles of a nomenclature, prepared for repeated fuzzy look-ups.

    Only the articles that share a word stem with the description are scored (an index of
    stems): :mod:`difflib` costs some 20 µs a comparison, too much for every pair at scale.
    """

    def __init__(self, articles: list[Article]) -> None:
        self.articles = articles
        self._keys = [(description_key(a.label), _sorted_words(description_key(a.label)))
                      for a in articles]
        self._index: dict[str, list[int]] = {}
        for i, (key, _) in enumerate(self._keys):
            for stem in _stems(key):
                self._index.setdefault(stem, []).append(i)

    def candidates(self, description: str, family: str | None = None,
                   limit: int = 3) -> list[Candidate]:
        key = description_key(description)
        words = _sorted_words(key)
        plain = difflib.SequenceMatcher(autojunk=False)
        plain.set_seq2(key)
        by_words = difflib.SequenceMatcher(autojunk=False)
        by_words.set_seq2(words)
        scored = []
        shared = sorted({i for stem in _stems(key) for i in self._index.get(stem, ())})
        for i in shared:
            article, (label, label_words) = self.articles[i], self._keys[i]
            plain.set_seq1(label)
            by_words.set_seq1(label_words)
            score = 100 * max(plain.ratio(), by_words.ratio())
            if family and article.family != family:
                score *= OTHER_FAMILY
            if score >= MIN_SCORE:
                scored.append(Candidate(article, round(score, 1)))
        scored.sort(key=lambda c: (-c.score, c.article.code))
        return scored[:limit]


def group(
    lines: list[tuple[str, int, float, str | None]],
    decided: set[str] | frozenset[str] = frozenset(),
) -> list[Suggestion]:
    """``lines`` (description, line count, amount, family) not yet ``decided`` (description
    keys), one per description key, the largest amounts first, without candidates yet."""
    merged: dict[str, Suggestion] = {}
    for description, count, amount, family in lines:
        key = description_key(description)
        if not key or key in decided:
            continue
        s = merged.get(key)
        if s is None:
            merged[key] = Suggestion(description, count, amount, family, [])
        else:
            s.lines += count
            s.amount += amount
            s.family = s.family or family
    return sorted(merged.values(), key=lambda s: (-s.amount, s.description))


def suggest(
    lines: list[tuple[str, int, float, str | None]], articles: list[Article],
    decided: set[str] | frozenset[str] = frozenset(),
) -> list[Suggestion]:
    """Suggestions for ``lines`` (description, line count, amount, family) not yet ``decided``
    (description keys), the largest amounts first. Descriptions with the same key are merged."""
    matcher = Matcher(articles)
    out = group(lines, decided)
    for s in out:
        s.candidates = matcher.candidates(s.description, s.family)
    return out


def write_suggestions(path: Path, suggestions: list[Suggestion]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, delimiter=";", lineterminator="\n")
        writer.writeheader()
        for s in suggestions:
            writer.writerow(s.row())


@dataclass(frozen=True)
class Reviewed:
    """One decided row of a reviewed suggestions file."""

    description: str
    article_code: str | None  # None: refused (no article fits)
    proposed_code: str | None
    score: float | None
    line: int

    @property
    def key(self) -> str:
        return description_key(self.description)


def read_decisions(path: Path, articles: list[Article]) -> list[Reviewed]:
    """The decisions of a reviewed suggestions file (rows left undecided are skipped)."""
    codes = {a.code for a in articles}
    out: list[Reviewed] = []
    try:
        fh = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ConfigError(f"Fichier illisible : {exc.strerror}.", where=str(path),
                          hint="Donnez le fichier de propositions relu.") from None
    with fh:
        first = fh.readline()
        fh.seek(0)
        reader = csv.DictReader(fh, delimiter=";" if first.count(";") >= first.count(",") else ",")
        missing = [c for c in ("description", "decision", "code_retenu", "code_propose")
                   if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(
                f"Colonnes manquantes : {', '.join(missing)}.", where=str(path),
                hint="Partez du fichier écrit par « observatoire egalim correspondances "
                "suggerer ».",
            )
        for n, row in enumerate(reader, start=2):
            where = f"{path}, ligne {n}"
            decision = (row.get("decision") or "").strip().lower()
            chosen = (row.get("code_retenu") or "").strip()
            proposed = (row.get("code_propose") or "").strip() or None
            description = (row.get("description") or "").strip()
            if not decision and not chosen:
                continue
            if decision and decision not in DECISIONS:
                raise ConfigError(
                    f"Décision « {row.get('decision')} » inconnue.", where=where,
                    hint="Écrivez « accepter » ou « refuser », ou un code dans code_retenu.",
                )
            if decision == "refuser" and chosen:
                raise ConfigError(
                    "La ligne refuse la proposition et donne pourtant un code retenu.",
                    where=where, hint="Laissez code_retenu vide, ou écrivez « accepter ».",
                )
            code = None
            if decision != "refuser":
                code = chosen or proposed
                if not code:
                    raise ConfigError("Aucun article à accepter sur cette ligne.", where=where,
                                      hint="Donnez un code dans code_retenu, ou « refuser ».")
                if code not in codes:
                    raise ConfigError(
                        f"Le code « {code} » n'est pas dans la nomenclature.", where=where,
                        hint="Choisissez un code de la nomenclature du profil.",
                    )
            if not description_key(description):
                raise ConfigError("Ligne sans description.", where=where,
                                  hint="Ne modifiez pas la colonne description.")
            score = (row.get("score") or "").strip()
            out.append(Reviewed(
                description=description, article_code=code, proposed_code=proposed,
                score=float(score) if score.replace(".", "", 1).isdigit() else None, line=n,
            ))
    return out
