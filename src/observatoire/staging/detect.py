"""Detect what a file is from its content, never from its name."""

from __future__ import annotations

import codecs
import csv
import io
import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ijson
import orjson

from observatoire.errors import InputFileError
from observatoire.staging.flat import canonical as flat_canonical

SAMPLE = 64 * 1024

#: Header columns that identify each kind of CSV file (all listed columns must be present).
CSV_SIGNATURES: list[tuple[str, str, str, frozenset[str]]] = [
    (
        "decp",
        "decp-tabular-csv",
        "DECP consolidé tabulaire (CSV, une ligne par marché × titulaire)",
        frozenset({"acheteur_id", "titulaire_id", "montant"}),
    ),
    ("reference", "ref-cpv-csv", "Nomenclature CPV 2008 (CSV)", frozenset({"CODE", "FR"})),
    (
        "reference",
        "ref-cpv-csv",
        "Nomenclature CPV 2008 avec parents (CSV)",
        frozenset({"id", "name", "parent"}),
    ),
    (
        "reference",
        "ref-cog-csv",
        "Code officiel géographique, communes (CSV)",
        frozenset({"commune_code", "departement_code", "region_code"}),
    ),
    (
        "reference",
        "ref-sirene-etablissements-csv",
        "SIRENE, établissements (CSV)",
        frozenset({"siret", "codeCommuneEtablissement"}),
    ),
    (
        "reference",
        "ref-sirene-categories-csv",
        "SIRENE, catégorie d'entreprise (CSV)",
        frozenset({"siren", "categorieEntreprise"}),
    ),
]
#: Columns (canonical: lower case, "." read as "_") of the ministry's flat CSV exports.
FLAT_CSV_SIGNATURES = [
    frozenset({"acheteur_id", "titulaire_id_1"}),
    frozenset({"autoriteconcedante_id", "concessionnaire_id_1"}),
]
FLAT_CSV_LABEL = "DECP « à plat » du ministère (data.economie.gouv.fr), CSV"
PARQUET_SIGNATURES: list[tuple[str, str, frozenset[str]]] = [
    (
        "ref-cog-parquet",
        "Code officiel géographique, communes (Parquet)",
        frozenset({"commune_code", "departement_code", "region_code"}),
    ),
]
#: Keys of which at least one marks a JSON object as a DECP record.
DECP_RECORD_KEYS = frozenset(
    {
        "acheteur",
        "autoriteConcedante",
        "titulaires",
        "concessionnaires",
        "codeCPV",
        "montant",
        "dateNotification",
        "acheteur.id",
    }
)
#: Readable ZIP and GZIP archives are opened at ingestion: those that reach the detection are
#: damaged, or office documents.
BINARY_MAGIC = {
    b"PK\x03\x04": "une archive ZIP illisible (ou un classeur XLSX)",
    b"%PDF": "un document PDF",
    b"\x1f\x8b": "une archive GZIP illisible (tronquée ou abîmée)",
    b"\x89PNG": "une image PNG",
}


@dataclass
class Detected:
    """What a file was found to be."""

    kind: str  # the source kind (connector) the file belongs to: decp, reference…
    format: str  # machine id, e.g. decp-json-list
    label: str  # French description
    encoding: str = "utf-8"
    #: For JSON: the ijson prefixes of the record lists, with the list name they stand for.
    prefixes: list[tuple[str, str | None]] = field(default_factory=list)
    delimiter: str = ","
    notes: list[str] = field(default_factory=list)
    #: "replace" for a UTF-8 file with a few invalid bytes (read with U+FFFD in their place)
    errors: str = "strict"
    #: The bytes ``NaN`` occur in the file (JSON only): the NaN filter is needed.
    has_nan: bool = False
    #: A small JSON file's bytes and its document, when the detection parsed it whole: the
    #: parse reads its records from there (:func:`observatoire.staging.parse.records_in_hand`).
    in_hand: tuple[bytes, Any] | None = field(default=None, repr=False, compare=False)


@dataclass
class TextScan:
    """What one pass over a text file found."""

    encoding: str
    errors: str
    notes: list[str]
    has_nan: bool


