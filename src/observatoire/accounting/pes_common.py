"""What the PES readers share: the findings catalogue, the result, value readers, the row writer
and the streaming loop (encoding, truncation)."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
from lxml import etree

from observatoire.accounting.pes_schema import LINE_CAP, REVISION, Violation, validate_part
from observatoire.accounting.result import BatchSink, Finding, ReadResult, TableBuilder
from observatoire.quality.rules import BLOCKING, INFO, WARNING
from observatoire.staging.parse import xml_problem

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
SIGNATURE = f"{{{NS_DS}}}Signature"

#: Findings of one code beyond this many are counted, not listed (a file of ten million lines
#: with the same fault must not make a list of ten million findings).
MAX_FINDINGS_PER_CODE = 200

#: Every finding a PES reader can make: code -> (severity, French title). Documented in
#: docs/accounting.md (a test checks that every code is there).
CODES: dict[str, tuple[str, str]] = {
    "PES_NOT_PES": (BLOCKING, "Fichier qui n'est pas du PES V2"),
    "PES_FLOW_NOT_HANDLED": (INFO, "Flux PES sans dépenses, marchés ni retour de dépenses"),
    "PES_RECETTE_NOT_HANDLED": (INFO, "PES Recette : pas encore lu"),
    "PES_XML_INVALID": (BLOCKING, "XML illisible (fichier tronqué ou rompu)"),
    "PES_EMPTY": (BLOCKING, "Aucune pièce ni aucun marché"),
    "PES_ENCODING": (INFO, "Fichier en ISO-8859-1, converti"),
    "PES_ENCODING_MISMATCH": (WARNING, "Encodage déclaré faux, lu en ISO-8859-1"),
    "PES_REVISION": (INFO, "Version du PES Dépense autre que celle des schémas"),
    "PES_SCHEMA_NEWER_REVISION": (INFO, "Partie plus récente que les schémas, lue sans eux"),
    "PES_SCHEMA_VIOLATION": (WARNING, "Élément non conforme au schéma officiel"),
    "PES_SCHEMA_NOT_CHECKED": (INFO, "Contrôle du schéma officiel désactivé"),
    "PES_SIGNED": (INFO, "Fichier signé, signature non vérifiée"),
    "PES_ATTACHMENTS_NOT_READ": (INFO, "Pièces justificatives (PES_PJ) non lues"),
    "PES_PART_NOT_READ": (WARNING, "Partie du fichier non lue avec ce flux"),
    "PES_BATCH_TOTAL_MISMATCH": (WARNING, "Total du bordereau différent de ses lignes"),
    "PES_BATCH_PIECE_COUNT_MISMATCH": (WARNING, "Nombre de pièces du bordereau différent"),
    "PES_BATCH_INCOMPLETE": (WARNING, "Bordereau coupé par la fin du fichier"),
    "PES_DUPLICATE_BATCH": (WARNING, "Bordereau en double dans le fichier"),
    "PES_DUPLICATE_LINE": (WARNING, "Ligne en double"),
    "PES_LINE_SET_ASIDE": (BLOCKING, "Ligne mise de côté"),
    "PES_DGP_MISSING": (INFO, "Pièces sans bloc DGP : délai inconnu"),
    "PES_TIERS_MISSING": (INFO, "Lignes sans tiers : fournisseur inconnu"),
    "PES_CANCELLATION_UNLINKED": (INFO, "Annulation sans rattachement à la pièce annulée"),
    "PES_CONTRACT_SET_ASIDE": (BLOCKING, "Marché mis de côté"),
    "PES_DUPLICATE_CONTRACT": (WARNING, "Marché en double dans le fichier"),
    "PES_CONTRACT_BREAKDOWN_MISMATCH": (WARNING, "Ventilation du marché différente du total"),
    "PES_PAYMENT_TOTAL_MISMATCH": (WARNING, "Paiements d'une ligne différents du total annoncé"),
}


@dataclass(frozen=True)
class BatchCheck:
    """A bordereau's announced totals against what its lines add up to."""

    fiscal_year: int | None
    batch_id: str | None
    line: int
    pieces_announced: int | None
    pieces_read: int
    amount_ht_announced: Decimal | None
    amount_ht_lines: Decimal
    amount_tva_announced: Decimal | None
    amount_tva_lines: Decimal
    #: False when the file stops inside the bordereau: its lines are not all known.
    complete: bool

    @property
    def matches(self) -> bool:
        return (
            self.pieces_announced in (None, self.pieces_read)
            and self.amount_ht_announced in (None, self.amount_ht_lines)
            and self.amount_tva_announced in (None, self.amount_tva_lines)
        )


