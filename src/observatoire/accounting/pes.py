"""PES V2 files (the finance software's flows to and from the public accountant): which flow a
file is, and one call to read it into staging rows + findings + counts.

    kind = detect_pes(path)          # None when the file is not PES
    result = read_pes(path)          # PesResult: tables, findings, counts, bordereau checks

Flows: ``pes_depense`` (``PES_Aller`` with ``PES_DepenseAller`` → PAYMENT_LINES),
``pes_marche`` (``PES_Aller`` with ``PES_Marche`` → FINANCE_CONTRACTS), ``pes_retour``
(``PES_Retour`` with ``PES_DepenseRetour`` → PAYMENT_EVENTS); ``pes_recette`` (``PES_Aller``
with only ``PES_RecetteAller``) is recognised and said not handled yet. Give ``sink`` to receive
Arrow batches as they are made (memory stays flat); without it they are gathered into
``result.tables``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree

from observatoire.accounting import pes_depense, pes_marche, pes_retour, pes_split
from observatoire.accounting.pes_common import (
    BatchCheck,
    PesResult,
    Reporter,
    RowWriter,
    check_encoding,
    drop_previous,
    iterate,
    line_of,
    localname,
)
from observatoire.accounting.pes_schema import REVISION
from observatoire.accounting.pes_split import SPLIT_FROM_BYTES
from observatoire.accounting.result import BatchSink, Finding, file_sha256
from observatoire.accounting.staging import FINANCE_CONTRACTS, PAYMENT_EVENTS, PAYMENT_LINES
from observatoire.staging.parse import xml_problem

__all__ = ["BatchCheck", "Finding", "ParquetSink", "PesKind", "PesResult", "detect_pes",
           "read_pes"]

ROOTS = {"PES_Aller", "PES_Retour"}
#: Parts of a PES file (children of the root) -> flow, in order of precedence.
PARTS = {"PES_DepenseAller": "pes_depense", "PES_Marche": "pes_marche",
         "PES_DepenseRetour": "pes_retour", "PES_RecetteAller": "pes_recette"}
#: Every part of a PES file we know of, and the parts each flow's reader handles itself: the
#: others are reported (PES_PART_NOT_READ), never silently skipped.
KNOWN_PARTS = ("PES_DepenseAller", "PES_RecetteAller", "PES_Marche", "PES_PJ", "PES_Budget",
               "PES_Emprunt", "PES_EtatActif", "PES_Comptabilite", "PES_DepenseRetour")
OWN_PARTS = {"pes_depense": {"PES_DepenseAller", "PES_RecetteAller", "PES_PJ"},
             "pes_marche": {"PES_Marche"}, "pes_retour": {"PES_DepenseRetour"}}
#: Flow -> the ReadResult's format (machine id) and label (French), like the other readers'.
FORMATS = {"pes_depense": ("pes-depense-aller", "PES V2 Dépense Aller (mandats)"),
           "pes_marche": ("pes-marche", "PES V2 Marché (contrats)"),
           "pes_retour": ("pes-depense-retour", "PES V2 Retour des dépenses (prise en charge, "
                          "paiements)"),
           "pes_recette": ("pes-recette-aller", "PES V2 Recette Aller (non lu)")}
TABLES = {"pes_depense": ("payment_lines", PAYMENT_LINES),
          "pes_marche": ("finance_contracts", FINANCE_CONTRACTS),
          "pes_retour": ("payment_events", PAYMENT_EVENTS)}


@dataclass(frozen=True)
class PesKind:
    """What a PES file holds, from its first elements."""

    root: str  # PES_Aller | PES_Retour
    parts: tuple[str, ...]  # children of the root seen (Enveloppe, EnTetePES, PES_DepenseAller…)
    #: The flow read (see PARTS); None when no part we know was found.
    flow: str | None
    #: Why the scan stopped before a part was found (broken or truncated XML), in French.
    error: str | None = None


def detect_pes(path: Path) -> PesKind | None:
    """Which PES flow ``path`` is, reading only the root's first children (a few KiB: the parts
    of a PES come after the envelope and header). None when it is not a PES file."""
    kind = _detect(path, None)
    if kind is not None and kind.flow is None:  # bytes of another encoding before the parts?
        kind = _detect(path, "iso-8859-1") or kind
    return kind


def _detect(path: Path, encoding: str | None) -> PesKind | None:
    parts: list[str] = []
    root: str | None = None
    error: str | None = None
    kwargs = {"encoding": encoding} if encoding else {}
    try:
        with path.open("rb") as fh:
            for _, el in etree.iterparse(fh, events=("start",), recover=False, huge_tree=True,
                                         resolve_entities=False, no_network=True, **kwargs):
                name = localname(el.tag)
                if root is None:
                    if name not in ROOTS:
                        return None
                    root = name
                    continue
                parent = el.getparent()
                if parent is not None and parent.getparent() is None:  # a child of the root
                    parts.append(name)
                    if name in PARTS:
                        break
    except etree.XMLSyntaxError as exc:
        error = xml_problem(exc)
    if root is None:
        return None
    flows = [PARTS[p] for p in parts if p in PARTS]
    return PesKind(root, tuple(parts), flows[0] if flows else None,
                   None if flows else error)


def read_pes(path: Path | str, *, file_hash: str | None = None,
             sink: BatchSink | None = None, validate: bool = True, workers: int = 1,
             split_from_bytes: int = SPLIT_FROM_BYTES) -> PesResult:
    """Read one PES file into staging rows and findings; never raises for a bad file.

    ``validate=False`` skips the check of each part against the official schemas (faster on
    very large files; said in a PES_SCHEMA_NOT_CHECKED finding, never silently).
    ``workers`` > 1 reads a PES Dépense file of at least ``split_from_bytes`` in that many
    parts side by side, each in its own process (``pes_split``: same rows, findings and
    counts as one read; ``result.parts`` says how many parts were read)."""
    path = Path(path)
    kind = detect_pes(path)
    flow = kind.flow if kind else None
    result = PesResult(path, file_hash or file_sha256(path), *FORMATS.get(flow or "", ("", "")),
                       flow=flow)
    report = Reporter(result, validate)
    if kind is None:
        result.state = "rejected"
        report.add("PES_NOT_PES",
                   "Le fichier est vide." if path.stat().st_size == 0 else
                   "Ce fichier n'est pas un fichier PES V2 (la racine XML n'est ni PES_Aller ni "
                   "PES_Retour, ou le fichier n'est pas du XML lisible).",
                   "Déposez un fichier PES V2 tel que produit par le logiciel financier.")
        return result
    if kind.flow is None and kind.error:
        result.state = "rejected"
        report.add("PES_XML_INVALID",
                   f"Fichier PES ({kind.root}) illisible avant ses dépenses, marchés ou retours : "
                   f"{kind.error}. Rien n'a pu être lu.",
                   "Demandez au producteur le fichier complet et valide, puis déposez-le de "
                   "nouveau.")
        return result
    if kind.flow is None:
        result.state = "not_handled"
        report.add("PES_FLOW_NOT_HANDLED",
                   f"Fichier PES reconnu ({kind.root} : {', '.join(kind.parts) or 'vide'}) "
                   "mais il ne porte ni dépenses, ni marchés, ni retour de dépenses : il n'est "
                   "pas lu.", "Rien à faire.")
        return result
    if kind.flow == "pes_recette":
        result.state = "not_handled"
        report.add("PES_RECETTE_NOT_HANDLED",
                   "Fichier PES Recette reconnu (titres de recettes) : les recettes ne sont pas "
                   "encore lues par l'observatoire ; rien n'est chargé de ce fichier.",
                   "Rien à faire pour l'instant ; déposez les PES Dépense et Marché.")
        return result
    encoding = check_encoding(path, report)
    split = (kind.flow == "pes_depense" and workers > 1
             and path.stat().st_size >= split_from_bytes)
    if not (split and pes_split.read_split(path, result, report, encoding, sink, workers)):
        name, schema = TABLES[kind.flow]
        writer = RowWriter(name, schema, sink)
        reader: pes_depense.DepenseReader | pes_marche.MarcheReader | pes_retour.RetourReader
        if kind.flow == "pes_depense":
            reader = pes_depense.DepenseReader(result, report, writer)
        elif kind.flow == "pes_marche":
            reader = pes_marche.MarcheReader(result, report, writer)
        else:
            reader = pes_retour.RetourReader(result, report, writer)
        read_elements(path, kind.flow, reader, report, encoding)
        reader.finish()
        writer.finish(result)
    if not validate:
        report.add("PES_SCHEMA_NOT_CHECKED",
                   f"Le contrôle des éléments par les schémas officiels du PES V2 ({REVISION}) "
                   "a été désactivé pour cette lecture : les écarts au schéma ne sont pas "
                   "signalés. Les valeurs illisibles (montants, identifiants manquants) le sont "
                   "toujours.",
                   "Relisez le fichier avec le contrôle (réglage par défaut) pour connaître ses "
                   "écarts au schéma.")
    return result


def read_elements(path: Path, flow: str,
                  reader: pes_depense.DepenseReader | pes_marche.MarcheReader
                  | pes_retour.RetourReader, report: Reporter, encoding: str | None,
                  opener: Callable[[], BinaryIO] | None = None) -> None:
    """Hand every finished element of the file (or of the bytes ``opener`` gives) to the
    flow's reader; the parts of the file this flow does not read are said, then freed."""
    tags = {"pes_depense": pes_depense.TAGS, "pes_marche": pes_marche.TAGS,
            "pes_retour": pes_retour.TAGS}[flow]
    others = tuple(p for p in KNOWN_PARTS if p not in OWN_PARTS[flow])
    held = reader.flush if isinstance(reader, pes_depense.DepenseReader) else None
    for el in iterate(path, tags + others, encoding, report, reader.where, opener, held):
        if el.tag in others:
            _part_not_read(el, report)
        else:
            reader.handle(el)


