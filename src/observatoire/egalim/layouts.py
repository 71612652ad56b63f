"""The layouts a purchase file can have, recognised from its header, and the header errors.

Without a mapping, a file must be one of ma-cantine's formats (schemas ``achats_siret.json``,
``achats_id.json``, ``achats_siret_old.json``; the old format keyed by ``cantine_id`` is
accepted too). Header names are compared like Validata does: case and surrounding spaces are
ignored, the order matters. When the header matches none of them, the closest layout is chosen
and its differences are reported one by one (missing, extra and misspelt columns).

With a :class:`~observatoire.egalim.mapping.ColumnMapping`, the columns are found by name in any
order, and extra columns are allowed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from observatoire.column_mapping import ColumnFinder, HeaderProblem, header_key
from observatoire.egalim.mapping import ColumnMapping

__all__ = ["HeaderProblem", "Resolved", "header_key", "resolve_ma_cantine", "resolve_mapping"]

CURRENT_COLUMNS = (
    "description",
    "fournisseur",
    "date",
    "prix_ht",
    "famille_produits",
    "categories_egalim",
    "origine",
    "est_circuit_court",
    "est_local",
    "definition_local",
    "definition_local_km",
)
OLD_COLUMNS = (
    "description",
    "fournisseur",
    "date",
    "prix_ht",
    "famille_produits",
    "caracteristiques",
    "definition_local",
)
#: Role of each ma-cantine column (the first column is the canteen key).
MA_CANTINE_ROLES = {
    "siret": "canteen",
    "cantine_id": "canteen",
    "description": "description",
    "fournisseur": "supplier",
    "date": "date",
    "prix_ht": "price",
    "famille_produits": "family",
    "categories_egalim": "labels",
    "caracteristiques": "labels",
    "origine": "origin",
    "est_circuit_court": "short_circuit",
    "est_local": "local",
    "definition_local": "local_definition",
    "definition_local_km": "local_km",
}
#: Mapping field -> role.
MAPPING_ROLES = {
    "canteen_siret": "canteen",
    "canteen_id": "canteen",
    "description": "description",
    "supplier": "supplier",
    "supplier_siret": "supplier_siret",
    "article_code": "article_code",
    "purchase_date": "date",
    "price_ht": "price",
    "family": "family",
    "local_definition": "local_definition",
    "local_km": "local_km",
}


@dataclass(frozen=True)
class Layout:
    """A known file layout: its format id, French label and expected header."""

    format: str
    label: str
    columns: tuple[str, ...]
    keyed_by: str  # "siret" | "id"
    old: bool


LAYOUTS = (
    Layout(
        "ma-cantine-siret",
        "ma-cantine, achats par SIRET (12 colonnes)",
        ("siret", *CURRENT_COLUMNS),
        "siret",
        False,
    ),
    Layout(
        "ma-cantine-id",
        "ma-cantine, achats par identifiant de cantine (12 colonnes)",
        ("cantine_id", *CURRENT_COLUMNS),
        "id",
        False,
    ),
    Layout(
        "ma-cantine-siret-ancien",
        "ma-cantine, ancien format par SIRET (8 colonnes)",
        ("siret", *OLD_COLUMNS),
        "siret",
        True,
    ),
    Layout(
        "ma-cantine-id-ancien",
        "ma-cantine, ancien format par identifiant de cantine (8 colonnes)",
        ("cantine_id", *OLD_COLUMNS),
        "id",
        True,
    ),
)


@dataclass
class Resolved:
    """What the header says: the format and the column index of each role."""

    format: str
    label: str
    keyed_by: str
    old: bool
    #: role -> column index (one column per role; labels may have several, see below).
    roles: dict[str, int] = field(default_factory=dict)
    label_columns: tuple[int, ...] = ()
    problems: list[HeaderProblem] = field(default_factory=list)


_DATA_LIKE = re.compile(r"^\s*(\d{9,14}|\d{4}-\d{1,2}-\d{1,2}|\d+([.,]\d+)?)\s*$")


def resolve_ma_cantine(header: list[str]) -> Resolved:
    """Recognise one of ma-cantine's layouts, or explain what is wrong with the header."""
    keys = [header_key(h) for h in header]
    for layout in LAYOUTS:
        if tuple(keys) == layout.columns:
            return _resolved(layout)
    # A header that starts with a whole layout has extra columns; one that is the start of a
    # layout misses its last ones; otherwise the most similar layout is the one meant.
    prefixed = [lay for lay in LAYOUTS if tuple(keys[: len(lay.columns)]) == lay.columns]
    truncated = [lay for lay in LAYOUTS if lay.columns[: len(keys)] == tuple(keys)]
    if prefixed:
        best = max(prefixed, key=lambda layout: len(layout.columns))
    elif truncated:
        best = min(truncated, key=lambda layout: len(layout.columns))
    else:
        best = max(LAYOUTS, key=lambda layout: _score(keys, layout.columns))
    resolved = _resolved(best)
    resolved.problems = _header_problems(header, keys, best)
    return resolved