def scan_text(path: Path, sample: bytes) -> TextScan:
    """Encoding of a text file, checked over every byte in one chunked pass, and whether the
    bytes ``NaN`` occur in it (only then does a JSON file need the NaN filter).

    A file whose first 64 KiB are plain ASCII may hold Latin-1 accents further on. A file that
    is UTF-8 but for a few stray bytes is read as UTF-8 with those bytes replaced; a file with
    more invalid bytes than valid UTF-8 characters is Windows-1252 (the usual Latin-1 export).
    """
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # NaN in UTF-16 is not the ASCII bytes "NaN": let the filter look after re-encoding.
        return TextScan("utf-16", "strict", ["encodage UTF-16 converti en UTF-8"], True)
    bom = sample.startswith(codecs.BOM_UTF8)
    if len(sample) < SAMPLE:  # a small file: its bytes in hand, most often valid UTF-8
        try:
            codecs.utf_8_decode(sample, "strict", False)  # as the loop's decoder, not final
        except UnicodeDecodeError:
            pass
        else:
            return TextScan("utf-8-sig" if bom else "utf-8", "strict", [], b"NaN" in sample)
    decoder = codecs.getincrementaldecoder("utf-8")()
    strict = True
    valid = invalid = 0
    has_nan = False
    tail = b""
    # A file shorter than the sample is the sample: not read a second time (small files).
    with io.BytesIO(sample) if len(sample) < SAMPLE else path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            has_nan = has_nan or b"NaN" in tail + chunk[:2] or b"NaN" in chunk
            tail = chunk[-2:]
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError:
                # From the first invalid byte on, count invalid bytes against valid characters.
                strict = False
                decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
                text = decoder.decode(chunk)
            bad = 0 if strict else text.count("\ufffd")
            invalid += bad
            valid += len(text) - len(text.encode("ascii", "ignore")) - bad
    if strict:
        return TextScan("utf-8-sig" if bom else "utf-8", "strict", [], has_nan)
    if valid > invalid:
        note = f"{invalid} octet(s) invalide(s) en UTF-8 remplacé(s) par « � »"
        return TextScan("utf-8", "replace", [note], has_nan)
    note = "encodage Windows-1252 (Latin-1) détecté et converti en UTF-8"
    return TextScan("cp1252", "strict", [note], has_nan)


#: Bytes decoded to see how a file begins (the whole sample is decoded only where it is read).
HEAD = 1024


def _text(sample: bytes, encoding: str, head: int | None = None) -> str:
    """The sample (or its first ``head`` bytes) as text, without the leading BOM and spaces.
    A head cut within a character ends with "\ufffd": its first characters are the whole
    sample's, unless nothing but spaces precede the cut (then the whole sample is decoded)."""
    if head is not None and len(sample) > head:
        text = sample[:head].decode(encoding, errors="replace").lstrip("\ufeff \t\r\n")
        if text.rstrip("\ufffd"):
            return text
    return sample.decode(encoding, errors="replace").lstrip("\ufeff \t\r\n")


def detect(path: Path) -> Detected:
    """Identify the file at ``path`` or raise :class:`InputFileError` saying why not."""
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE)
    where = str(path)
    if not sample.strip():
        raise InputFileError(
            "Le fichier est vide.",
            where=where,
            hint="Vérifiez le téléchargement ou l'export qui a produit ce fichier.",
        )
    if sample.startswith(b"PAR1"):
        return _detect_parquet(path)
    for magic, what in BINARY_MAGIC.items():
        if sample.startswith(magic):
            raise InputFileError(
                f"Le fichier est {what}, pas un fichier de données DECP ou de référence.",
                where=where,
                hint="Téléchargez à nouveau une archive abîmée ; exportez un classeur ou un "
                "document en JSON, XML ou CSV."
                if magic in (b"PK\x03\x04", b"\x1f\x8b")
                else "Exportez les données en JSON, XML ou CSV.",
            )
    utf16 = sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in sample and not utf16:
        raise InputFileError(
            "Le fichier est binaire (il contient des octets nuls) : ce n'est ni du JSON, "
            "ni du XML, "
            "ni du CSV.",
            where=where,
            hint="Vérifiez qu'il s'agit bien d'un export DECP (JSON, XML) ou d'un CSV.",
        )
    if _text(sample, "utf-16" if utf16 else "utf-8", HEAD).startswith("<"):
        # lxml reads the XML declaration's encoding itself: the bytes go to it unchanged.
        return _detect_xml(_text(sample, "utf-16" if utf16 else "utf-8"), where)
    scan = scan_text(path, sample)
    if _text(sample, scan.encoding, HEAD).startswith(("{", "[")):
        whole = sample if len(sample) < SAMPLE else None
        det = _detect_json(path, scan.encoding, scan.notes, whole)
        det.has_nan = scan.has_nan
    else:
        det = _detect_csv(_text(sample, scan.encoding), where, scan.encoding, scan.notes)
    det.errors = scan.errors
    return det


