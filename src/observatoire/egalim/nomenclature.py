"""The shared nomenclature of food articles (``[egalim] nomenclature`` of the profile).

A ``;``-separated CSV file with the columns ``code;libelle;famille``: one article per line, its
family a ma-cantine family code (see :data:`observatoire.egalim.codes.FAMILIES`). Purchase lines
are linked to an article by their article code, or by a reviewed mapping of their description
(:mod:`observatoire.egalim.decisions`); a line without a family takes its article's.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb

from observatoire.egalim.codes import FAMILIES
from observatoire.errors import ConfigError
from observatoire.warehouse import insert_rows

COLUMNS = ("code", "libelle", "famille")

ARTICLES_DDL = (
    "CREATE TABLE egalim_articles (code VARCHAR, label VARCHAR, family VARCHAR, "
    "line_number INTEGER)"
)


@dataclass(frozen=True)
class Article:
    code: str
    label: str
    family: str
    line_number: int


def read_nomenclature(path: Path | None) -> list[Article]:
    """The articles of the nomenclature file, checked; ``[]`` when the profile has none."""
    if path is None:
        return []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=";")
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ConfigError(
                f"Colonnes manquantes dans la nomenclature des articles : {', '.join(missing)}.",
                where=str(path),
                hint="Colonnes attendues (séparateur « ; ») : code;libelle;famille.",
            )
        reader.fieldnames = header
        articles: list[Article] = []
        seen: dict[str, int] = {}
        for n, row in enumerate(reader, start=2):
            code = (row.get("code") or "").strip()
            label = (row.get("libelle") or "").strip()
            family = (row.get("famille") or "").strip().upper()
            if not (code or label or family):
                continue
            where = f"{path}, ligne {n}"
            if not code:
                raise ConfigError("Article sans code.", where=where,
                                  hint="Donnez à chaque article un code unique.")
            if code in seen:
                raise ConfigError(
                    f"Le code d'article « {code} » est en double (déjà ligne {seen[code]}).",
                    where=where,
                    hint="Chaque code n'apparaît qu'une fois : fusionnez ou renumérotez.",
                )
            if family not in FAMILIES:
                raise ConfigError(
                    f"Famille inconnue « {row.get('famille') or ''} » pour l'article « {code} ».",
                    where=where,
                    hint=f"Familles possibles : {', '.join(FAMILIES)}.",
                )
            seen[code] = n
            articles.append(Article(code, label or code, family, n))
    return articles


def create_articles(con: duckdb.DuckDBPyConnection, articles: list[Article]) -> None:
    """``egalim_articles``: the nomenclature (empty when the profile has none)."""
    con.execute(ARTICLES_DDL)
    if articles:
        insert_rows(con, "egalim_articles",
                    [(a.code, a.label, a.family, a.line_number) for a in articles])
