"""Yearly summaries in ma-cantine's detailed import format ("bilans détaillés"), ready for the
annual télédéclaration: one row per canteen and year, ``valeur_<famille>_<catégorie>`` columns in
the order of its Table Schema (``import_bilans_detaille.json``). Combinations that do not exist
(Label Rouge for drinks, pêche durable outside fish, fermier outside meat, charcuterie and dairy)
are left empty, as the schema allows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from observatoire.egalim.codes import FAMILIES, LABEL_VALIDITY

#: Per-family columns, in the schema's order (``bio_dont_commerce_equitable`` follows ``bio``).
DETAIL_COLUMNS = (
    "bio", "bio_dont_commerce_equitable", "label_rouge", "aocaop_igp_stg", "hve",
    "peche_durable", "rup", "commerce_equitable", "fermier", "externalites", "performance",
    "non_egalim", "france", "circuit_court", "local",
)
#: Our category → the characteristic whose applicability decides if the column exists.
_APPLICABILITY = {"label_rouge": "LABEL_ROUGE", "peche_durable": "PECHE_DURABLE",
                  "fermier": "FERMIER"}


def header() -> list[str]:
    cols = ["siret", "année_bilan", "valeur_totale", "valeur_viandes_volailles",
            "valeur_produits_de_la_mer"]
    for column in DETAIL_COLUMNS:
        if column == "bio_dont_commerce_equitable":
            continue
        for family in FAMILIES:
            cols.append(f"valeur_{family.lower()}_{column}")
            if column == "bio":
                cols.append(f"valeur_{family.lower()}_bio_dont_commerce_equitable")
    # the schema lists each family's bio then its "dont commerce équitable": reorder to match
    bio = [c for c in cols if c.endswith("_bio") or c.endswith("_bio_dont_commerce_equitable")]
    rest = [c for c in cols if c not in bio]
    return rest[:5] + bio + rest[5:]


def applicable(family: str, column: str) -> bool:
    code = _APPLICABILITY.get(column)
    if code is None:
        return True
    for rule in LABEL_VALIDITY:
        if rule.code == code and rule.families is not None:
            return family in rule.families
    return True


def summary_row(
    siret: str, year: int, totals: dict[str, Any], details: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """One export row: ``totals`` from ``egalim_results`` (total, meat, fish), ``details`` from
    ``egalim_family_details`` by family."""

    def fmt(value: Any) -> str:
        return f"{Decimal(value or 0):.2f}"

    row = {
        "siret": siret,
        "année_bilan": str(year),
        "valeur_totale": fmt(totals.get("total")),
        "valeur_viandes_volailles": fmt(totals.get("meat")),
        "valeur_produits_de_la_mer": fmt(totals.get("fish")),
    }
    for name in header()[5:]:
        rest = name.removeprefix("valeur_")
        family = max((f for f in FAMILIES if rest.startswith(f.lower() + "_")), key=len)
        column = rest[len(family) + 1 :]
        row[name] = fmt(details.get(family, {}).get(column)) if applicable(family, column) else ""
    return row