def _resolved(layout: Layout) -> Resolved:
    roles = {MA_CANTINE_ROLES[name]: i for i, name in enumerate(layout.columns)}
    labels = (roles.pop("labels"),)
    return Resolved(layout.format, layout.label, layout.keyed_by, layout.old, roles, labels)


def _score(keys: list[str], expected: tuple[str, ...]) -> float:
    common = sum(SequenceMatcher(None, k, e).ratio() for k, e in zip(keys, expected, strict=False))
    return common - 0.5 * abs(len(keys) - len(expected))


def _expected_text(layout: Layout) -> str:
    return ",".join(layout.columns)


def _header_problems(header: list[str], keys: list[str], layout: Layout) -> list[HeaderProblem]:
    expected = layout.columns
    order_hint = (
        "Elle doit contenir les bons noms de colonnes ET dans le bon ordre : "
        f"{_expected_text(layout)} ({layout.label})."
    )
    if len(header) == 1 and any(sep in header[0] for sep in ",;\t"):
        return [
            HeaderProblem(
                "en-tête",
                header[0],
                "Première ligne du fichier incorrecte : elle ne forme qu'une seule colonne. "
                "Chaque ligne semble entourée de guillemets, ce qui colle toutes les colonnes "
                "ensemble.",
                "Enregistrez à nouveau le fichier en CSV depuis votre tableur, sans guillemets "
                "autour des lignes entières. " + order_hint,
            )
        ]
    known = {name for lay in LAYOUTS for name in lay.columns}
    data_like = sum(1 for h in header if _DATA_LIKE.match(h))
    if data_like >= 2 and not any(k in known for k in keys):
        shown = ", ".join(f"« {h} »" for h in header[:3])
        return [
            HeaderProblem(
                "en-tête",
                ",".join(header),
                "Première ligne du fichier incorrecte : elle contient des données "
                f"({shown}...) au lieu des noms de colonnes. L'en-tête est absent.",
                f"Ajoutez en première ligne l'en-tête : {_expected_text(layout)}.",
            )
        ]
    problems: list[HeaderProblem] = []
    for i, (key, want) in enumerate(zip(keys, expected, strict=False)):
        if key != want:
            problems.append(
                HeaderProblem(
                    f"colonne {want}",
                    header[i],
                    f"Valeur incorrecte : vous avez écrit « {header[i]} » au lieu de « {want} » "
                    f"(colonne {i + 1}).",
                    "Corrigez le nom de la colonne. " + order_hint,
                )
            )
    if len(keys) < len(expected):
        missing = expected[len(keys) :]
        names = ", ".join(f"« {m} »" for m in missing)
        problems.append(
            HeaderProblem(
                "en-tête",
                ",".join(header),
                f"Première ligne du fichier incorrecte : il manque {len(missing)} colonne(s) "
                f"en fin de ligne : {names}.",
                order_hint,
            )
        )
    elif len(keys) > len(expected):
        extra = header[len(expected) :]
        n = len(extra)
        label = "1 colonne supplémentaire" if n == 1 else f"{n} colonnes supplémentaires"
        names = ", ".join(f"« {x} »" for x in extra)
        problems.append(
            HeaderProblem(
                "en-tête",
                ",".join(header),
                f"{label} après « {expected[-1]} » : {names}.",
                "Supprimez la ou les colonnes en excès. Il se peut qu'un espace ou un symbole "
                "invisible soit présent dans votre fichier après la dernière colonne : "
                "supprimez aussi les colonnes vides à droite du tableau.",
            )
        )
    return problems


def resolve_mapping(header: list[str], mapping: ColumnMapping) -> Resolved:
    """Find the mapped columns in the header (any order; extra columns allowed)."""
    finder = ColumnFinder(header)
    resolved = Resolved(
        "correspondance",
        f"export lu avec la correspondance « {mapping.name} »",
        "siret" if mapping.columns.get("canteen_siret") else "id",
        False,
    )
    find = finder.find

    for fieldname, source in mapping.columns.items():
        index = find(source, fieldname)
        if index is not None:
            resolved.roles[MAPPING_ROLES[fieldname]] = index
    label_columns = [find(source, "labels") for source in mapping.labels]
    resolved.label_columns = tuple(i for i in label_columns if i is not None)
    resolved.problems = finder.problems
    return resolved
