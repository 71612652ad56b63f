"""Validation of PES V2 parts against DGFiP's official XSDs (revision 2.1.a), one part at a time.

A whole PES file cannot be validated while streaming it, so each part the reader finishes (the
envelope, the header, one bordereau's header, its pièces by groups, one Retour piece) is
validated on its own, then cleared.
The official schemas declare those parts as *types* (``depa:TBordereau``, ``cm:TEnTetePES``…),
not as global elements, so a small wrapper schema in a namespace of ours declares one global
element per type; the reader renames the finished element into that namespace for the time of
the check (its children are unqualified in PES, as in the wrapper). Line numbers are those of
the file.

The schemas are shipped in ``schemas/pes-v2`` (see the README there for their provenance).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from lxml import etree

SCHEMAS = Path(__file__).parent / "schemas" / "pes-v2"
PES_V2 = SCHEMAS / "Schemas_PES" / "PES_V2"
RETOUR = SCHEMAS / "retour"

#: Revision of the shipped schemas, as said in findings.
REVISION = "2.1.a"

WRAPPER_NS = "urn:observatoire:pes-v2:aller"
RETOUR_NS = "urn:observatoire:pes-v2:retour"
#: The wrapper's element for many pièces of a bordereau checked in one call: libxml2's
#: validation costs about a third less per pièce so (docs/benchmarks.md, branch ``pesx``).
PIECES = "Pieces"

NS_DEPA = "http://www.minefi.gouv.fr/cp/helios/pes_v2/depense/r0/aller"
NS_CM = "http://www.minefi.gouv.fr/cp/helios/pes_v2/commun"

NS_DS = "http://www.w3.org/2000/09/xmldsig#"


#: libxml2 keeps an element's line in 16 bits: from this line on, an element's line (lxml's
#: ``sourceline``, a schema error's line) is this number whatever the real line, so it is taken
#: as unknown (None), never given as a wrong line. (A file read in parts, ``pes_split``, counts
#: each part's lines from its own start: the cap applies per part.)
LINE_CAP = 65535


@dataclass(frozen=True)
class Violation:
    line: int | None
    #: Path of the faulty element inside the part (``Piece/BlocPiece/InfoPce/TypPce``).
    path: str
    element: str
    message: str
    #: libxml2's own (English) text, kept for whoever debugs the file.
    detail: str


class _RetourResolver(etree.Resolver):
    """The Retour classes come from another repository layout: their relative includes
    (``CommunDepense.xsd``, ``../../Class_SchemasCommuns.xsd``) point to the Aller tree."""

    TARGETS: ClassVar[dict[str, Path]] = {
        "CommunDepense.xsd": PES_V2 / "NS_Depense" / "r0" / "CommunDepense.xsd",
        "Class_SchemasCommuns.xsd": PES_V2 / "Class_SchemasCommuns.xsd",
    }

    def resolve(self, system_url: str, public_id: str,  # type: ignore[override]
                context: Any) -> Any:
        name = system_url.rsplit("/", 1)[-1]
        target = self.TARGETS.get(name)
        if target is not None and not Path(system_url.removeprefix("file://")).exists():
            return self.resolve_filename(str(target), context)  # type: ignore[attr-defined]
        return None


@cache
def aller_schema() -> etree.XMLSchema:
    """Envelope, header, and a Dépense Aller bordereau piece by piece: its ``BlocBordereau``,
    each ``Piece`` (lines and tiers included), its ``Signature``; and a bordereau's pièces in
    one go (``PIECES``, see :func:`validate_pieces`)."""
    wrapper = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
      targetNamespace="{WRAPPER_NS}" xmlns:depa="{NS_DEPA}" xmlns:cm="{NS_CM}"
      xmlns:ds="{NS_DS}" elementFormDefault="unqualified">
      <xs:import namespace="{NS_DEPA}"
        schemaLocation="{(PES_V2 / 'NS_Depense' / 'r0' / 'PES_DepenseAller.xsd').as_uri()}"/>
      <xs:import namespace="{NS_CM}"
        schemaLocation="{(PES_V2 / 'Class_SchemasCommuns.xsd').as_uri()}"/>
      <xs:import namespace="{NS_DS}"
        schemaLocation="{(PES_V2 / 'Class_Signature.xsd').as_uri()}"/>
      <xs:element name="BlocBordereau" type="depa:TBlocBordereau"/>
      <xs:element name="Piece" type="depa:TPiece"/>
      <xs:element name="{PIECES}">
        <xs:complexType><xs:sequence>
          <xs:element name="Piece" type="depa:TPiece" maxOccurs="unbounded"/>
          <xs:any namespace="{NS_DS}" processContents="skip" minOccurs="0"
            maxOccurs="unbounded"/>
        </xs:sequence><xs:anyAttribute processContents="skip"/></xs:complexType>
      </xs:element>
      <xs:element name="Signature" type="ds:PESSignatureType"/>
      <xs:element name="Enveloppe" type="cm:TEnveloppe"/>
      <xs:element name="EnTetePES" type="cm:TEnTetePES"/>
    </xs:schema>"""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    root = etree.fromstring(wrapper.encode(), parser, base_url=(PES_V2 / "wrapper.xsd").as_uri())
    return etree.XMLSchema(root)


