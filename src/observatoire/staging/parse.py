"""Streaming parsers: JSON (ijson), XML (lxml iterparse) and the consolidated CSV.

Each yields staging rows (see :mod:`observatoire.staging.records`) one by one; the writer batches
them into a Parquet file. A file that breaks in the middle keeps the records read before the break
and the load says where it broke.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ijson
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree

from observatoire.staging import json_sql
from observatoire.staging.detect import Detected, json_problem, plain_json
from observatoire.staging.records import SCHEMA, empty_row, normalise, remove_nul, to_batch
from observatoire.staging.streams import (
    AmpersandFilter,
    ControlByteFilter,
    NanFilter,
    open_bytes,
    open_json,
)


@dataclass
class ParseResult:
    """Counts and problems of one parse."""

    records: int = 0
    marches: int = 0
    concessions: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def status(self) -> str:
        broken = any(e["code"] in FATAL_CODES for e in self.errors)
        if broken:
            return "partial" if self.records else "rejected"
        return "loaded"


#: Error codes that mean the file could not be read to its end.
FATAL_CODES = {"json_invalide", "xml_invalide", "csv_invalide", "aucun_enregistrement"}


def error(code: str, message: str, where: str, hint: str) -> dict[str, str]:
    return {"code": code, "message": message, "where": where, "hint": hint}


#: ijson's pure-Python parser: exact where yajl overflows (integers past 64 bits).
PYTHON_JSON = ijson.get_backend("python")


def iter_json(
    path: Path, det: Detected, file_hash: str, result: ParseResult
) -> Iterator[dict[str, Any]]:
    position = 0
    replaced = 0
    backend: Any = ijson  # yajl's C parser, fast
    yielded = 0
    while True:
        try:
            position = 0
            for prefix, listed_as in det.prefixes:
                found = 0
                with open_json(path, det.encoding, det.errors, det.has_nan) as fh:
                    for item in backend.items(fh, prefix, use_float=True):
                        found += 1
                        position += 1
                        if position <= yielded:  # read before the parser was changed
                            continue
                        yielded = position
                        yield normalise(
                            item, file_hash=file_hash, position=position, listed_as=listed_as
                        )
                    if isinstance(fh, NanFilter):
                        replaced = max(replaced, fh.replaced)
                if not found and listed_as is not None:
                    # {"marche": {...}}: one object where a list is expected (XML turned into
                    # JSON by a converter that writes a one-item list as its item).
                    for row in _single_object(path, det, prefix.removesuffix(".item"),
                                              listed_as):
                        position += 1
                        row.update(file_hash=file_hash, position=position)
                        yielded = position
                        yield row
            break
        except ijson.JSONError as exc:
            if backend is ijson and "overflow" in str(exc):
                # An integer past 64 bits is valid JSON that yajl cannot hold: the rest of the
                # file is read by ijson's Python parser (slower, exact), from where it stopped.
                backend = PYTHON_JSON
                continue
            position = yielded
            result.errors.append(
                error(
                    "json_invalide",
                    f"JSON invalide ou tronqué après l'enregistrement n° {position} : "
                    f"{json_problem(exc)}.",
                    f"{path}, après l'enregistrement {position}",
                    "Les enregistrements complets lus avant l'erreur sont gardés ; téléchargez "
                    "à nouveau le fichier complet puis ingérez-le.",
                )
            )
            break
    if replaced:
        result.errors.append(
            error(
                "nan_remplace",
                f"{replaced} valeur(s) « NaN », invalides en JSON, lues comme vides (null).",
                str(path),
                "Rien à faire ; signalez-le au producteur du fichier.",
            )
        )


def _single_object(
    path: Path, det: Detected, prefix: str, listed_as: str
) -> Iterator[dict[str, Any]]:
    """The record of a list written as a single object (nothing else is read into memory: a
    list would have yielded its items already)."""
    with open_json(path, det.encoding, det.errors, det.has_nan) as fh:
        for value in ijson.items(fh, prefix, use_float=True):
            if isinstance(value, dict):
                row = normalise(value, file_hash="", position=0, listed_as=listed_as)
                row["notes"] = sorted({*row["notes"], "objet_au_lieu_de_liste"})
                yield row


def _element_to_obj(el: Any) -> Any:
    """An XML element as JSON-like data: leaves as text, repeated children as lists."""
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        # Like a JSON string, the text is kept as written (spaces included); blank is empty.
        value = el.text
        return value if isinstance(value, str) and value.strip() else None
    obj: dict[str, Any] = {}
    repeated: set[str] = set()
    for child in children:
        tag = etree.QName(child).localname
        value = _element_to_obj(child)
        if tag in repeated:
            obj[tag].append(value)
        elif tag in obj:
            obj[tag] = [obj[tag], value]
            repeated.add(tag)
        else:
            obj[tag] = value
    return obj


def iter_xml(
    path: Path, det: Detected, file_hash: str, result: ParseResult
) -> Iterator[dict[str, Any]]:
    position = 0
    with open_bytes(path, det.encoding) as raw:
        filtered = ControlByteFilter(raw)
        ampersands = AmpersandFilter(filtered)
        stream = io.BufferedReader(ampersands, 1 << 20)
        try:
            for _, el in etree.iterparse(
                stream,
                events=("end",),
                tag=("{*}marche", "{*}contrat-concession"),
                recover=False,
                huge_tree=True,
                resolve_entities=False,
                no_network=True,
            ):
                position += 1
                listed_as = etree.QName(el).localname
                obj = _element_to_obj(el)
                row = normalise(
                    obj,
                    file_hash=file_hash,
                    position=position,
                    line=el.sourceline,
                    listed_as=listed_as,
                )
                # In XML, wrappers such as <titulaires><titulaire> are the normal shape.
                row["notes"] = [n for n in row["notes"] if n not in XML_NORMAL_NOTES]
                yield row
                el.clear()
                parent = el.getparent()
                while parent is not None and el.getprevious() is not None:
                    del parent[0]
        except etree.XMLSyntaxError as exc:
            line, column = exc.position if exc.position else (exc.lineno, 0)
            result.errors.append(
                error(
                    "xml_invalide",
                    f"XML illisible à la ligne {line}, colonne {column}, après "
                    f"l'enregistrement n° {position} : {xml_problem(exc)}.",
                    f"{path}, ligne {line}",
                    "Les enregistrements lus avant l'erreur sont gardés ; demandez un fichier "
                    "valide.",
                )
            )
        if filtered.removed:
            result.errors.append(
                error(
                    "caracteres_controle",
                    f"{filtered.removed} caractère(s) de contrôle interdits en XML ont été "
                    "retirés.",
                    str(path),
                    "Rien à faire : le contenu a été lu ; signalez-le au producteur.",
                )
            )
        if ampersands.repaired:
            lines = ", ".join(map(str, ampersands.lines))
            more = " …" if ampersands.repaired > len(ampersands.lines) else ""
            result.errors.append(
                error(
                    "esperluette_echappee",
                    f"{ampersands.repaired} caractère(s) « & » isolé(s), interdits en XML, ont "
                    "été lus comme du texte (« & ») : rien n'a été perdu.",
                    f"{path}, ligne(s) {lines}{more}",
                    "Rien à faire ; signalez-le au producteur (« & » s'écrit « &amp; » en XML).",
                )
            )


def xml_problem(exc: etree.XMLSyntaxError) -> str:
    """What an lxml (libxml2) error means, in French: its own text is English parser jargon."""
    text = str(exc.msg or "").lower()
    if "premature end" in text or "end of data" in text or "not found" in text:
        return "le fichier s'arrête avant la fin du document : il est tronqué"
    if "mismatch" in text:
        return "une balise fermante ne correspond pas à la balise ouverte"
    if "extra content" in text:
        return "du contenu suit la fin du document XML"
    if "entity" in text:
        return "une entité « &…; » est mal formée ou inconnue"
    if "encoding" in text or "utf-8" in text or "bytes" in text:
        return "des octets ne correspondent pas à l'encodage déclaré"
    return "la structure XML est rompue (balise ou caractère inattendu)"


XML_NORMAL_NOTES = {"modifications_objet"}

#: Column of the consolidated CSV (decp.info) -> staging field it fills.
TABULAR_SCALARS = {
    "uid": "raw_uid",
    "id": "raw_id",
    "acheteur_id": "raw_buyer_id",
    "acheteur_nom": "raw_buyer_name",
    "nature": "raw_nature",
    "objet": "raw_object",
    "codeCPV": "raw_cpv",
    "procedure": "raw_procedure",
    "lieuExecution_code": "raw_place_code",
    "lieuExecution_typeCode": "raw_place_type",
    "dureeMois": "raw_duration",
    "dateNotification": "raw_notification_date",
    "datePublicationDonnees": "raw_publication_date",
    "montant": "raw_amount",
    "formePrix": "raw_price_form",
    "idAccordCadre": "raw_framework_id",
    "marcheInnovant": "raw_innovative",
    "ccag": "raw_ccag",
    "offresRecues": "raw_offers",
    "attributionAvance": "raw_advance_granted",
    "tauxAvance": "raw_advance_rate",
    "typeGroupementOperateurs": "raw_grouping",
    "sousTraitanceDeclaree": "raw_subcontracting_declared",
    "origineUE": "raw_origin_eu",
    "origineFrance": "raw_origin_fr",
    "sourceDataset": "raw_source",
    "modification_id": "raw_version",
    "titulaire_departement_code": "raw_holder_departement",
    "titulaire_region_code": "raw_holder_region",
    "acheteur_departement_code": "raw_buyer_departement",
    "acheteur_region_code": "raw_buyer_region",
}
TABULAR_LISTS = {
    "techniques": "raw_techniques",
    "modalitesExecution": "raw_execution_modes",
    "typesPrix": "raw_price_types",
    "considerationsSociales": "raw_social",
    "considerationsEnvironnementales": "raw_environmental",
}
#: Fields whose absence from the CSV header is recorded (the "missing" rules then skip them).
CHECKED_FIELDS = {
    "raw_id",
    "raw_buyer_id",
    "raw_nature",
    "raw_object",
    "raw_cpv",
    "raw_procedure",
    "raw_place_code",
    "raw_place_type",
    "raw_duration",
    "raw_notification_date",
    "raw_publication_date",
    "raw_amount",
    "raw_price_form",
    "raw_offers",
    "raw_ccag",
}
HOLDER_COLUMNS = {"titulaire_id": "holder_id", "titulaire_typeIdentifiant": "holder_id_type"}
TABULAR_READ = {*TABULAR_SCALARS, *TABULAR_LISTS, *HOLDER_COLUMNS, "titulaire_nom"}
TABULAR_V2_COLUMNS = {"offresRecues", "ccag", "attributionAvance", "techniques", "typesPrix"}


def _ragged_row(path: Path, line: int, values: list[str], header: list[str]) -> dict[str, str]:
    """A CSV row with more or fewer cells than the header (it is still read, in order)."""
    return error(
        "csv_colonnes",
        f"La ligne a {len(values)} colonnes au lieu de {len(header)}.",
        f"{path}, ligne {line}",
        "La ligne est lue colonne par colonne dans l'ordre de l'en-tête ; vérifiez les "
        "séparateurs et les guillemets.",
    )


def iter_tabular(
    path: Path, det: Detected, file_hash: str, result: ParseResult
) -> Iterator[dict[str, Any]]:
    with path.open("r", encoding=det.encoding, errors=det.errors, newline="") as fh:
        reader = csv.reader(fh, delimiter=det.delimiter)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return
        family = "2024" if TABULAR_V2_COLUMNS & set(header) else "2019"
        columns = set(header)
        absent = sorted(
            [f for c, f in TABULAR_SCALARS.items() if f in CHECKED_FIELDS and c not in columns]
            + [f for c, f in HOLDER_COLUMNS.items() if c not in columns]
        )
        position = 0
        try:
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                position += 1
                if len(values) != len(header):
                    result.errors.append(_ragged_row(path, reader.line_num, values, header))
                rec = dict(zip(header, values, strict=False))
                row = _tabular_row(rec, family, file_hash, position, reader.line_num)
                row["absent_fields"] = absent
                yield row
        except csv.Error as exc:
            result.errors.append(csv_broken(path, reader.line_num, position, exc))
        unread = [c for c in header if c and c not in TABULAR_READ]
        if unread:
            result.errors.append(unread_columns(path, unread))


def csv_broken(path: Path, line: int, position: int, exc: csv.Error) -> dict[str, str]:
    text = str(exc).lower()
    problem = (
        "un champ entre guillemets n'est jamais refermé"
        if "eof" in text or "quote" in text
        else "un champ dépasse la taille permise"
        if "field larger" in text
        else "une ligne est mal formée (guillemets ou séparateurs)"
    )
    return error(
        "csv_invalide",
        f"CSV illisible à la ligne {line}, après l'enregistrement n° {position} : {problem}.",
        f"{path}, ligne {line}",
        "Les lignes lues avant l'erreur sont gardées ; vérifiez les guillemets du fichier.",
    )


def unread_columns(path: Path, columns: list[str]) -> dict[str, str]:
    return error(
        "colonnes_non_lues",
        f"{len(columns)} colonne(s) ne sont pas lues par l'observatoire : {', '.join(columns)}.",
        f"{path}, ligne 1 (en-tête)",
        "Rien à faire si ces colonnes sont calculées (l'observatoire les recalcule) ; sinon, "
        "signalez-le : leurs valeurs ne sont pas reprises.",
    )


def iter_flat_csv(
    path: Path, det: Detected, file_hash: str, result: ParseResult
) -> Iterator[dict[str, Any]]:
    """The ministry's flat CSV export: each row is read like a flat JSON record."""
    with path.open("r", encoding=det.encoding, errors=det.errors, newline="") as fh:
        reader = csv.reader(fh, delimiter=det.delimiter)
        try:
            # Names as written: a name with stray spaces is read, and noted, by normalise.
            header = next(reader)
        except StopIteration:
            return
        position = 0
        try:
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                position += 1
                if len(values) != len(header):
                    result.errors.append(_ragged_row(path, reader.line_num, values, header))
                record: dict[str, str] = {}
                for name, value in zip(header, values, strict=False):
                    # A column repeated in the header: its first non-empty value is kept.
                    if name not in record or (value.strip() and not record[name].strip()):
                        record[name] = value
                yield normalise(
                    record, file_hash=file_hash, position=position, line=reader.line_num
                )
        except csv.Error as exc:
            result.errors.append(csv_broken(path, reader.line_num, position, exc))


