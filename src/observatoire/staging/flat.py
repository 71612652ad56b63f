"""The ministry's flat DECP layout: one object (or CSV row) per contract, with flattened keys.

data.economie.gouv.fr publishes the consolidated DECP (datasets ``decp-v3-marches-valides``,
2019 format, and ``decp-2022-marches-valides``, 2024 format) as flat records: ``acheteur_id``,
``codecpv``, ``datenotification``, ``lieuexecution_code``, ``titulaire_id_1`` … ``_3``, one
modification and one subcontracting act per row. Its API and JSON exports use the lower-case field
names; its CSV exports use the field labels (``acheteur.id``, ``lieuExecution.code``,
``titulaire_typeIdentifiant_1``) with ``;``. Both spell the same key once canonicalised (lower
case, ``.`` read as ``_``, surrounding spaces removed).

:func:`nest` turns such a record into the nested shape of the official formats, which
:func:`observatoire.staging.records.normalise` then reads like any other record. Keys it does not
use are returned so that the record says which of its values were not read. The exports fill
empty cells with ``CDL``: such a value is read as empty.
"""

from __future__ import annotations

import re
from typing import Any

#: The marker of an empty cell in the ministry's exports.
EMPTY_CELL = "CDL"

#: Canonical flat key -> key of the nested record (scalars).
SCALARS = {
    "uid": "uid",
    "id": "id",
    "nature": "nature",
    "objet": "objet",
    "codecpv": "codeCPV",
    "procedure": "procedure",
    "dureemois": "dureeMois",
    "datenotification": "dateNotification",
    "datepublicationdonnees": "datePublicationDonnees",
    "montant": "montant",
    "formeprix": "formePrix",
    "idaccordcadre": "idAccordCadre",
    "marcheinnovant": "marcheInnovant",
    "ccag": "ccag",
    "offresrecues": "offresRecues",
    "attributionavance": "attributionAvance",
    "tauxavance": "tauxAvance",
    "typegroupementoperateurs": "typeGroupementOperateurs",
    "soustraitancedeclaree": "sousTraitanceDeclaree",
    "origineue": "origineUE",
    "originefrance": "origineFrance",
    "source": "source",
    "datesignature": "dateSignature",
    "datedebutexecution": "dateDebutExecution",
    "valeurglobale": "valeurGlobale",
    "montantsubventionpublique": "montantSubventionPublique",
}
#: Lists published as one cell, values joined with ", " (2019 draft names included).
LISTS = {
    "techniques": "techniques",
    "technique": "techniques",
    "modalitesexecution": "modalitesExecution",
    "modaliteexecution": "modalitesExecution",
    "typesprix": "typesPrix",
    "typeprix": "typesPrix",
    "considerationssociales": "considerationsSociales",
    "considerationsenvironnementales": "considerationsEnvironnementales",
}
#: Objects published as prefixed keys: prefix -> (nested key, {suffix: nested field}).
OBJECTS = {
    "acheteur_": ("acheteur", {"id": "id", "nom": "nom"}),
    "autoriteconcedante_": ("autoriteConcedante", {"id": "id", "nom": "nom"}),
    "lieuexecution_": ("lieuExecution", {"code": "code", "typecode": "typeCode", "nom": "nom"}),
}
#: The one modification of a row: 2024 names, then the 2019 names (decp-v3).
MODIFICATION = {
    "idmodification": "id",
    "montantmodification": "montant",
    "dureemoismodification": "dureeMois",
    "objetmodification": "objetModification",
    "datenotificationmodificationmodification": "dateNotificationModification",
    "datenotificationmodification": "dateNotificationModification",
    "datepublicationdonneesmodificationmodification": "datePublicationDonneesModification",
    "datepublicationdonneesmodification": "datePublicationDonneesModification",
}
MODIFICATION_HOLDER = {
    "idtitulairemodification": "id",
    "typeidentifianttitulairemodification": "typeIdentifiant",
}
#: The one subcontracting act of a row (2024).
SUBCONTRACT = {
    "idactesoustraitance": "id",
    "dureemoisactesoustraitance": "dureeMois",
    "datenotificationactesoustraitance": "dateNotification",
    "datepublicationdonneesactesoustraitance": "datePublicationDonnees",
    "montantactesoustraitance": "montant",
    "variationprixactesoustraitance": "variationPrix",
}
SUBCONTRACTOR = {"idsoustraitant": "id", "typeidentifiantsoustraitant": "typeIdentifiant"}
#: ``titulaire_id_1``, ``concessionnaire_typeidentifiant_2``…
PARTY_SLOT = re.compile(
    r"(titulaire|concessionnaire)_(id|typeidentifiant|denominationsociale)_(\d+)"
)
PARTY_FIELDS = {"id": "id", "typeidentifiant": "typeIdentifiant",
                "denominationsociale": "denominationSociale"}
