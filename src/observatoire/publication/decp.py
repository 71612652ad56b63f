"""The DECP 2024 file a buyer must publish, written from its contracts in the warehouse.

One service for the CLI (``observatoire publier-decp``) and the buyer page's download:

1. :data:`CONTRACTS_SQL` reads the buyer's marchés from the model (``contracts``,
   ``contract_holders``, ``contract_versions``, ``subcontracts``). The writer is fed by this one
   query on the model, not by a source's files: today the contracts come from DECP flows (which
   proves the writer by a round trip); contracts of the buyer's finance software (PES Marché,
   ``accounting.staging.FINANCE_CONTRACTS``) will reach the same tables and be written too.
2. Each contract becomes a ``marche`` object of the official format. Nothing is invented: a value
   the warehouse does not hold stays out, and the official JSON schema (2.0.3) then says the
   contract cannot be published. Such a contract is set aside with the fields that are missing
   or wrong, in French; it is never written. A subcontracting act lacking a mandatory field is
   left out of its contract, and said so.
3. The document is checked whole against the official schema of its format (JSON 2.0.3, or the
   2.0.2 XSD, the latest XSD) before a byte is written: an invalid file is never written.

Natural persons: the 2024 format names nobody (no name field for holders or buyers); a holder
appears by its identifier only (SIRET, as the format requires), so a person SIRENE does not let
us name is published as the DECP rules ask, by identifier, never by name.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
from lxml import etree

from observatoire.config import Settings
from observatoire.errors import ObservatoireError
from observatoire.warehouse import open_warehouse, scope_sql

SCHEMAS = Path(__file__).resolve().parent / "schemas"
JSON_SCHEMA = SCHEMAS / "schema_decp_v2.0.3.json"
XSD = SCHEMAS / "schema_decp_v2.0.2.xsd"
FORMATS = ("json", "xml")

#: The buyer's marchés, with their first holders, modifications and subcontracting acts. One
#: row per contract; the nested lists keep the model's order (holders as first seen, versions
#: in notification order). Concessions are counted apart (not written yet).
CONTRACTS_SQL = """
WITH mine AS (SELECT * FROM contracts WHERE buyer_siret = $siret AND kind = 'marche'),
holders AS (
    SELECT h.uid, list(struct_pack(id_type := h.id_type, id := h.holder_id, version := h.version)
                       ORDER BY h.version, h.rowid) AS holders
    FROM contract_holders h WHERE h.uid IN (SELECT uid FROM mine) GROUP BY h.uid
),
versions AS (
    SELECT v.uid, list(struct_pack(
            version := v.version, modification_id := v.modification_id,
            notification_date := v.notification_date, publication_date := v.publication_date,
            amount := CASE WHEN v.amount IS NOT NULL THEN v.amount_after END,
            duration_months := v.duration_months, changes_holders := v.changes_holders)
        ORDER BY v.version) AS modifications
    FROM contract_versions v
    WHERE v.version > 0 AND v.uid IN (SELECT uid FROM mine) GROUP BY v.uid
),
acts AS (
    SELECT s.uid, list(struct_pack(
            act_id := s.act_id, id_type := s.id_type, id := s.subcontractor_id,
            duration_months := s.duration_months, notification_date := s.notification_date,
            publication_date := s.publication_date, amount := s.amount,
            price_variation := s.price_variation) ORDER BY s.act_id) AS acts
    FROM subcontracts s WHERE s.uid IN (SELECT uid FROM mine) GROUP BY s.uid
)
SELECT m.uid, m.contract_id, m.buyer_siret, m.nature, m.object, m.cpv, m.techniques,
    m.execution_modes, m.framework_id, m.is_innovative, m.ccag, m.offers_received,
    m.advance_granted, m.advance_rate, m.grouping_type, m.subcontracting_declared, m.procedure,
    m.place_code, m.place_type, m.duration_months_initial, m.notification_date,
    m.publication_date, m.amount_initial, m.price_types, m.price_form, m.origin_eu_share,
    m.origin_fr_share, m.social_considerations, m.environmental_considerations,
    m.format_family, m.sources,
    COALESCE(h.holders, []) AS holders, COALESCE(v.modifications, []) AS modifications,
    COALESCE(a.acts, []) AS acts