#: Record lists of a JSON file: (prefix of the list, format, label) when its records are nested.
LISTS = {
    "": ("decp-json-array", "DECP JSON (liste de marchés à la racine)"),
    "marches": (
        "decp-json-list",
        'DECP JSON, paquet {"marches": [...]} (format 2019 ou 2024 « à plat »)',
    ),
    # The records of an Opendatasoft API answer (data.economie.gouv.fr): flat records only,
    # bare (API v2) or in an envelope {"recordid", "fields": {...}} (API v1).
    "results": (None, ""),
    "records": (None, ""),
}
FLAT_LABEL = "DECP « à plat » du ministère (data.economie.gouv.fr), JSON"
WRAPPED_LABEL = ('DECP JSON 2024, paquet {"marches": {"marche": [...], '
                 '"contrat-concession": [...]}}')
WRAPPED_PREFIXES = (("marches.marche.item", "marche"),
                    ("marches.contrat-concession.item", "contrat-concession"))


def json_problem(exc: Exception) -> str:
    """What an ijson (yajl) error means, in French: its own text is English parser jargon."""
    text = str(exc).lower()
    if "premature eof" in text or "incomplete" in text:
        return "le fichier s'arrête au milieu d'un enregistrement : il est tronqué"
    if "trailing garbage" in text or "additional data" in text:
        return "du contenu suit la fin du document JSON"
    if "inside string" in text:
        return "un texte contient un caractère interdit (caractère de contrôle non échappé)"
    if "lexical error" in text or "parse error" in text:
        return "un caractère inattendu rompt la structure JSON"
    return "la structure JSON est rompue"


#: Bytes handed to the JSON parser at a time while detecting. The C parser turns a whole chunk
#: into events (numbers into Decimals…) before the first is looked at, and detection stops at
#: the end of the first record: with ijson's default 64 KiB, a small file was parsed whole
#: (0.2 ms of a 12 KB publication's detection, as much as its full parse). The events and
#: errors seen are the same at any size.
DETECT_CHUNK = 2048


def _detect_json(path: Path, encoding: str, notes: list[str],
                 whole: bytes | None = None) -> Detected:
    """Find the layout from the first parse events: where the record lists are, and whether
    their first record is nested (official formats) or flat (the ministry's exports).
    ``whole``: the file's bytes when the sample already holds all of them."""
    from observatoire.staging import flat
    from observatoire.staging.streams import open_bytes

    if whole is not None and encoding == "utf-8":
        found = _detect_json_in_hand(whole, notes)
        if found is not None:
            return found
    seen: list[tuple[str, str]] = []
    listed: str | None = None  # the list whose first record is being looked at
    first_keys: set[str] = set()
    try:
        # the bytes in hand when no re-encoding is needed
        opened = (nullcontext(io.BytesIO(whole)) if whole is not None and encoding == "utf-8"
                  else open_bytes(path, encoding))
        with opened as fh:
            for prefix, event, value in ijson.parse(fh, buf_size=DETECT_CHUNK):
                if listed is not None:
                    item = f"{listed}.item" if listed else "item"
                    if prefix in (item, f"{item}.fields") and event == "map_key":
                        first_keys.add(str(value))
                        seen.append((prefix, str(value)))
                    end_of_first = (prefix, event) == (item, "end_map")
                    empty = (prefix, event) == (listed, "end_array")
                    if end_of_first or empty or len(first_keys) > 200:
                        break
                    continue
                if prefix in LISTS and event == "start_array":
                    listed = prefix
                    continue
                if prefix == "marches" and event == "start_map":
                    return Detected("decp", "decp-json-wrapped", WRAPPED_LABEL, encoding,
                                    list(WRAPPED_PREFIXES), notes=notes)
                if prefix == "" and event == "map_key":
                    seen.append((prefix, str(value)))
                    if len(seen) > 50:
                        break
    except ijson.JSONError as exc:
        # Broken within the first record of a list: the parser keeps what it can and says where.
        if listed is None or (listed != "marches" and not first_keys):
            raise InputFileError(
                "Le fichier commence comme du JSON mais n'est pas du JSON valide "
                f"({json_problem(exc)}).",
                where=str(path),
                hint="Le fichier est peut-être tronqué ou corrompu : téléchargez-le à nouveau.",
            ) from exc
    if listed is not None:
        item = f"{listed}.item" if listed else "item"
        fmt, label = LISTS[listed]
        if not flat.MARKERS.isdisjoint(first_keys):
            return Detected(
                "decp", "decp-flat-json", FLAT_LABEL, encoding, [(item, None)], notes=notes
            )
        if fmt is not None and (listed == "marches" or first_keys & DECP_RECORD_KEYS):
            return Detected("decp", fmt, label, encoding, [(item, None)], notes=notes)
    array_start = listed == ""
    keys = ", ".join(k for _, k in seen[:10]) or "aucune"
    if array_start or listed in ("results", "records"):
        raise InputFileError(
            "Ce JSON est une liste, mais ses éléments ne sont pas des marchés DECP "
            f"(clés du premier élément : {keys}).",
            where=str(path),
            hint="Un fichier DECP contient des marchés avec au moins id, acheteur et titulaires.",
        )
    raise InputFileError(
        "Ce JSON n'a pas la forme d'un paquet DECP : la clé « marches » est absente "
        f"(clés trouvées à la racine : {keys}).",
        where=str(path),
        hint='Un fichier DECP contient {"marches": [...]} (format 2019) ou '
        '{"marches": {"marche": [...]}} (format 2024).',
    )