#: Redundant with the modification fields, which say whether the row has a modification.
READ_ELSEWHERE = frozenset({"booleanmodification"})

#: Keys, as written, that only the flat layout has (the API's names, the CSV's labels): one of
#: them marks a record as flat. ``acheteur.id`` alone is not one: nested records use it too.
MARKERS = frozenset({"codecpv", "datenotification", "dureemois", "datepublicationdonnees",
                     "lieuexecution_code", "lieuExecution.code", "titulaire_id_1",
                     "titulaire_typeidentifiant_1", "titulaire_typeIdentifiant_1",
                     "concessionnaire_id_1"})


#: Keys of an Opendatasoft record envelope (API v1 and the portal's older JSON export):
#: ``{"datasetid", "recordid", "fields": {...}, "record_timestamp", "geometry"}``.
ODS_ENVELOPE = frozenset({"datasetid", "recordid", "fields", "record_timestamp", "geometry"})


def unwrap(record: dict[str, Any]) -> dict[str, Any]:
    """The record inside an Opendatasoft envelope, or the record itself."""
    fields = record.get("fields")
    if isinstance(fields, dict) and "recordid" in record and record.keys() <= ODS_ENVELOPE:
        return fields
    return record


def canonical(key: str) -> str:
    """The key as the API spells it: ``lieuExecution.code`` -> ``lieuexecution_code``."""
    return key.strip().lower().replace(".", "_")


def is_flat(record: dict[str, Any]) -> bool:
    """Whether ``record`` uses the ministry's flat keys (decided per record, not per file)."""
    return not MARKERS.isdisjoint(record.keys())


def _value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and (not value.strip() or value.strip() == EMPTY_CELL):
        return None
    return value


def _split(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [p.strip() for p in str(value).split(",") if p.strip()]


def nest(record: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The nested record of a flat one, and the keys (as written) whose values were not read."""
    nested: dict[str, Any] = {}
    parties: dict[tuple[str, int], dict[str, Any]] = {}
    modification: dict[str, Any] = {}
    modification_holder: dict[str, Any] = {}
    act: dict[str, Any] = {}
    subcontractor: dict[str, Any] = {}
    unread: list[str] = []
    for raw_key, raw_value in record.items():
        key = canonical(raw_key)
        value = _value(raw_value)
        if key in SCALARS:
            # A key given twice (names and labels, "TypePrix" and "typePrix"): first value wins.
            if nested.get(SCALARS[key]) is None:
                nested[SCALARS[key]] = value
            continue
        if key in LISTS:
            if value is not None:
                nested.setdefault(LISTS[key], _split(value))
            continue
        slot = PARTY_SLOT.fullmatch(key)
        if slot:
            if value is not None:
                party = parties.setdefault((slot[1], int(slot[3])), {})
                party[PARTY_FIELDS[slot[2]]] = value
            continue
        target = None
        for prefix, (name, fields) in OBJECTS.items():
            if key.startswith(prefix) and key[len(prefix):] in fields:
                target = (name, fields[key[len(prefix):]])
                break
        if target:
            if value is not None:
                nested.setdefault(target[0], {})[target[1]] = value
            continue
        for fields, into in ((MODIFICATION, modification),
                             (MODIFICATION_HOLDER, modification_holder),
                             (SUBCONTRACT, act), (SUBCONTRACTOR, subcontractor)):
            if key in fields:
                if value is not None:
                    into.setdefault(fields[key], value)
                break
        else:
            if key not in READ_ELSEWHERE and value is not None and value != [] and value != {}:
                unread.append(raw_key)
    for kind, plural in (("titulaire", "titulaires"), ("concessionnaire", "concessionnaires")):
        slots = sorted((n, p) for (k, n), p in parties.items() if k == kind)
        if slots:
            nested[plural] = [p for _, p in slots]
    if modification or modification_holder:
        if modification_holder:
            modification["titulaires"] = [modification_holder]
        nested["modifications"] = [modification]
    if act or subcontractor:
        if subcontractor:
            act["sousTraitant"] = subcontractor
        nested["actesSousTraitance"] = [act]
    return nested, unread