@cache
def retour_schema() -> etree.XMLSchema:
    """A Retour mandat's piece block, line block and payment (the classes we have)."""
    includes = "".join(
        f'<xs:include schemaLocation="{(RETOUR / name).as_uri()}"/>'
        for name in ("Class_MandatRetour.xsd", "Class_LigneMandatRetour.xsd",
                     "Class_Paiement.xsd")
    )
    wrapper = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
      targetNamespace="{RETOUR_NS}" xmlns="{RETOUR_NS}" elementFormDefault="unqualified">
      {includes}
      <xs:element name="BlocPiece" type="TBlocPiece"/>
      <xs:element name="BlocLignePiece" type="TBlocLignePiece"/>
      <xs:element name="Paiement" type="TPaiement"/>
    </xs:schema>"""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_RetourResolver())
    root = etree.fromstring(wrapper.encode(), parser, base_url=(RETOUR / "wrapper.xsd").as_uri())
    return etree.XMLSchema(root)


def validate_part(schema: etree.XMLSchema, namespace: str, el: etree._Element) -> list[Violation]:
    """Validate one finished element as the global element of the same name in ``namespace``."""
    name = str(el.tag).rsplit("}", 1)[-1]
    return [_violation(entry, re.sub(r"^/[^/]+", name, entry.path or name), entry.message)
            for entry in _errors(schema, f"{{{namespace}}}{name}", el)]


_PIECE_PATH = re.compile(r"/[^/]+/Piece(?:\[(\d+)\])?(?=/|$)")


def validate_pieces(schema: etree.XMLSchema, namespace: str, bordereau: etree._Element,
                    count: int) -> list[list[Violation]] | None:
    """Validate the first ``count`` children of ``bordereau``, finished pièces, in one call: the
    violations of each, the same as :func:`validate_part` of each pièce would give. The
    children after them (pièces read ahead, a signature) are checked with their own pièces.
    None when what fails is not inside one of the pièces: check them one by one then."""
    out: list[list[Violation]] = [[] for _ in range(count)]
    for entry in _errors(schema, f"{{{namespace}}}{PIECES}", bordereau):
        found = _PIECE_PATH.match(entry.path or "")
        if found is None:
            return None
        index = int(found.group(1) or 1)
        if index > count:
            continue
        path, message = "Piece" + entry.path[found.end():], entry.message
        if path == "Piece" and message.startswith("Element 'Piece'"):
            # a pièce validated alone is the check's root, which libxml2 names with its
            # namespace
            message = f"Element '{{{namespace}}}Piece'" + message[len("Element 'Piece'"):]
        out[index - 1].append(_violation(entry, path, message))
    return out


def _errors(schema: etree.XMLSchema, tag: str, el: etree._Element) -> list[Any]:
    """libxml2's errors for ``el`` validated as the global element ``tag`` (the element is
    renamed for the time of the check)."""
    original = el.tag
    el.tag = tag
    try:
        if schema.validate(el):
            return []
        log: list[Any] = list(schema.error_log)  # type: ignore[call-overload]
        return log
    finally:
        el.tag = original


def _violation(entry: Any, path: str, message: str) -> Violation:
    path = re.sub(r"\b[a-z0-9]+:", "", path)  # namespace prefixes of the check
    element = _element_of(message) or path.rsplit("/", 1)[-1]
    return Violation(entry.line if entry.line < LINE_CAP else None, path, element,
                     french(message), message)


def _element_of(message: str) -> str | None:
    found = re.match(r"Element '(?:\{[^}]*\})?([^']+)'", message)
    return found.group(1) if found else None


_MESSAGES = [
    (r"attribute 'V': \[facet 'pattern'\] The value '([^']*)' is not accepted by the pattern",
     "la valeur « {0} » n'a pas la forme attendue"),
    (r"attribute 'V': \[facet 'enumeration'\] The value '([^']*)' is not an element of the set",
     "la valeur « {0} » n'est pas un code de la liste officielle"),
    (r"attribute 'V': \[facet '(?:maxLength|minLength|length)'\] The value '([^']*)'",
     "la valeur « {0} » n'a pas la longueur attendue"),
    (r"attribute 'V': \[facet '[a-zA-Z]+'\] The value '([^']*)'",
     "la valeur « {0} » sort des limites du schéma"),
    (r"attribute 'V': '([^']*)' is not a valid value",
     "la valeur « {0} » n'est pas du type attendu (nombre, montant, date…)"),
    (r"The attribute 'V' is required but missing", "l'attribut V (la valeur) manque"),
    (r"Missing child element\(s\)\. Expected is (?:one of )?\( ?([^)]*)\)",
     "un élément obligatoire manque (attendu : {0})"),
    (r"This element is not expected\. Expected is (?:one of )?\( ?([^)]*)\)",
     "cet élément n'est pas attendu à cet endroit (attendu : {0})"),
    (r"This element is not expected", "cet élément n'est pas attendu à cet endroit"),
    (r"The attribute '([^']*)' is not allowed", "l'attribut « {0} » n'est pas prévu"),
    (r"Character content other than whitespace is not allowed",
     "du texte figure là où le schéma n'attend que des éléments"),
    (r"Duplicate key-sequence|is not unique|Duplicate", "une valeur est en double"),
]


def french(message: str) -> str:
    """libxml2's schema message, said in French (the original stays in ``detail``)."""
    for pattern, text in _MESSAGES:
        found = re.search(pattern, message)
        if found:
            groups = [g.strip().replace("{http://www.w3.org/2000/09/xmldsig#}", "ds:")
                      for g in found.groups()]
            return text.format(*groups)
    return "le contenu ne respecte pas le schéma"