def _part_not_read(el: etree._Element, report: Reporter) -> None:
    """A part of the file this flow's reader does not read: said, then freed."""
    name = el.tag if isinstance(el.tag, str) else ""
    attachments = len(el.findall("PJ")) if name == "PES_PJ" else 0
    if attachments:
        report.add("PES_ATTACHMENTS_NOT_READ",
                   f"Le fichier porte {attachments} pièce(s) justificative(s) (PES_PJ) : elles "
                   "ne sont pas lues.", "Rien à faire.", line=line_of(el), element=name)
    elif name != "PES_PJ":
        report.add("PES_PART_NOT_READ",
                   f"Le fichier contient aussi une partie {name} ({len(el)} élément(s)) : elle "
                   f"n'est pas lue avec le flux {report.result.flow}.",
                   "Déposez cette partie dans un fichier à part si elle doit être lue (un PES "
                   "Marché ou Dépense seul).", line=line_of(el), element=name)
    drop_previous(el)


class ParquetSink:
    """A ``sink`` for :func:`read_pes` writing each table to ``<directory>/<table>.parquet`` as
    its batches come, so that reading a file of any size keeps memory flat::

        with ParquetSink(folder) as sink:
            result = read_pes(path, sink=sink)
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.paths: dict[str, Path] = {}

    def __call__(self, name: str, batch: pa.RecordBatch) -> None:
        writer = self.writers.get(name)
        if writer is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.paths[name] = self.directory / f"{name}.parquet"
            writer = self.writers[name] = pq.ParquetWriter(self.paths[name], batch.schema)
        writer.write_batch(batch)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
