"""Controlled vocabularies of the DECP formats, and the mappings of obsolete or variant values.

Values are matched on a key that ignores case, accents, punctuation and spacing.
A raw value equal to its canonical form gives no finding; a variant of case or accents is a
``ENUM_NORMALISED`` repair; an obsolete value mapped to its current form is an
``ENUM_OBSOLETE`` repair; an unknown value is an ``ENUM_UNKNOWN`` warning and becomes empty.
"""

from __future__ import annotations

import re
import unicodedata

NOT_ALPHANUMERIC = re.compile(r"[^0-9a-z]+")

#: field -> canonical values
CANONICAL: dict[str, list[str]] = {
    "procedure": [
        "Procédure adaptée",
        "Appel d'offres ouvert",
        "Appel d'offres restreint",
        "Procédure avec négociation",
        "Marché passé sans publicité ni mise en concurrence préalable",
        "Dialogue compétitif",
        "Procédure négociée ouverte",
        "Procédure non négociée ouverte",
        "Procédure négociée restreinte",
        "Procédure non négociée restreinte",
    ],
    "nature": [
        "Marché",
        "Marché de partenariat",
        "Marché de défense ou de sécurité",
        "Concession de travaux",
        "Concession de service",
        "Concession de service public",
        "Délégation de service public",
    ],
    "place_type": [
        "Code postal",
        "Code commune",
        "Code arrondissement",
        "Code canton",
        "Code département",
        "Code région",
        "Code pays",
    ],
    "price_form": ["Unitaire", "Forfaitaire", "Mixte"],
    "holder_type": ["SIRET", "TVA", "TAHITI", "RIDET", "FRWF", "IREP", "UE", "HORS-UE"],
    "ccag": [
        "Travaux",
        "Maitrise d'œuvre",
        "Fournitures courantes et services",
        "Marchés industriels",
        "Prestations intellectuelles",
        "Techniques de l'information et de la communication",
        "Pas de CCAG",
    ],
    "grouping": ["Conjoint", "Solidaire", "Pas de groupement"],
}

#: field -> {obsolete or variant value: canonical value}
OBSOLETE: dict[str, dict[str, str]] = {
    "procedure": {
        "Procédure concurrentielle avec négociation": "Procédure avec négociation",
        "Procédure négociée avec mise en concurrence préalable": "Procédure avec négociation",
        "Marché négocié sans publicité ni mise en concurrence préalable": "Marché passé sans publicité ni mise en concurrence préalable",
        "Marché public négocié sans publicité ni mise en concurrence préalable": "Marché passé sans publicité ni mise en concurrence préalable",
        "Procédure négociée sans publicité ni mise en concurrence préalable": "Marché passé sans publicité ni mise en concurrence préalable",
    },
    "nature": {
        # 2019 natures that moved to techniques / modalitesExecution in 2024: the nature becomes
        # "Marché" and the flags is_framework_agreement / is_subsequent_contract say the rest.
        "Accord-cadre": "Marché",
        "Marché subséquent": "Marché",
        "Marche subsequent": "Marché",
    },
    "holder_type": {
        "TVA_INTRACOMMUNAUTAIRE": "TVA",
        "TVA intracommunautaire": "TVA",
        "HORS_UE": "HORS-UE",
        "HORS UE": "HORS-UE",
        "SIREN": "SIRET",
    },
    "ccag": {"Maîtrise d'œuvre": "Maitrise d'œuvre", "Maitrise d'oeuvre": "Maitrise d'œuvre"},
    "price_form": {},
    "place_type": {},
    "grouping": {},
}

#: The 2019 ``formePrix`` values, which mean a price *type* in the 2024 format.
PRICE_FORM_2019 = {
    "Ferme": "Définitif ferme",
    "Ferme et actualisable": "Définitif actualisable",
    "Révisable": "Définitif révisable",
}


def key(value: str) -> str:
    """The matching key: no accents, lower case, letters and digits only, single spaces.

    Punctuation and spacing variants match ("Appel d offres ouvert", "Appel d’offres ouvert",
    "HORS_UE", "Accord cadre"). Must give the same result as the SQL macro ``enum_key`` of the
    build (``tests/test_enums.py`` checks it).
    """
    text = value.replace("œ", "oe").replace("Œ", "oe").lower()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(NOT_ALPHANUMERIC.sub(" ", text).split())


def enum_rows() -> list[tuple[str, str, str, bool]]:
    """(field, key, canonical, obsolete) rows for the warehouse's ``ref_enum_values`` table."""
    rows: dict[tuple[str, str], tuple[str, str, str, bool]] = {}
    for field, values in CANONICAL.items():
        for v in values:
            rows[(field, key(v))] = (field, key(v), v, False)
    for field, mapping in OBSOLETE.items():
        for old, new in mapping.items():
            rows.setdefault((field, key(old)), (field, key(old), new, True))
    for old, new in PRICE_FORM_2019.items():
        rows[("price_type_2019", key(old))] = ("price_type_2019", key(old), new, False)
    return sorted(rows.values())
