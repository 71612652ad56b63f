"""The staging record: one input record with its structure normalised and its values left raw.

Every DECP layout (2019 list, 2024 wrapped, 2024 flat draft, hybrids, XML, consolidated CSV) is
turned into the same shape here. Only *structure* is handled (wrappers, nested lists, flat keys);
*values* stay exactly as written, as text, and are checked and repaired later by the quality rules
in SQL.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pyarrow as pa

from observatoire.staging import flat

#: Bump when the parsing output changes: staging files of older versions are re-parsed at build.
PARSER_VERSION = "4"

#: Keys that only the 2024 format (schemas 2.0.x) has.
V2_KEYS = frozenset(
    {
        "ccag",
        "marcheInnovant",
        "attributionAvance",
        "sousTraitanceDeclaree",
        "techniques",
        "technique",
        "modalitesExecution",
        "modaliteExecution",
        "typesPrix",
        "typePrix",
        "considerationsSociales",
        "considerationsEnvironnementales",
        "offresRecues",
        "typeGroupementOperateurs",
        "actesSousTraitance",
        "tauxAvance",
        "origineUE",
        "origineFrance",
        "idAccordCadre",
        "considerationSociale",
        "considerationEnvironnementale",
    }
)

#: Top-level keys the reader uses (or knowingly reads as another key's wrapper). Any other key
#: with a value is named in the record's notes (``cle_non_lue:<key>``): nothing is dropped silently.
KNOWN_KEYS = V2_KEYS | frozenset(
    {
        "_type",
        "source",
        "uid",
        "id",
        "acheteur",
        "acheteur.id",
        "acheteur.nom",
        "acheteur_id",
        "acheteur_nom",
        "autoriteConcedante",
        "autoriteConcedante.id",
        "autoriteConcedante.nom",
        "autoriteConcedante_id",
        "autoriteConcedante_nom",
        "nature",
        "objet",
        "codeCPV",
        "procedure",
        "lieuExecution",
        "dureeMois",
        "dateNotification",
        "datePublicationDonnees",
        "montant",
        "valeurGlobale",
        "formePrix",
        "dateSignature",
        "dateDebutExecution",
        "montantSubventionPublique",
        "titulaires",
        "concessionnaires",
        "modifications",
        "donneesExecution",
    }
)
#: Keys read inside the nested objects (any other one with a value is named, see KNOWN_KEYS).
PARTY_KEYS = frozenset({"id", "nom"})
PLACE_KEYS = frozenset({"code", "typeCode", "nom"})
HOLDER_KEYS = frozenset({"id", "typeIdentifiant", "denominationSociale"})
MODIFICATION_KEYS = frozenset(
    {
        "id",
        "objetModification",
        "dateNotificationModification",
        "dateSignatureModification",
        "datePublicationDonneesModification",
        "dureeMois",
        "montant",
        "valeurGlobale",
        "titulaires",
        "concessionnaires",
    }
)
ACT_KEYS = frozenset(
    {"id", "sousTraitant", "dureeMois", "dateNotification", "datePublicationDonnees", "montant",
     "variationPrix"}
)
SUBCONTRACTOR_KEYS = frozenset({"id", "typeIdentifiant"})
EXECUTION_KEYS = frozenset({"datePublicationDonneesExecution", "depensesInvestissement", "tarifs"})
TARIFF_KEYS = frozenset({"intituleTarif", "tarif"})
#: Staging fields that make up a contract's identity: a NUL character is removed from them.
KEY_FIELDS = ("raw_uid", "raw_id", "raw_buyer_id")

HOLDER = pa.struct([("id_type", pa.string()), ("id", pa.string()), ("name", pa.string())])
MODIFICATION = pa.struct(
    [
        ("position", pa.int32()),
        ("mod_id", pa.string()),
        ("object", pa.string()),
        ("notification_date", pa.string()),
        ("publication_date", pa.string()),
        ("duration", pa.string()),
        ("amount", pa.string()),
        ("holders", pa.list_(HOLDER)),
    ]
)
SUBCONTRACT = pa.struct(
    [
        ("act_id", pa.string()),
        ("id_type", pa.string()),
        ("id", pa.string()),
        ("duration", pa.string()),
        ("notification_date", pa.string()),
        ("publication_date", pa.string()),
        ("amount", pa.string()),
        ("price_variation", pa.string()),
    ]
)

TARIFF = pa.struct([("label", pa.string()), ("tariff", pa.string())])
#: Yearly execution data of a concession (donneesExecution / donneesAnnuelles).
EXECUTION = pa.struct(
    [
        ("publication_date", pa.string()),
        ("investment", pa.string()),
        ("tariffs", pa.list_(TARIFF)),
    ]
)

#: Scalar raw fields: (column, kind). Every value is kept as text.
SCALARS: list[str] = [
    "raw_type",
    "raw_source",
    "raw_uid",
    "raw_id",
    "raw_buyer_id",
    "raw_buyer_name",
    "raw_nature",
    "raw_object",
    "raw_cpv",
    "raw_procedure",
    "raw_place_code",
    "raw_place_type",
    "raw_place_name",
    "raw_duration",
    "raw_notification_date",
    "raw_publication_date",
    "raw_amount",
    "raw_price_form",
    "raw_framework_id",
    "raw_innovative",
    "raw_ccag",
    "raw_offers",
    "raw_advance_granted",
    "raw_advance_rate",
    "raw_grouping",
    "raw_subcontracting_declared",
    "raw_origin_eu",
    "raw_origin_fr",
    "raw_signature_date",
    "raw_start_date",
    "raw_subsidy",
    "raw_version",
    # the holder's place as a consolidated CSV publishes it (one holder per row)
    "raw_holder_departement",
    "raw_holder_region",
    # the buyer's place as a consolidated CSV publishes it
    "raw_buyer_departement",
    "raw_buyer_region",
]
LISTS: list[str] = [
    "raw_techniques",
    "raw_execution_modes",
    "raw_price_types",
    "raw_social",
    "raw_environmental",
]

SCHEMA = pa.schema(
    [
        ("file_hash", pa.string()),
        ("position", pa.int64()),
        ("line", pa.int64()),
        ("kind", pa.string()),
        ("family", pa.string()),
        *[(name, pa.string()) for name in SCALARS],
        *[(name, pa.list_(pa.string())) for name in LISTS],
        ("holders", pa.list_(HOLDER)),
        ("modifications", pa.list_(MODIFICATION)),
        ("subcontracts", pa.list_(SUBCONTRACT)),
        ("execution", pa.list_(EXECUTION)),
        ("notes", pa.list_(pa.string())),
        # Fields the source format cannot carry (columns absent from a CSV): their absence is not
        # a defect of the record, so the "missing" rules skip them.
        ("absent_fields", pa.list_(pa.string())),
        ("raw_json", pa.string()),
    ]
)


def text(value: Any) -> str | None:
    """A raw value as text, or None. Containers are kept as JSON text."""
    if type(value) is str:  # the common case first
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return repr(value)
    return orjson.dumps(value, default=str).decode()


def unwrap_list(value: Any, singular: str, notes: set[str], note: str) -> list[Any]:
    """Items of a list field whatever its wrapping.

    Accepts ``[x]``, ``[{singular: x}]``, ``{singular: [x]}``, ``{singular: x}``, ``x`` and lists
    nested several levels deep (seen in real files). Records a note when the shape is unusual.
    """
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        if singular in value and len(value) == 1:
            return unwrap_list(value[singular], singular, notes, note)
        return [value]
    if not isinstance(value, list):
        return [value]
    out: list[Any] = []
    for item in value:
        if isinstance(item, list):
            notes.add(note)
            out.extend(unwrap_list(item, singular, notes, note))
        elif isinstance(item, dict) and singular in item and len(item) == 1:
            out.extend(unwrap_list(item[singular], singular, notes, note))
        else:
            out.append(item)
    return out


def _unread(obj: dict[str, Any], known: frozenset[str], where: str, notes: set[str]) -> None:
    """Name the keys of ``obj`` no reader uses that hold a value: nothing is dropped silently."""
    for k in obj.keys() - known:
        if obj[k] not in (None, "", [], {}):
            notes.add(f"cle_non_lue:{where}.{k}" if where else f"cle_non_lue:{k}")


def _holders(value: Any, notes: set[str]) -> list[dict[str, str | None]]:
    out = []
    for h in unwrap_list(value, "titulaire", notes, "titulaires_imbriques"):
        if isinstance(h, dict) and "concessionnaire" in h and len(h) == 1:
            h = h["concessionnaire"]
        if not isinstance(h, dict):
            notes.add("titulaire_non_objet")
            out.append({"id_type": None, "id": text(h), "name": None})
            continue
        if not h.keys() <= HOLDER_KEYS:
            h = _checked(h, HOLDER_KEYS, "titulaires", notes)
        out.append(
            {
                "id_type": text(h.get("typeIdentifiant")),
                "id": text(h.get("id")),
                "name": text(h.get("denominationSociale")),
            }
        )
    return out


def _concession_holders(value: Any, notes: set[str]) -> list[dict[str, str | None]]:
    items = unwrap_list(value, "concessionnaire", notes, "titulaires_imbriques")
    return _holders(items, notes)


def _modifications(value: Any, notes: set[str]) -> list[dict[str, Any]]:
    if isinstance(value, dict) and "modification" not in value:
        notes.add("modifications_objet")
        value = [value]
    elif isinstance(value, dict):
        notes.add("modifications_objet")
    out = []
    for pos, m in enumerate(unwrap_list(value, "modification", notes, "modifications_imbriquees")):
        if not isinstance(m, dict):
            notes.add("modification_non_objet")
            continue
        m = _checked(m, MODIFICATION_KEYS, "modifications", notes)
        holders = m.get("titulaires", m.get("concessionnaires"))
        out.append(
            {
                "position": pos,
                "mod_id": text(m.get("id")),
                "object": text(m.get("objetModification")),
                "notification_date": text(
                    m.get("dateNotificationModification", m.get("dateSignatureModification"))
                ),
                "publication_date": text(m.get("datePublicationDonneesModification")),
                "duration": text(m.get("dureeMois")),
                "amount": text(m.get("montant", m.get("valeurGlobale"))),
                "holders": _holders(holders, notes) if holders not in (None, []) else None,
            }
        )
    return out


def _subcontracts(value: Any, notes: set[str]) -> list[dict[str, str | None]]:
    out = []
    for a in unwrap_list(value, "acteSousTraitance", notes, "sous_traitance_imbriquee"):
        if not isinstance(a, dict):
            continue
        a = _checked(a, ACT_KEYS, "actesSousTraitance", notes)
        sub = a.get("sousTraitant") or {}
        if not isinstance(sub, dict):
            sub = {"id": sub}
        sub = _checked(sub, SUBCONTRACTOR_KEYS, "sousTraitant", notes)
        out.append(
            {
                "act_id": text(a.get("id")),
                "id_type": text(sub.get("typeIdentifiant")),
                "id": text(sub.get("id")),
                "duration": text(a.get("dureeMois")),
                "notification_date": text(a.get("dateNotification")),
                "publication_date": text(a.get("datePublicationDonnees")),
                "amount": text(a.get("montant")),
                "price_variation": text(a.get("variationPrix")),
            }
        )
    return out


def _execution(value: Any, notes: set[str]) -> list[dict[str, Any]]:
    out = []
    for year in unwrap_list(value, "donneesAnnuelles", notes, "execution_imbriquee"):
        if not isinstance(year, dict):
            continue
        year = _checked(year, EXECUTION_KEYS, "donneesExecution", notes)
        tariffs = []
        # The 2.0.1+ wrapper {"tarif": {...}} has the same name as the tariff's value field.
        for t in unwrap_list(year.get("tarifs"), "tarif", notes, "tarifs_imbriques"):
            if isinstance(t, dict):
                t = _checked(t, TARIFF_KEYS, "tarifs", notes)
                tariffs.append(
                    {"label": text(t.get("intituleTarif")), "tariff": text(t.get("tarif"))}
                )
            else:
                tariffs.append({"label": None, "tariff": text(t)})
        out.append(
            {
                "publication_date": text(year.get("datePublicationDonneesExecution")),
                "investment": text(year.get("depensesInvestissement")),
                "tariffs": tariffs,
            }
        )
    return out


def _enum_list(record: dict[str, Any], plural: str, singular: str, notes: set[str]) -> list[str]:
    if plural in record:
        value = record[plural]
    elif singular in record:
        notes.add("liste_sans_enveloppe")
        value = record[singular]
    else:
        return []  # the common case in 2019 records: no such field at all
    items = unwrap_list(value, singular, notes, "liste_imbriquee")
    return [t for t in map(text, items) if t]


def _party(record: dict[str, Any], key: str, notes: set[str]) -> tuple[Any, Any]:
    party = record.get(key)
    if isinstance(party, dict):
        if not party.keys() <= PARTY_KEYS:
            party = _checked(party, PARTY_KEYS, key, notes)
        return party.get("id"), party.get("nom")
    if f"{key}.id" in record:
        notes.add("cle_acheteur_a_plat")
        return record.get(f"{key}.id"), record.get(f"{key}.nom")
    if f"{key}_id" in record:
        notes.add("cle_acheteur_a_plat")
        return record.get(f"{key}_id"), record.get(f"{key}_nom")
    return party, None


def _json_bytes(record: Any) -> bytes:
    """The record as compact JSON (as orjson writes it); an integer past 64 bits, which orjson
    cannot write, is written by the standard library in the same compact form."""
    try:
        return orjson.dumps(record, default=str)
    except TypeError:
        return json.dumps(record, default=str, ensure_ascii=False,
                          separators=(",", ":")).encode()


def normalise(
    record: Any,
    *,
    file_hash: str,
    position: int,
    line: int | None = None,
    listed_as: str | None = None,
) -> dict[str, Any]:
    """Turn one DECP JSON/XML record (as a dict) into a staging row.

    ``listed_as`` is the list the record came from in wrapped files (``marche`` or
    ``contrat-concession``); in other layouts the kind is decided from the record's own keys,
    never from ``_type``, which real files fill with other values.
    """
    notes: set[str] = set()
    if not isinstance(record, dict):
        return _not_an_object(record, file_hash=file_hash, position=position, line=line)
    raw_json = _json_bytes(record)
    # Keys are checked against what the reader uses (a set comparison): only a record with
    # other keys is looked at closer (stray spaces, envelope, flat layout, unread keys).
    if not record.keys() <= KNOWN_KEYS:
        record = _stripped(record, notes)
        if "recordid" in record:
            record = _stripped(flat.unwrap(record), notes)
        if flat.is_flat(record):
            record, unread = flat.nest(record)
            notes.update(f"cle_non_lue:{k}" for k in unread)
        else:
            _unread(record, KNOWN_KEYS, "", notes)
    concession = (
        listed_as == "contrat-concession"
        or "autoriteConcedante" in record
        or "concessionnaires" in record
        or "autoriteConcedante.id" in record
    )
    kind = "concession" if concession else "marche"
    declared = record.get("_type")
    if isinstance(declared, str) and declared.strip():
        expected = "Contrat de concession" if concession else "Marché"
        if declared.strip() != expected:
            notes.add("type_incoherent")
    family = "2024" if V2_KEYS.intersection(record.keys()) else "2019"
    buyer_id, buyer_name = _party(record, "autoriteConcedante" if concession else "acheteur", notes)
    place = record.get("lieuExecution")
    if not isinstance(place, dict):
        place = {"code": place} if place is not None else {}
    elif not place.keys() <= PLACE_KEYS:
        place = _checked(place, PLACE_KEYS, "lieuExecution", notes)
    if concession:
        holders = _concession_holders(
            record.get("concessionnaires", record.get("titulaires")), notes
        )
    else:
        holders = _holders(record.get("titulaires"), notes)
    row: dict[str, Any] = {
        "file_hash": file_hash,
        "position": position,
        "line": line,
        "kind": kind,
        "family": family,
        "raw_type": text(declared),
        "raw_source": text(record.get("source")),
        "raw_uid": text(record.get("uid")),
        "raw_id": text(record.get("id")),
        "raw_buyer_id": text(buyer_id),
        "raw_buyer_name": text(buyer_name),
        "raw_nature": text(record.get("nature")),
        "raw_object": text(record.get("objet")),
        "raw_cpv": text(record.get("codeCPV")),
        "raw_procedure": text(record.get("procedure")),
        "raw_place_code": text(place.get("code")),
        "raw_place_type": text(place.get("typeCode")),
        "raw_place_name": text(place.get("nom")),
        "raw_duration": text(record.get("dureeMois")),
        "raw_notification_date": text(
            record.get("dateSignature") if concession else record.get("dateNotification")
        ),
        "raw_publication_date": text(record.get("datePublicationDonnees")),
        "raw_amount": text(record.get("valeurGlobale") if concession else record.get("montant")),
        "raw_price_form": text(record.get("formePrix")),
        "raw_framework_id": text(record.get("idAccordCadre")),
        "raw_innovative": text(record.get("marcheInnovant")),
        "raw_ccag": text(record.get("ccag")),
        "raw_offers": text(record.get("offresRecues")),
        "raw_advance_granted": text(record.get("attributionAvance")),
        "raw_advance_rate": text(record.get("tauxAvance")),
        "raw_grouping": text(record.get("typeGroupementOperateurs")),
        "raw_subcontracting_declared": text(record.get("sousTraitanceDeclaree")),
        "raw_origin_eu": text(record.get("origineUE")),
        "raw_origin_fr": text(record.get("origineFrance")),
        "raw_signature_date": text(record.get("dateSignature")),
        "raw_start_date": text(record.get("dateDebutExecution")),
        "raw_subsidy": text(record.get("montantSubventionPublique")),
        "raw_version": None,
        "raw_holder_departement": None,
        "raw_holder_region": None,
        "raw_buyer_departement": None,
        "raw_buyer_region": None,
        "raw_techniques": _enum_list(record, "techniques", "technique", notes),
        "raw_execution_modes": _enum_list(record, "modalitesExecution", "modaliteExecution", notes),
        "raw_price_types": _enum_list(record, "typesPrix", "typePrix", notes),
        "raw_social": _enum_list(record, "considerationsSociales", "considerationSociale", notes),
        "raw_environmental": _enum_list(
            record, "considerationsEnvironnementales", "considerationEnvironnementale", notes
        ),
        "holders": holders,
        "modifications": _modifications(record.get("modifications"), notes),
        "subcontracts": _subcontracts(record.get("actesSousTraitance"), notes),
        "execution": _execution(record.get("donneesExecution"), notes) if concession else [],
        "raw_json": raw_json.decode(),
    }
    # orjson writes a NUL as \u0000: looking for a backslash first is much cheaper
    if b"\\" in raw_json and b"\\u0000" in raw_json:
        remove_nul(row, notes)
    row["notes"] = sorted(notes)
    row["absent_fields"] = []
    return row


def _stripped(obj: dict[str, Any], notes: set[str]) -> dict[str, Any]:
    """``obj`` with the surrounding whitespace of its keys removed (noted). A key written both
    with and without spaces keeps the value of the one without."""
    if all(k == k.strip() for k in obj):
        return obj
    notes.add("cle_avec_espaces")
    return {k.strip(): v for k, v in obj.items() if k == k.strip() or k.strip() not in obj}


def _checked(obj: dict[str, Any], known: frozenset[str], where: str,
             notes: set[str]) -> dict[str, Any]:
    """``obj`` with stray spaces removed from its keys, and its unread keys named."""
    if obj.keys() <= known:
        return obj
    obj = _stripped(obj, notes)
    _unread(obj, known, where, notes)
    return obj


def remove_nul(row: dict[str, Any], notes: set[str]) -> None:
    """Remove NUL characters from the identity fields (a NUL cannot be stored in PostgreSQL
    text, where identities are keys); ``raw_json`` keeps them."""
    for name in KEY_FIELDS:
        value = row[name]
        if value is not None and "\x00" in value:
            row[name] = value.replace("\x00", "")
            notes.add(f"octet_nul_retire:{name.removeprefix('raw_')}")
    for holder in row["holders"]:
        if holder["id"] is not None and "\x00" in holder["id"]:
            holder["id"] = holder["id"].replace("\x00", "")
            notes.add("octet_nul_retire:holder_id")


def _not_an_object(
    value: Any, *, file_hash: str, position: int, line: int | None
) -> dict[str, Any]:
    row = empty_row(file_hash=file_hash, position=position, line=line)
    row["notes"] = ["enregistrement_non_objet"]
    row["raw_json"] = _json_bytes(value).decode()
    return row


def empty_row(*, file_hash: str, position: int, line: int | None) -> dict[str, Any]:
    row: dict[str, Any] = {name: None for name in SCHEMA.names}
    row.update(file_hash=file_hash, position=position, line=line, kind="marche", family="2019")
    for name in LISTS:
        row[name] = []
    row.update(
        holders=[], modifications=[], subcontracts=[], execution=[], notes=[], absent_fields=[]
    )
    return row


def to_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    # Column by column is several times faster than pyarrow's row-wise from_pylist.
    columns = {name: [row[name] for row in rows] for name in SCHEMA.names}
    return pa.RecordBatch.from_pydict(columns, schema=SCHEMA)