FROM mine m
LEFT JOIN holders h USING (uid) LEFT JOIN versions v USING (uid) LEFT JOIN acts a USING (uid)
ORDER BY m.notification_date NULLS LAST, m.contract_id, m.uid
"""


@dataclass
class SetAside:
    """A contract (or a subcontracting act) that cannot be published, and why, in French."""

    contract_id: str
    problems: list[str]
    act_id: str | None = None

    def message(self) -> str:
        what = (f"Acte de sous-traitance {self.act_id} du marché {self.contract_id}"
                if self.act_id else f"Marché {self.contract_id}")
        return f"{what} : " + " ; ".join(self.problems)


@dataclass
class Publication:
    """The buyer's DECP document and what could not go in it."""

    buyer_siret: str
    marches: list[dict[str, Any]] = field(default_factory=list)
    set_aside: list[SetAside] = field(default_factory=list)  # whole contracts
    acts_left_out: list[SetAside] = field(default_factory=list)
    concessions: int = 0  # not written (the writer covers marchés)

    @property
    def document(self) -> dict[str, Any]:
        return {"marches": {"marche": self.marches}}

    @property
    def contracts_seen(self) -> int:
        return len(self.marches) + len(self.set_aside)


# --- the official schemas ------------------------------------------------------------------

@functools.cache
def json_schema() -> dict[str, Any]:
    return json.loads(JSON_SCHEMA.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


MARCHE = "#/definitions/marche"
ACT = "#/definitions/marche/definitions/ActeSousTraitanceArray"


@functools.cache
def _validator(ref: str) -> jsonschema.Draft7Validator:
    """A validator of one object of the format (the schema's own definition, its refs kept)."""
    return jsonschema.Draft7Validator({"$ref": ref, "definitions": json_schema()["definitions"]})


@functools.cache
def xml_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def _titles() -> dict[str, str]:
    """French titles of the marché's fields, from the official schema itself."""
    props = json_schema()["definitions"]["marche"]["properties"]
    return {name: spec.get("title", name) for name, spec in props.items()}


WHY = {
    "enum": "valeur hors de la liste officielle",
    "pattern": "format non conforme",
    "minimum": "valeur inférieure au minimum permis",
    "maximum": "valeur supérieure au maximum permis",
    "maxLength": "texte trop long",
    "minLength": "texte vide",
    "type": "type de valeur non conforme",
    "minItems": "liste vide",
    "uniqueItems": "valeurs répétées",
    "additionalProperties": "champ non prévu par le format",
}


def problems(marche: dict[str, Any], origin: str = "", ref: str = MARCHE) -> list[str]:
    """What keeps a ``marche`` object from the official schema, in French (empty: valid): the
    mandatory fields missing (in one message, with where they would have come from), then each
    value that breaks a rule."""
    titles = _titles()
    missing: dict[str, str] = {}
    wrong: list[str] = []
    for error in sorted(_validator(ref).iter_errors(marche), key=lambda e: list(e.path)):
        path = "/".join(str(p) for p in error.path)
        if error.validator == "required":
            instance = error.instance if isinstance(error.instance, dict) else {}
            for name in error.validator_value:
                if name not in instance:
                    where = f"{path}/{name}" if path else name
                    missing[where] = (f"{where} ({titles[name]})" if not path and name in titles
                                      else where)
        else:
            why = WHY.get(str(error.validator), "valeur non conforme")
            wrong.append(f"{path or 'marché'} = {error.instance!r} : {why}")
    found = []
    if missing:
        found.append("champs obligatoires absents : " + ", ".join(missing.values())
                     + (f" ({origin})" if origin else ""))
    return found + wrong


def _origin(row: dict[str, Any]) -> str:
    """Why a field can be missing: the publications the contract was read from lacked it."""
    sources = ", ".join(row["sources"] or []) or "source inconnue"
    return f"absents des données reçues : {sources}"


# --- warehouse rows → official objects ------------------------------------------------------

def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else float(value)


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _holders(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Identifiers only: the 2024 format has no name field (natural persons are never named).
    return [{"titulaire": {"typeIdentifiant": h["id_type"], "id": h["id"]}} for h in items]


def _modification_id(item: dict[str, Any]) -> int:
    raw = (item["modification_id"] or "").strip()
    return int(raw) if raw.isdigit() and int(raw) >= 1 else int(item["version"])


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    """Leave out what the warehouse does not hold (None, empty lists): the schema then names it
    as missing, instead of a value we would have made up."""
    return {k: v for k, v in obj.items() if v is not None and v != []}


def _wrapped(name: str, values: list[str] | None) -> dict[str, list[str]] | None:
    return {name: list(values)} if values else None


def marche_object(row: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One contract as the official ``marche`` object, and its subcontracting acts (checked
    apart: an incomplete act is left out, the contract still published)."""
    initial = [h for h in row["holders"] if h["version"] == 0]
    modifications = []
    for m in row["modifications"]:
        later = [h for h in row["holders"] if h["version"] == m["version"]]
        modifications.append({"modification": _clean({
            "id": _modification_id(m),
            "dateNotificationModification": _day(m["notification_date"]),
            "datePublicationDonneesModification": _day(m["publication_date"]),
            "dureeMois": m["duration_months"],
            "montant": _number(m["amount"]),
            "titulaires": _holders(later) if m["changes_holders"] else None,
        })})
    place = _clean({"code": row["place_code"], "typeCode": row["place_type"]})
    marche = _clean({
        "id": row["contract_id"],
        "acheteur": {"id": row["buyer_siret"]},
        "nature": row["nature"],
        "objet": row["object"],
        "codeCPV": row["cpv"],
        "techniques": _wrapped("technique", row["techniques"]),
        "modalitesExecution": _wrapped("modaliteExecution", row["execution_modes"]),
        "idAccordCadre": row["framework_id"],
        "marcheInnovant": row["is_innovative"],
        "ccag": row["ccag"],
        "offresRecues": row["offers_received"],
        "attributionAvance": row["advance_granted"],
        "tauxAvance": row["advance_rate"],
        "typeGroupementOperateurs": row["grouping_type"],
        "sousTraitanceDeclaree": row["subcontracting_declared"],
        "procedure": row["procedure"],
        "lieuExecution": place or None,
        "dureeMois": row["duration_months_initial"],
        "dateNotification": _day(row["notification_date"]),
        "datePublicationDonnees": _day(row["publication_date"]),
        "montant": _number(row["amount_initial"]),
        "typesPrix": _wrapped("typePrix", row["price_types"]),
        "formePrix": row["price_form"],
        "origineUE": row["origin_eu_share"],
        "origineFrance": row["origin_fr_share"],
        "titulaires": _holders(initial),
        "considerationsSociales": _wrapped("considerationSociale",
                                           row["social_considerations"]),
        "considerationsEnvironnementales": _wrapped("considerationEnvironnementale",
                                                    row["environmental_considerations"]),
        "modifications": modifications,
    })
    acts = [{"acteSousTraitance": _clean({
        "id": int(a["act_id"]) if (a["act_id"] or "").isdigit() else a["act_id"],
        "sousTraitant": _clean({"typeIdentifiant": a["id_type"], "id": a["id"]}),
        "dureeMois": a["duration_months"],
        "dateNotification": _day(a["notification_date"]),
        "datePublicationDonnees": _day(a["publication_date"]),
        "montant": _number(a["amount"]),
        "variationPrix": a["price_variation"],
    })} for a in row["acts"]]
    return marche, acts


def _rows(con: duckdb.DuckDBPyConnection, siret: str) -> Iterator[dict[str, Any]]:
    cursor = con.execute(CONTRACTS_SQL, {"siret": siret})
    names = [d[0] for d in cursor.description]
    for values in cursor.fetchall():
        yield dict(zip(names, values, strict=True))


def collect(con: duckdb.DuckDBPyConnection, siret: str) -> Publication:
    """The buyer's publication from a warehouse connection: each contract checked against the
    official schema, kept or set aside with its reasons."""
    publication = Publication(siret)
    publication.concessions = int(con.execute(
        "SELECT count(*) FROM contracts WHERE buyer_siret = ? AND kind <> 'marche'",
        [siret]).fetchall()[0][0])
    for row in _rows(con, siret):
        marche, acts = marche_object(row)
        kept_acts = []
        for act in acts:
            wrong = problems(act, _origin(row), ACT)
            if wrong:
                act_id = str(act["acteSousTraitance"].get("id", "?"))
                publication.acts_left_out.append(SetAside(row["contract_id"], wrong, act_id))
            else:
                kept_acts.append(act)
        if kept_acts:
            marche["actesSousTraitance"] = kept_acts
        found = problems(marche, _origin(row))
        if found:
            publication.set_aside.append(SetAside(row["contract_id"] or row["uid"], found))
        else:
            publication.marches.append(marche)
    return publication


def published_buyer(settings: Settings, siret: str) -> bool:
    """Whether the site publishes this buyer (known, and in the profile's scope)."""
    con = open_warehouse(settings)
    try:
        scope = scope_sql(con, "buyer_siret")  # built from constants, never from input
        return bool(con.execute(
            f"SELECT count(*) FROM buyers WHERE buyer_siret = ? AND {scope}",  # noqa: S608
            [siret]).fetchall()[0][0])
    finally:
        con.close()


def buyer_publication(settings: Settings, siret: str) -> Publication:
    """The buyer's publication from the warehouse in service."""
    con = open_warehouse(settings)
    try:
        return collect(con, siret)
    finally:
        con.close()


# --- serialisation, checked before writing --------------------------------------------------

def to_json(publication: Publication) -> bytes:
    text = json.dumps(publication.document, ensure_ascii=False, indent=2) + "\n"
    errors = sorted(jsonschema.Draft7Validator(json_schema()).iter_errors(
        publication.document), key=lambda e: list(e.path))
    if errors:  # each contract was checked: this would be a defect of the writer itself
        raise ObservatoireError(
            "Le fichier DECP produit n'est pas conforme au schéma officiel : il n'a pas été "
            "écrit.", where=f"acheteur {publication.buyer_siret}",
            hint="Signalez le problème : " + "; ".join(e.message for e in errors[:5]))
    return text.encode("utf-8")


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml_children(parent: etree._Element, name: str, value: Any) -> None:
    """The official XML layout: a wrapped list repeats its element (``<titulaires><titulaire>…``),
    a list of objects (``[{"titulaire": {…}}]``) repeats the inner element."""
    if isinstance(value, dict):
        node = etree.SubElement(parent, name)
        for key, item in value.items():
            if isinstance(item, list) and all(not isinstance(i, dict) for i in item):
                for one in item:
                    etree.SubElement(node, key).text = _xml_value(one)
            else:
                _xml_children(node, key, item)
    elif isinstance(value, list):
        node = etree.SubElement(parent, name)
        for item in value:
            for key, inner in item.items():
                _xml_children(node, key, inner)
    else:
        etree.SubElement(parent, name).text = _xml_value(value)


def to_xml(publication: Publication) -> bytes:
    root = etree.Element("marches")
    for marche in publication.marches:
        _xml_children(root, "marche", marche)
    schema = xml_schema()
    if not schema.validate(root):
        raise ObservatoireError(
            "Le fichier DECP produit (XML) n'est pas conforme au schéma officiel 2.0.2 : il n'a "
            "pas été écrit.", where=f"acheteur {publication.buyer_siret}",
            hint="Signalez le problème : "
                 + "; ".join(str(schema.error_log).splitlines()[:5]))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def render(publication: Publication, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ObservatoireError(f"Format « {fmt} » inconnu.", hint="Choisissez json ou xml.")
    if not publication.marches:
        raise ObservatoireError(
            f"Aucun marché de l'acheteur {publication.buyer_siret} ne peut être publié : "
            f"{len(publication.set_aside)} marché(s) examiné(s), tous incomplets."
            if publication.set_aside else
            f"L'entrepôt ne connaît aucun marché de l'acheteur {publication.buyer_siret}.",
            where=f"acheteur {publication.buyer_siret}",
            hint="Vérifiez le SIRET ; complétez les champs obligatoires signalés dans les "
                 "données de l'acheteur (ou par un redressement), puis reconstruisez.")
    return to_json(publication) if fmt == "json" else to_xml(publication)


def write(publication: Publication, path: Path, fmt: str = "json") -> None:
    """Write the buyer's DECP file at ``path`` (atomically: complete and valid, or nothing)."""
    data = render(publication, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