@dataclass
class PesResult(ReadResult):
    """What reading one PES file gave: a :class:`ReadResult` (staging tables, findings, records
    in = kept + set aside…) with the PES specifics: duplicates (records in = kept + duplicates
    + set aside), bordereau checks, parts counted, revision, signature, encoding."""

    #: pes_depense | pes_marche | pes_retour | pes_recette; None when not a PES file.
    flow: str | None = None
    duplicates: int = 0
    bordereaux: int = 0
    pieces: int = 0
    tiers: int = 0
    #: Rows written per staging table.
    rows: dict[str, int] = field(default_factory=dict)
    batches: list[BatchCheck] = field(default_factory=list)
    #: PES revision announced by the file (EnTete…/IdVer).
    revision: str | None = None
    signed: bool = False
    encoding: str = "utf-8"
    #: Findings left out of ``findings`` beyond MAX_FINDINGS_PER_CODE, by code.
    findings_not_listed: dict[str, int] = field(default_factory=dict)
    #: Set when the file decides the status: partial (broken after some records), rejected,
    #: not_handled (a PES recognised whose flow is not read yet).
    state: str | None = None
    #: How many parts of the file were read side by side, each by its own process (a large
    #: PES Dépense file cut between bordereaux: ``pes_split``); 1 when read in one go.
    parts: int = 1
    #: CPU seconds of each part's process when read in parts (for the benchmark).
    parts_cpu: list[float] = field(default_factory=list)

    @property
    def reconciles(self) -> bool:
        return self.records_in == self.kept + self.duplicates + self.set_aside

    @property
    def status(self) -> str:
        """loaded, partial (broken file, or records set aside), rejected, not_handled."""
        if self.state in ("rejected", "not_handled"):
            return self.state
        if not self.kept and not self.duplicates and (self.records_in or self.state):
            return "rejected"  # nothing usable was read
        return "partial" if self.state == "partial" or self.set_aside else "loaded"

    def counts(self) -> dict[str, int]:
        return {"records_in": self.records_in, "kept": self.kept,
                "duplicates": self.duplicates, "set_aside": self.set_aside,
                "bordereaux": self.bordereaux, "pieces": self.pieces, "tiers": self.tiers}

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]


class Reporter:
    """Adds findings to a result, capping each code; checks parts against the schema unless
    ``validate`` is False (the check costs about a sixth of the reading time, see
    docs/benchmarks.md)."""

    def __init__(self, result: PesResult, validate: bool = True) -> None:
        self.result = result
        self.validate = validate
        self.seen: dict[str, int] = {}

    def add(self, code: str, message: str, hint: str, *, line: int | None = None,
            element: str | None = None, record: str | None = None,
            detail: str | None = None, raw_value: str | None = None) -> None:
        severity = CODES[code][0]
        if self.seen.get(code, 0) >= MAX_FINDINGS_PER_CODE:
            self.count_unlisted(code, 1)
            return
        self.keep(Finding(
            code, severity, message, where_of(self.result.path, line, record), hint,
            line=line, column=element, raw_value=raw_value, record=record, detail=detail))

    def keep(self, finding: Finding) -> None:
        """Add a finding already made (by the process that read a part of the file), capped
        like :meth:`add`."""
        n = self.seen.get(finding.code, 0) + 1
        if n > MAX_FINDINGS_PER_CODE:
            self.count_unlisted(finding.code, 1)
            return
        self.seen[finding.code] = n
        self.result.findings.append(finding)

    def count_unlisted(self, code: str, n: int) -> None:
        """``n`` more findings of ``code`` beyond what is listed: counted, not listed."""
        seen = self.seen.get(code, 0) + n
        self.seen[code] = seen
        if seen > MAX_FINDINGS_PER_CODE:
            self.result.findings_not_listed[code] = seen - MAX_FINDINGS_PER_CODE

    def check(self, part: str, schema: etree.XMLSchema, namespace: str, el: etree._Element,
              record: str | None) -> None:
        """Validate one finished part against the official schema and report what is wrong."""
        if self.validate:
            self.violations(part, validate_part(schema, namespace, el), record)

    def violations(self, part: str, violations: list[Violation], record: str | None) -> None:
        for v in violations:
            self.add(
                "PES_SCHEMA_VIOLATION",
                f"{part} : l'élément « {v.element} » ({v.path}) ne respecte pas le schéma PES "
                f"V2 {REVISION} : {v.message}. Le fichier est lu quand même.",
                "Vérifiez la valeur dans le logiciel financier ; si le fichier suit une "
                "révision plus récente du PES, ce constat peut venir de cette révision.",
                line=v.line, element=v.element, record=record, detail=v.detail)


