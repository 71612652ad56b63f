"""Normalising the label strings that suppliers and software write ("AB", "Label Rouge",
"Bleu-Blanc-Cœur"...) into the canonical characteristic codes of :mod:`observatoire.egalim.codes`.

Used by the purchase importer for mapped exports, and meant to be reused for supplier matrices.
A raw string is compared after :func:`normalise_label`: case, accents, spaces, hyphens,
apostrophes and dots are ignored, so "Label-Rouge", "label rouge" and "LABEL ROUGE" are one key.

A known label has a :class:`LabelMeaning`: the code it stands for, or ``None`` when it does not
qualify (a private label, a marketing claim), and possibly a warning for the user. The raw
string itself is always kept by the caller for audit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from observatoire.egalim.codes import (
    EGALIM_CHARACTERISTICS,
    INFO_CHARACTERISTICS,
    canonical_characteristic,
    is_known_characteristic,
)

PRIVATE_LABEL_WARNING = "label privé, vérifier l'équivalence"


@dataclass(frozen=True)
class LabelMeaning:
    """What a raw label string means: a canonical code (or ``None``: does not qualify)."""

    code: str | None
    warning: str = ""


_SEPARATORS = re.compile(r"[\s\-_'’.·]+")


def normalise_label(raw: str) -> str:
    """The comparison key of a raw label: lower case, no accents, one space between words.

    "œ" and "æ" are spelt out (Unicode does not decompose them), so "Cœur" and "Coeur" match.
    """
    text = raw.strip().casefold().replace("œ", "oe").replace("æ", "ae")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _SEPARATORS.sub(" ", text).strip()


def _table(entries: dict[str, LabelMeaning]) -> dict[str, LabelMeaning]:
    return {normalise_label(raw): meaning for raw, meaning in entries.items()}


_BIO = LabelMeaning("BIO")
_FRANCE = LabelMeaning("FRANCE")
_NOT_QUALIFYING = LabelMeaning(None)
_PRIVATE = LabelMeaning(None, PRIVATE_LABEL_WARNING)

#: Raw strings seen in suppliers' exports and what they mean (egalim-rules.md §5.2, §1.3, §1.4).
LABEL_TABLE: dict[str, LabelMeaning] = _table(
    {
        # Organic, conversion included (R.230-30-1).
        "AB": _BIO,
        "Agriculture biologique": _BIO,
        "Bio": _BIO,
        "Biologique": _BIO,
        "Eurofeuille": _BIO,
        "Euro feuille": _BIO,
        "en conversion": _BIO,
        "conversion bio": _BIO,
        "en conversion vers l'agriculture biologique": _BIO,
        # SIQO.
        "LR": LabelMeaning("LABEL_ROUGE"),
        "Label Rouge": LabelMeaning("LABEL_ROUGE"),
        "AOP": LabelMeaning("AOCAOP"),
        "AOC": LabelMeaning("AOCAOP"),
        "AOC/AOP": LabelMeaning("AOCAOP"),
        "Appellation d'origine protégée": LabelMeaning("AOCAOP"),
        "Appellation d'origine contrôlée": LabelMeaning("AOCAOP"),
        "IGP": LabelMeaning("IGP"),
        "Indication géographique protégée": LabelMeaning("IGP"),
        "STG": LabelMeaning("STG"),
        "Spécialité traditionnelle garantie": LabelMeaning("STG"),
        # Environmental certification: HVE, and niveau 2 which stops counting in 2027.
        "HVE": LabelMeaning("HVE"),
        "Haute valeur environnementale": LabelMeaning("HVE"),
        "certification environnementale niveau 2": LabelMeaning("CE2"),
        "certification environnementale de niveau 2": LabelMeaning("CE2"),
        "CE2": LabelMeaning("CE2"),
        # Other categories.
        "Écolabel Pêche durable": LabelMeaning("PECHE_DURABLE"),
        "Pêche durable": LabelMeaning("PECHE_DURABLE"),
        "RUP": LabelMeaning("RUP"),
        "Commerce équitable": LabelMeaning("COMMERCE_EQUITABLE"),
        "Fermier": LabelMeaning("FERMIER"),
        "Produit de la ferme": LabelMeaning("FERMIER"),
        "Produit à la ferme": LabelMeaning("FERMIER"),
        # Private labels that are not the public écolabel: never counted, but worth a look.
        "MSC": _PRIVATE,
        "ASC": _PRIVATE,
        # Claims that do not qualify (§1.4).
        "Bleu-Blanc-Cœur": _NOT_QUALIFYING,
        "Produit de montagne": _NOT_QUALIFYING,
        # Origin, information only.
        "Origine France": _FRANCE,
        "France": _FRANCE,
        "VBF": _FRANCE,
        "Viande bovine française": _FRANCE,
        "VPF": _FRANCE,
        "Viande de porc française": _FRANCE,
        "Origine Europe": LabelMeaning("EUROPE"),
        "Circuit court": LabelMeaning("CIRCUIT_COURT"),
        "Local": LabelMeaning("LOCAL"),
    }
)


def resolve_label(raw: str, extra: dict[str, LabelMeaning] | None = None) -> LabelMeaning | None:
    """The meaning of one raw label string, or ``None`` if it is unknown.

    ``extra`` (keys already normalised) comes first: a mapping file can say what its own
    strings mean, or override this table. A canonical code written as such ("LABEL_ROUGE",
    "CONVERSION_BIO") is understood too.
    """
    key = normalise_label(raw)
    if extra and key in extra:
        return extra[key]
    if key in LABEL_TABLE:
        return LABEL_TABLE[key]
    code = canonical_characteristic(raw.replace(" ", "_"))
    if is_known_characteristic(code):
        return LabelMeaning(code)
    return None


#: Every canonical code in its stable output order (Egalim ones first, then information ones).
CODE_ORDER: tuple[str, ...] = (*EGALIM_CHARACTERISTICS, *INFO_CHARACTERISTICS)