#: A number of 19 digits or more: orjson reads those past 64 bits as floats (ijson keeps them
#: exact, or stops at them). Found with the bytes mapped (digits to "0", what may precede a
#: number to ":", spaces and minus signs removed) and one substring search: a regular
#: expression cost five times more. A false alarm (such digits in a string) costs only the
#: slower way.
NUMBER_SHAPE = bytes(
    ord("0") if chr(b).isdigit() and b < 128 else ord(":") if b in b":,[" else ord("x")
    for b in range(256))
LONG_NUMBER = b":" + b"0" * 19
#: An ASCII letter written as an escape (``\u0061``): a key so spelled could repeat a key that
#: counting its plain spelling would miss.
ESCAPED_LETTER = re.compile(rb"\\u00[4-7][0-9a-fA-F]")


def plain_json(data: bytes) -> bool:
    """Whether a JSON text parsed whole (orjson) gives what ijson's events give: no number
    past 64 bits, no key spelled with escaped letters (see :func:`_detect_json_in_hand`)."""
    return (LONG_NUMBER not in data.translate(NUMBER_SHAPE, b" \t\r\n-")
            and ESCAPED_LETTER.search(data) is None)


def _detect_json_in_hand(whole: bytes, notes: list[str]) -> Detected | None:
    """The layout of a small UTF-8 JSON file from one orjson parse of its bytes, in the common
    cases: a root list, or a root object whose first key is a lone "marches". It finds what
    the event-by-event detection finds (tests/test_landing_packs.py compares them on every
    real file), and keeps the document for the parse (:attr:`Detected.in_hand`). None for
    anything else (invalid JSON, another first key, a first record with a "fields" envelope
    or more than 200 keys…): the event-by-event detection decides, and words its refusals."""
    from observatoire.staging import flat

    if not plain_json(whole):
        return None
    try:
        document = orjson.loads(whole)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, list):
        listed, items = "", document
    elif (isinstance(document, dict) and next(iter(document), None) == "marches"
          and whole.count(b'"marches"') == 1):
        listed, items = "marches", document["marches"]
        if isinstance(items, dict):
            return Detected(
                "decp", "decp-json-wrapped", WRAPPED_LABEL, "utf-8", list(WRAPPED_PREFIXES),
                notes=notes, in_hand=(whole, document))
        if not isinstance(items, list):
            return None
    else:
        return None
    # The first object of the list: the events' first record (items that are not objects
    # have no keys of their own).
    first = next((item for item in items if isinstance(item, dict)), {})
    if "fields" in first or len(first) > 200:
        return None
    item = f"{listed}.item" if listed else "item"
    fmt, label = LISTS[listed]
    if not flat.MARKERS.isdisjoint(first):
        return Detected("decp", "decp-flat-json", FLAT_LABEL, "utf-8", [(item, None)],
                        notes=notes, in_hand=(whole, document))
    if fmt is not None and (listed == "marches" or not DECP_RECORD_KEYS.isdisjoint(first)):
        return Detected("decp", fmt, label, "utf-8", [(item, None)], notes=notes,
                        in_hand=(whole, document))
    return None