def _tabular_row(
    rec: dict[str, str], family: str, file_hash: str, position: int, line: int
) -> dict[str, Any]:
    def get(col: str) -> str | None:
        v = rec.get(col)
        return v if v not in (None, "") else None

    row = empty_row(file_hash=file_hash, position=position, line=line)
    row["family"] = family
    for column, target in TABULAR_SCALARS.items():
        row[target] = get(column)
    for col, target in TABULAR_LISTS.items():
        v = get(col)
        row[target] = [p.strip() for p in v.split(",") if p.strip()] if v else []
    holder_id = get("titulaire_id")
    if holder_id is not None or get("titulaire_nom") is not None:
        row["holders"] = [
            {
                "id_type": get("titulaire_typeIdentifiant"),
                "id": holder_id,
                "name": get("titulaire_nom"),
            }
        ]
    row["raw_json"] = orjson.dumps(rec).decode()
    if "\\u0000" in row["raw_json"]:  # orjson writes a NUL so
        notes: set[str] = set()
        remove_nul(row, notes)
        row["notes"] = sorted(notes)
    return row


def _stream(
    rows: Iterator[dict[str, Any]], sink: Callable[[pa.RecordBatch], None], batch_size: int,
    result: ParseResult,
) -> None:
    """Hand the rows of a streaming reader to ``sink`` in batches."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        result.records += 1
        if row["kind"] == "concession":
            result.concessions += 1
        else:
            result.marches += 1
        batch.append(row)
        if len(batch) >= batch_size:
            sink(to_batch(batch))
            batch.clear()
    if batch:
        sink(to_batch(batch))


READERS = {
    "decp-json-list": iter_json,
    "decp-json-wrapped": iter_json,
    "decp-json-array": iter_json,
    "decp-xml": iter_xml,
    "decp-tabular-csv": iter_tabular,
    "decp-flat-json": iter_json,
    "decp-flat-csv": iter_flat_csv,
}


def _notes(path: Path, det: Detected, result: ParseResult) -> None:
    for note in det.notes:
        result.errors.append(
            error(
                "encodage_converti",
                note[0].upper() + note[1:] + ".",
                str(path),
                "Rien à faire ; le contenu a été converti.",
            )
        )


def _none_read(path: Path, result: ParseResult) -> None:
    if result.records == 0 and not any(e["code"] in FATAL_CODES for e in result.errors):
        result.errors.append(
            error(
                "aucun_enregistrement",
                "Le fichier ne contient aucun marché ni contrat de concession.",
                str(path),
                "Vérifiez que l'export n'est pas vide.",
            )
        )


def parse_to_staging(
    path: Path, det: Detected, file_hash: str, out: Path, batch_size: int
) -> ParseResult:
    """Parse ``path`` into the Parquet file ``out`` (written whole or not at all)."""
    result = ParseResult()
    _notes(path, det, result)
    reader = READERS[det.format]
    tmp = out.with_name(out.name + ".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    # Well-formed JSON files that fit in memory: the same rows, computed mostly in DuckDB SQL
    # (small files are streamed: DuckDB's start-up would cost more than their records).
    fast = path.stat().st_size >= json_sql.MIN_BYTES and json_sql.eligible(path, det)
    counts = json_sql.parse(path, det, file_hash, tmp) if fast else None
    if counts is not None:
        result.marches, result.concessions = counts
        result.records = result.marches + result.concessions
    else:
        with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer:
            _stream(reader(path, det, file_hash, result), writer.write_batch, batch_size, result)
    _none_read(path, result)
    tmp.replace(out)
    return result


def records_in_hand(data: bytes, det: Detected,
                    document: Any = None) -> list[tuple[Any, str | None]] | None:
    """The records of a whole JSON file in memory, read by orjson (about twice as fast as
    ijson's events), each with the list it came from, in file order: what :func:`iter_json`
    yields from the same bytes. ``document``: the file already parsed by the detection
    (``Detected.in_hand``). None when only the streaming parser reads the file as it always
    did: another encoding, a number past 64 bits, any error (orjson is no more lenient than
    yajl: a file it refuses, bare NaN tokens included, is streamed, and its problem reported
    as before), a list given as one object, a record list's key written twice (ijson reads
    every occurrence, a parse into a dict only the last)."""
    if det.encoding != "utf-8" or det.errors != "strict":
        return None
    paths = [(prefix.split(".")[:-1], listed_as) for prefix, listed_as in det.prefixes]
    if any(data.count(b'"%s"' % key.encode()) > 1 for keys, _ in paths for key in keys):
        return None
    if document is None:
        if not plain_json(data):
            return None
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
    records: list[tuple[Any, str | None]] = []
    for keys, listed_as in paths:
        value = document
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key, [])
        if not isinstance(value, list):
            return None  # {"marche": {...}}: the streaming parser notes it
        records.extend((record, listed_as) for record in value)
    return records


def parse_in_memory(
    path: Path, det: Detected, file_hash: str
) -> tuple[ParseResult, list[dict[str, Any]]]:
    """The staging rows of a small file, kept in memory as rows (the same rows as
    :func:`parse_to_staging`'s streaming path): many small files are then turned into columns
    and written together, instead of paying a file's fixed costs each. A JSON file is read
    whole (:func:`records_in_hand`) when it can be."""
    result = ParseResult()
    _notes(path, det, result)
    in_hand = None
    if READERS[det.format] is iter_json:
        in_hand = (records_in_hand(det.in_hand[0], det, det.in_hand[1])
                   if det.in_hand is not None else records_in_hand(path.read_bytes(), det))
    parsed: Iterable[dict[str, Any]] = (
        (normalise(record, file_hash=file_hash, position=position, listed_as=listed_as)
         for position, (record, listed_as) in enumerate(in_hand, start=1))
        if in_hand is not None else READERS[det.format](path, det, file_hash, result))
    rows: list[dict[str, Any]] = []
    for row in parsed:
        result.records += 1
        if row["kind"] == "concession":
            result.concessions += 1
        else:
            result.marches += 1
        rows.append(row)
    _none_read(path, result)
    return result, rows