def where_of(path: Path, line: int | None, record: str | None) -> str:
    """Where a finding is, in words: the file, its line, the record."""
    where = str(path)
    if line is not None:
        where += f", ligne {line}"
    if record:
        where += f", {record}"
    return where


class RowWriter(TableBuilder):
    """The shared :class:`TableBuilder`, counting the rows it writes, in batches of 10,000 rows
    (a batch of PES lines as dicts weighs ~25 MB)."""

    BATCH = 10_000

    def __init__(self, name: str, schema: pa.Schema, sink: BatchSink | None = None) -> None:
        super().__init__(name, schema, sink)
        self.count = 0

    def append(self, row: dict[str, Any]) -> None:
        self.count += 1
        super().append(row)

    def append_values(self, values: tuple[Any, ...]) -> None:
        self.count += 1
        super().append_values(values)

    def finish(self, result: ReadResult) -> None:
        super().finish(result)
        if isinstance(result, PesResult):
            result.rows[self.name] = self.count


# --- values ----------------------------------------------------------------------------------

def v(el: etree._Element | None, path: str) -> str | None:
    """The ``V`` attribute of the element at ``path`` under ``el`` (PES puts every value there),
    stripped; None when the element, the attribute or the value is missing."""
    if el is None:
        return None
    found = el.find(path)
    if found is None:
        return None
    value = found.get("V")
    if value is None:
        return None
    value = value.strip()
    return value or None


def leaves(el: etree._Element | None) -> dict[str, str]:
    """The values of an element's children by tag (PES blocks are flat: ``<Tag V="…"/>``),
    stripped, empty ones left out. One pass over the children: far cheaper than a ``find`` per
    value on files of millions of lines."""
    out: dict[str, str] = {}
    if el is None:
        return out
    for child in el:
        value = child.get("V")
        if value is not None:
            value = value.strip()
            if value and isinstance(child.tag, str):
                out[child.tag] = value
    return out


def children(el: etree._Element | None) -> dict[str, etree._Element]:
    """An element's children by tag (the first of each)."""
    out: dict[str, etree._Element] = {}
    if el is not None:
        for child in el:
            if isinstance(child.tag, str):
                out.setdefault(child.tag, child)
    return out


CENT = Decimal("0.01")
#: DECIMAL(18, 2) holds 16 digits before the point.
LIMIT = Decimal(10) ** 16


def money(text: str | None) -> Decimal | None:
    """A PES amount (``1234.56``) as Decimal; raises ValueError when it is not one."""
    if text is None:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not amount.is_finite() or abs(amount) >= LIMIT:
        raise ValueError(text)
    rounded = amount.quantize(CENT)
    if rounded != amount:
        raise ValueError(text)
    return rounded


def day(text: str | None) -> date | None:
    """An ISO date, or None when missing or unreadable (the schema check reports the latter)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def integer(text: str | None) -> int | None:
    """A whole number that fits the staging columns (32 bits); None otherwise (the schema check
    reports what is wrong with it)."""
    if text is None:
        return None
    try:
        number = int(text)
    except ValueError:
        return None
    return number if -(2**31) <= number < 2**31 else None


def rate(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


#: PES tiers codes that mean a natural person: CatTiers 01 « personnes physiques »; NatJur 01
#: « particulier ». A first name or a civility is also only given for a person.
NATURAL_PERSON_CATEGORIES = {"01"}
NATURAL_PERSON_LEGAL_NATURES = {"01"}


def natural_person(category: str | None, legal_nature: str | None, first_name: str | None,
                   civility: str | None) -> bool | None:
    """True for an individual tiers, False for a body, None when the flow does not say."""
    if (category in NATURAL_PERSON_CATEGORIES or legal_nature in NATURAL_PERSON_LEGAL_NATURES
            or first_name or civility):
        return True
    if category is None and legal_nature is None:
        return None
    return False


def siret(id_type: str | None, ident: str | None) -> str | None:
    """The tiers' SIRET when the flow gives one (NatIdTiers 01, or 14 digits)."""
    if ident is None:
        return None
    digits = ident.replace(" ", "")
    if len(digits) == 14 and digits.isdigit() and id_type in (None, "01"):
        return digits
    return None