def _detect_xml(text: str, where: str) -> Detected:
    # Skip the declaration, comments and processing instructions to find the root element.
    body = text
    while body.startswith(("<?", "<!--", "<!")):
        end = body.find(
            "?>" if body.startswith("<?") else "-->" if body.startswith("<!--") else ">"
        )
        if end < 0:
            break
        body = body[end + 3 if body.startswith("<!--") else end + 2 :].lstrip()
    root = body[1:].split(">", 1)[0].split()[0] if len(body) > 1 else ""
    local = root.split(":")[-1].rstrip("/")
    if local in ("marche", "contrat-concession"):
        return Detected("decp", "decp-xml", f"DECP XML (un seul <{local}>)")
    if local == "marches":
        return Detected("decp", "decp-xml", "DECP XML (<marches>)")
    raise InputFileError(
        f"Ce XML n'est pas un fichier DECP : l'élément racine est <{root}> au lieu de <marches>.",
        where=where,
        hint="Seuls les flux DECP XML (racine <marches>) sont acceptés.",
    )


def _detect_csv(text: str, where: str, encoding: str, notes: list[str]) -> Detected:
    first_line = text.splitlines()[0] if text else ""
    delimiters = {d: first_line.count(d) for d in [",", ";", "\t", "|"]}
    delimiter = max(delimiters, key=lambda d: delimiters[d])
    if delimiters[delimiter] == 0:
        raise InputFileError(
            "Format non reconnu : ni JSON, ni XML, ni CSV avec un séparateur connu.",
            where=where,
            hint="Fournissez un fichier DECP (JSON, XML), un CSV DECP consolidé ou un référentiel.",
        )
    header = next(csv.reader(io.StringIO(first_line), delimiter=delimiter))
    columns = {c.strip().strip('"') for c in header}
    for kind, fmt, label, needed in CSV_SIGNATURES:
        if needed <= columns:
            return Detected(kind, fmt, label, encoding, delimiter=delimiter, notes=notes)
    canonical = {flat_canonical(c) for c in columns}
    for needed in FLAT_CSV_SIGNATURES:
        if needed <= canonical:
            return Detected("decp", "decp-flat-csv", FLAT_CSV_LABEL, encoding,
                            delimiter=delimiter, notes=notes)
    # Name first what explains the failure: the columns missing from the closest known layout.
    layouts = [(label, needed) for _, _, label, needed in CSV_SIGNATURES] + [
        (FLAT_CSV_LABEL, frozenset({"acheteur_id", "titulaire_id_1"}))
    ]
    label, needed = min(layouts, key=lambda lay: len(lay[1] - columns) / len(lay[1]))
    missing = ", ".join(sorted(needed - columns))
    found = ", ".join(sorted(columns)[:12]) + (" …" if len(columns) > 12 else "")
    raise InputFileError(
        f"CSV non reconnu : il manque les colonnes {missing}, attendues pour le format le plus "
        f"proche ({label}). Colonnes trouvées : {found}.",
        where=f"{where}, ligne 1 (en-tête)",
        hint="Le DECP consolidé doit avoir au moins les colonnes acheteur_id, titulaire_id et "
        "montant ; le DECP « à plat » du ministère, acheteur_id (ou acheteur.id) et "
        "titulaire_id_1.",
    )


def _detect_parquet(path: Path) -> Detected:
    import pyarrow.parquet as pq

    try:
        names = set(pq.read_schema(path).names)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise InputFileError(
            "Fichier Parquet illisible : son en-tête ou son pied de fichier est abîmé "
            "(fichier tronqué ou mal écrit).",
            where=str(path),
            hint="Téléchargez le fichier à nouveau.",
        ) from exc
    for fmt, label, needed in PARQUET_SIGNATURES:
        if needed <= names:
            return Detected("reference", fmt, label)
    raise InputFileError(
        "Fichier Parquet non reconnu (colonnes : " + ", ".join(sorted(names)[:12]) + ").",
        where=str(path),
        hint="Seul le code officiel géographique est accepté en Parquet.",
    )
