"""The Egalim vocabulary: product families, characteristics (labels and origin), their groups,
the precedence order of categories and the label-validity table.

Codes are ma-cantine's (the national platform) so that lines and yearly summaries can be
exchanged with it; ``CE2`` (certification environnementale de niveau 2) is ours: ma-cantine
merges it into ``HVE`` although it stops counting after 31 December 2026 (loi Climat et
résilience). Legal basis: CRPM L.230-5-1 and R.230-30-1 (décret 2019-351).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

#: Product families (``famille_produits``), in ma-cantine's order, with their French labels.
FAMILIES: dict[str, str] = {
    "VIANDES_VOLAILLES": "Viandes et volailles fraîches et surgelées",
    "PRODUITS_DE_LA_MER": "Poissons, produits de la mer et de l'aquaculture",
    "FRUITS_ET_LEGUMES": "Fruits et légumes frais et surgelés",
    "CHARCUTERIE": "Charcuterie",
    "PRODUITS_LAITIERS": "BOF (produits laitiers, beurre et œufs)",
    "BOULANGERIE": "Boulangerie et pâtisserie fraîches et surgelées",
    "BOISSONS": "Boissons",
    "AUTRES": "Autres produits frais, surgelés et d'épicerie",
}

#: The families of the meat-and-fish pool (60 % since 2024, one combined pool; charcuterie is out).
MEAT_AND_FISH = ("VIANDES_VOLAILLES", "PRODUITS_DE_LA_MER")

#: Characteristics that can make a line count for Egalim, with French labels.
EGALIM_CHARACTERISTICS: dict[str, str] = {
    "BIO": "Agriculture biologique (conversion comprise)",
    "LABEL_ROUGE": "Label Rouge",
    "AOCAOP": "AOC / AOP",
    "IGP": "IGP",
    "STG": "STG",
    "HVE": "Haute valeur environnementale (HVE)",
    "CE2": "Certification environnementale de niveau 2",
    "PECHE_DURABLE": "Écolabel Pêche durable",
    "RUP": "Région ultrapériphérique (RUP)",
    "COMMERCE_EQUITABLE": "Commerce équitable",
    "FERMIER": "Fermier, produit de la ferme",
    "EXTERNALITES": "Externalités environnementales (critère du marché)",
    "PERFORMANCE": "Performance environnementale et approvisionnements directs (critère du marché)",
}

#: Characteristics kept for information only: they never count for Egalim on their own.
INFO_CHARACTERISTICS: dict[str, str] = {
    "FRANCE": "Origine France",
    "EUROPE": "Origine Europe (hors France)",
    "CIRCUIT_COURT": "Circuit court",
    "LOCAL": "Produit local",
}

#: Legacy codes still found in files, and what they mean today.
LEGACY_CHARACTERISTICS: dict[str, str] = {
    "CONVERSION_BIO": "BIO",  # "en conversion" counts as organic (R.230-30-1)
    "EQUIVALENTS": "EXTERNALITES",  # ma-cantine counts it in the externalités/performance group
}

#: ``definition_local`` values (current format; the old one also had AUTOUR_SERVICE and AUTRE).
LOCAL_DEFINITIONS: dict[str, str] = {
    "PAT": "Issu du projet alimentaire territorial",
    "COMMUNE": "Commune et/ou intercommunalité",
    "DEPARTEMENT": "Département",
    "REGION": "Région",
    "KM": "Distance en km",
    "AUTOUR_SERVICE": "Autour du lieu de service (ancien format)",
    "AUTRE": "Autre définition (ancien format)",
}

#: Categories in precedence order: a line counts once, in the first category it carries
#: (bio › Label Rouge › AOC/AOP/IGP/STG › HVE and niveau 2 › Pêche durable › RUP › commerce
#: équitable › fermier › externalités › performance; ma-cantine PR #1675, from the ministry).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "bio": ("BIO",),
    "label_rouge": ("LABEL_ROUGE",),
    "aocaop_igp_stg": ("AOCAOP", "IGP", "STG"),
    "hve": ("HVE", "CE2"),
    "peche_durable": ("PECHE_DURABLE",),
    "rup": ("RUP",),
    "commerce_equitable": ("COMMERCE_EQUITABLE",),
    "fermier": ("FERMIER",),
    "externalites": ("EXTERNALITES",),
    "performance": ("PERFORMANCE",),
}

CATEGORY_LABELS: dict[str, str] = {
    "bio": "Bio",
    "label_rouge": "Label Rouge",
    "aocaop_igp_stg": "AOC/AOP, IGP, STG",
    "hve": "HVE / certification environnementale",
    "peche_durable": "Pêche durable",
    "rup": "RUP",
    "commerce_equitable": "Commerce équitable",
    "fermier": "Fermier",
    "externalites": "Externalités environnementales",
    "performance": "Performance environnementale",
    "non_egalim": "Non Egalim",
}

#: The groups of the yearly summary (mutually exclusive, in this order of precedence).
GROUPS: dict[str, tuple[str, ...]] = {
    "bio": ("bio",),
    "siqo": ("label_rouge", "aocaop_igp_stg"),
    "egalim_autres": ("hve", "peche_durable", "rup", "commerce_equitable", "fermier"),
    "externalites_performance": ("externalites", "performance"),
}


@dataclass(frozen=True)
class LabelValidity:
    """When a characteristic counts and for which families (``None``: all families)."""

    code: str
    valid_from: date | None = None
    valid_to: date | None = None
    families: tuple[str, ...] | None = None
    note: str = ""


#: The label-validity table: each line is judged on its own date and family. A line whose
#: family is unknown is not excluded here (it is a data-quality finding instead), as ma-cantine
#: counts it. Categories have no start date so that years before 2022 can still be measured.
LABEL_VALIDITY: tuple[LabelValidity, ...] = (
    LabelValidity(
        "CE2",
        valid_to=date(2026, 12, 31),
        note="Loi Climat et résilience : le niveau 2 ne compte plus à partir du 1er janvier 2027.",
    ),
    LabelValidity(
        "FERMIER",
        families=("VIANDES_VOLAILLES", "CHARCUTERIE", "PRODUITS_LAITIERS"),
        note="La mention « fermier » n'a de définition réglementaire que pour ces familles.",
    ),
    LabelValidity(
        "PECHE_DURABLE",
        families=("PRODUITS_DE_LA_MER",),
        note="L'écolabel Pêche durable ne concerne que les produits de la pêche maritime.",
    ),
    LabelValidity(
        "LABEL_ROUGE",
        families=tuple(f for f in FAMILIES if f != "BOISSONS"),
        note="Pas de Label Rouge pour les boissons dans la déclaration ma-cantine.",
    ),
)


def canonical_characteristic(code: str) -> str:
    """The current code for ``code`` (legacy codes mapped, case and spaces ignored)."""
    c = code.strip().upper()
    return LEGACY_CHARACTERISTICS.get(c, c)


def is_known_characteristic(code: str) -> bool:
    c = canonical_characteristic(code)
    return c in EGALIM_CHARACTERISTICS or c in INFO_CHARACTERISTICS