def localname(tag: object) -> str:
    """An element's name without namespace or prefix (safe on the odd tags of broken files)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def note_signature(result: PesResult, report: Reporter, el: etree._Element) -> None:
    """Say once per file that it is signed and that the signature is not verified here."""
    if not result.signed:
        result.signed = True
        report.add(
            "PES_SIGNED",
            "Le fichier est signé (bloc de signature XML / XAdES) : la signature n'est pas "
            "vérifiée par l'observatoire, les données signées sont lues normalement.",
            "Rien à faire ; la signature est vérifiée par le comptable public.",
            line=line_of(el), element="Signature")


def line_of(el: etree._Element) -> int | None:
    """The element's line in the file (lxml's stubs type it loosely); None when not known."""
    line = el.sourceline
    return line if isinstance(line, int) and line < LINE_CAP else None


def euros(amount: Decimal) -> str:
    """An amount as French text (« 75 724,75 € »)."""
    text = f"{amount:,.2f}".replace(",", "\u202f").replace(".", ",")
    return f"{text} €"


# --- streaming -------------------------------------------------------------------------------

_DECLARATION = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
LATIN = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "iso-8859-15", "windows-1252", "cp1252"}


def declared_encoding(path: Path) -> str | None:
    with path.open("rb") as fh:
        head = fh.read(512)
    found = _DECLARATION.search(head)
    return found.group(1).decode("ascii").lower() if found else None


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def check_encoding(path: Path, report: Reporter) -> str | None:
    """Say how the file is encoded; return the encoding to force on lxml, if any.

    PES files are often ISO-8859-1 (the DGFiP sample is): lxml reads the declared encoding.
    A file that says UTF-8 (or nothing) but is not is read as ISO-8859-1, with a warning."""
    declared = declared_encoding(path)
    if declared in LATIN:
        report.result.encoding = declared
        report.add("PES_ENCODING",
                   f"Le fichier est encodé en {declared.upper()} (déclaré dans son en-tête "
                   "XML) : il est converti en UTF-8 à la lecture, sans perte.",
                   "Rien à faire.")
        return None
    if declared in (None, "utf-8", "utf8") and not _is_utf8(path):
        report.result.encoding = "iso-8859-1"
        report.add("PES_ENCODING_MISMATCH",
                   "Le fichier se dit encodé en UTF-8 mais contient des octets qui ne sont pas "
                   "de l'UTF-8 : il est lu en ISO-8859-1 (les accents peuvent être faux si ce "
                   "n'était pas cet encodage).",
                   "Demandez au producteur un fichier dont l'en-tête XML déclare le bon "
                   "encodage.")
        return "iso-8859-1"
    return None


def iterate(path: Path, tags: tuple[str, ...], encoding: str | None,
            report: Reporter, where: Callable[[], str],
            opener: Callable[[], BinaryIO] | None = None,
            before_error: Callable[[], None] | None = None) -> Iterator[etree._Element]:
    """Finished elements of ``tags``, in document order; a file that breaks (truncated…)
    ends the iteration with a PES_XML_INVALID finding and the result marked partial, after
    ``before_error`` (the reader reads what it held). ``opener`` gives the bytes to parse
    instead of the file (a part of it: ``pes_split``)."""
    kwargs: dict[str, Any] = {"encoding": encoding} if encoding else {}
    try:
        with (opener or (lambda: path.open("rb")))() as fh:
            for _, el in etree.iterparse(fh, events=("end",), tag=tags, recover=False,
                                         huge_tree=True, resolve_entities=False,
                                         no_network=True, remove_comments=True, **kwargs):
                yield el
    except etree.XMLSyntaxError as exc:
        if before_error is not None:
            before_error()
        line, column = exc.position if exc.position else (exc.lineno, 0)
        report.result.state = "partial"
        report.add("PES_XML_INVALID",
                   f"XML illisible à la ligne {line}, colonne {column} : {xml_problem(exc)}. "
                   f"Lu jusque-là : {where()}.",
                   "Ce qui a été lu avant l'erreur est gardé ; demandez au producteur le "
                   "fichier complet et valide, puis déposez-le de nouveau.",
                   line=line)


def drop_previous(el: etree._Element) -> None:
    """Free a finished element and its already finished siblings (memory stays flat)."""
    el.clear()
    parent = el.getparent()
    if parent is not None:
        while el.getprevious() is not None:
            del parent[0]
