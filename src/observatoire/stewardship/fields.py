"""The fields a steward may correct, and how a typed value is checked before it is stored.

Keys are the DECP field names that the quality findings use (``findings.field``); each maps to
the staging column that the build overrides and to the column of ``contracts`` that shows the
result. Identity fields (``id``, ``acheteur.id``) are not correctable: they make the contract's
``uid``, which corrections are attached to. The fields of a lot's signature (amount, CPV…) are:
a lot's uid is computed from its published values (:func:`observatoire.stewardship.apply.match`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Field:
    name: str  # DECP field name, as in findings.field
    raw_column: str  # staging column the build overrides
    contract_column: str | None  # column of `contracts` (or None: shown elsewhere)
    label: str  # French label for the pages
    kind: str  # number | integer | date | cpv | text


FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("montant", "raw_amount", "amount_initial", "Montant initial (€ HT)", "number"),
    Field("dureeMois", "raw_duration", "duration_months_initial", "Durée (mois)", "integer"),
    Field("dateNotification", "raw_notification_date", "notification_date",
          "Date de notification", "date"),
    Field("codeCPV", "raw_cpv", "cpv", "Code CPV", "cpv"),
    Field("procedure", "raw_procedure", "procedure", "Procédure", "text"),
    Field("nature", "raw_nature", "nature", "Nature", "text"),
    Field("objet", "raw_object", "object", "Objet", "text"),
    Field("lieuExecution.code", "raw_place_code", "place_code", "Code du lieu d'exécution",
          "text"),
    Field("offresRecues", "raw_offers", "offers_received", "Offres reçues", "integer"),
    Field("acheteur.nom", "raw_buyer_name", None, "Nom de l'acheteur", "text"),
)}

MAX_TEXT = 1000


class InvalidValue(ValueError):
    """A typed value that does not fit its field; the message is French, for the page."""


def normalise(field: Field, value: str) -> str:
    """The value as the staging text the build will clean, or InvalidValue with a message."""
    text = value.strip()
    if not text:
        raise InvalidValue("La nouvelle valeur est vide.")
    if len(text) > MAX_TEXT:
        raise InvalidValue(f"La valeur dépasse {MAX_TEXT} caractères.")
    if field.kind in ("number", "integer"):
        compact = re.sub(r"[\s\u00a0\u202f]", "", text).replace(",", ".")
        try:
            number = float(compact)
        except ValueError:
            raise InvalidValue(f"« {text} » n'est pas un nombre (exemple : 125000,50).") from None
        if number < 0 or number != number or number in (float("inf"),):
            raise InvalidValue("Le nombre doit être positif.")
        if field.kind == "integer":
            if number != int(number):
                raise InvalidValue("Un nombre entier est attendu.")
            return str(int(number))
        return compact
    if field.kind == "date":
        try:
            day = date.fromisoformat(text) if "-" in text else _french_date(text)
        except ValueError:
            raise InvalidValue(
                f"« {text} » n'est pas une date (format AAAA-MM-JJ ou JJ/MM/AAAA).") from None
        return day.isoformat()
    if field.kind == "cpv":
        if not re.fullmatch(r"\d{8}(-\d)?", text):
            raise InvalidValue("Un code CPV a 8 chiffres, éventuellement suivis de -chiffre "
                               "(exemple : 45111100 ou 45111100-9).")
        return text
    return text


def _french_date(text: str) -> date:
    day, month, year = text.split("/")
    return date(int(year), int(month), int(day))
