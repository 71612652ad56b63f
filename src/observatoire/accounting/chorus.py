"""Chorus (the State's finance system) extracts: demandes de paiement, engagements juridiques
and the AIFE / INF-BUD-53 reports of paid and committed amounts.

The layout is recognised from its header line, wherever it is: reports start with a preamble
(title, extraction date, filters, the measure's name above the amount column) that is skipped and
noted. Columns are separated by ``|``, ``;`` or ``,`` (the one that makes a known header); a
report saved as XLSX is read from its first sheet the same way. A
line whose quoting is broken (a quote inside a quoted name, a separator inside one) is repaired
when every cell is quoted, else set aside with its text in a finding: records in = kept + set
aside, always.

- Demandes de paiement (national extract ``ac_doc_no``…, AIFE "CP", INF-BUD-53 "Montant payé")
  → ``payment_lines`` (and, for the paid layouts, ``payment_events`` with the amount paid and
  the date of the DP's last operation).
- Engagements juridiques (national extract ``bbp_po_id``…, AIFE "AE", INF-BUD-53 "Engagement")
  → ``commitments``, one row per EJ line (poste).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from observatoire.accounting import staging
from observatoire.accounting.cells import (
    CellError,
    cell_text,
    parse_amount,
    parse_date,
    parse_year,
    siret_or_none,
)
from observatoire.accounting.result import (
    BatchSink,
    Finding,
    ReadResult,
    TableBuilder,
    file_sha256,
)
from observatoire.column_mapping import header_key
from observatoire.errors import InputFileError
from observatoire.staging.detect import SAMPLE, scan_text

#: How far down a report's header may be (its preamble is a handful of lines).
HEADER_SEARCH_LINES = 60
SEPARATORS = ("|", ";", ",", "\t")


@dataclass(frozen=True)
class ChorusLayout:
    """A known Chorus layout: recognised by ``signature`` (header keys all present)."""

    format: str
    label: str
    kind: str  # payments | commitments
    flow: str  # staging flow: chorus_dp | chorus_ej
    signature: frozenset[str]
    #: staging field -> header key; ``name#2`` is the second column of that name.
    columns: dict[str, str]
    date_formats: tuple[str, ...]
    decimal: str
    #: the amount is what was paid (CP layouts): it also makes a payment event
    paid: bool = False


_NATIONAL_DATES = ("%Y-%m-%d",)
_REPORT_DATES = ("%d.%m.%Y", "%d/%m/%Y")

LAYOUTS = (
    ChorusLayout(
        "chorus-dp",
        "Chorus, demandes de paiement (extrait national quotidien)",
        "payments",
        "chorus_dp",
        frozenset({"fiscyear", "ac_doc_no", "oi_ebeln", "bline_date"}),
        {
            "fiscal_year": "fiscyear",
            "piece_id": "ac_doc_no",
            "line_id": "item_num",
            "budget_code": "code_programme",
            "commitment_ref": "oi_ebeln",
            "commitment_line": "oi_ebelp",
            "amount_ht": "bic_cglmfahte",
            "amount_tva": "bic_cglmtvae",
            "supplier_ref": "vendor",
            "buyer_unit": "cfund_ctr",
            "budget_function": "func_area",
            "budget_nature": "cmmt_item",
            "delay_start_date": "bline_date",
            "supplier_siret": "tax_numb",
        },
        _NATIONAL_DATES,
        ".",
    ),
    ChorusLayout(
        "chorus-ej",
        "Chorus, engagements juridiques (extrait national quotidien)",
        "commitments",
        "chorus_ej",
        frozenset({"bbp_po_id", "bbp_poitem", "fm_amount1"}),
        {
            "commitment_ref": "bbp_po_id",
            "commitment_line": "bbp_poitem",
            "budget_code": "code_programme",
            "goods_group": "matl_group",
            "buyer_unit": "cfund_ctr",
            "budget_function": "func_area",
            "budget_nature": "cmmt_item",
            "amount": "fm_amount1",
            "commitment_date": "doc_date",
            "delivery_date": "edp_delda",
            "status": "po_status",
            "supplier_siret": "tax_numb",
        },
        _NATIONAL_DATES,
        ".",
    ),
    ChorusLayout(
        "chorus-aife-cp",
        "Chorus (AIFE), crédits de paiement payés par demande de paiement",
        "payments",
        "chorus_dp",
        frozenset({"n° dp - clé (non composée)", "montant payé (eur)", "n° ej"}),
        {
            "budget_code": "centre financier - programme (clé)",
            "budget_function": "domaine fonctionnel - clé",
            "commitment_ref": "n° ej",
            "commitment_line": "n° poste ej",
            "piece_id": "n° dp - clé (non composée)",
            "delay_start_date": "date de base de la dp",
            "payment_date": "date de dernière opération sur la dp",
            "supplier_ref": "fournisseur payé (dp) - clé",
            "supplier_name": "fournisseur payé (dp)",
            "supplier_siret": "fournisseur payé (dp) - code taxe 1 (clé)",
            "budget_nature": "compte budgétaire - clé (non composée)",
            "amount_ttc": "montant payé (eur)",
            "fiscal_year": "exercice comptable - clé (non composée)",
            "line_id": "n° poste dp",
            "piece_type": "type de pièce - clé",
        },
        _REPORT_DATES,
        ",",
        paid=True,
    ),
    ChorusLayout(
        "chorus-aife-ae",
        "Chorus (AIFE), autorisations d'engagement par engagement juridique",
        "commitments",
        "chorus_ej",
        frozenset({"n° ej", "montant engagé (eur)"}),
        {
            "budget_code": "centre financier - programme (clé)",
            "budget_function": "domaine fonctionnel - clé",
            "commitment_ref": "n° ej",
            "commitment_date": "n° ej - date de réplication (clé)",
            "commitment_line": "n° poste ej",
            "last_change_date": "date de dernière modif. de l'ej",
            "supplier_ref": "fournisseur titulaire principal (ej) - clé",
            "supplier_name": "fournisseur titulaire principal (ej)",
            "supplier_siret": "fournisseur titulaire principal (ej) - code taxe 1 (clé)",
            "budget_nature": "compte budgétaire - clé (non composée)",
            "goods_group": "groupe de marchandises - clé",
            "amount": "montant engagé (eur)",
            "buyer_unit": "centre financier - clé (non composée)",
        },
        _REPORT_DATES,
        ",",
    ),
    ChorusLayout(
        "chorus-inf-bud-53-cp",
        "Chorus, restitution INF-BUD-53 (montants payés par demande de paiement)",
        "payments",
        "chorus_dp",
        frozenset({"programme", "n° dp", "date de base de la dp", "n° ej", "eur"}),
        {
            "budget_code": "programme",
            "budget_function": "domaine fonctionnel",
            "commitment_ref": "n° ej",
            "commitment_line": "n° poste ej",
            "piece_id": "n° dp",
            "delay_start_date": "date de base de la dp",
            "payment_date": "date de dernière opération sur la dp",
            "service_done_date": "date comptable du sf",
            "supplier_ref": "fournisseur payé (dp)",
            "supplier_name": "fournisseur payé (dp)#2",
            "supplier_siret": "code taxe 1",
            "budget_nature": "compte budgétaire",
            "amount_ttc": "eur",
        },
        _REPORT_DATES,
        ",",
        paid=True,
    ),
    ChorusLayout(
        "chorus-inf-bud-53-ae",
        "Chorus, restitution INF-BUD-53 (montants engagés par engagement juridique)",
        "commitments",
        "chorus_ej",
        frozenset({"programme", "n° ej", "date de réplication", "n° poste ej", "eur"}),
        {
            "budget_code": "programme",
            "budget_function": "domaine fonctionnel",
            "commitment_ref": "n° ej",
            "commitment_date": "date de réplication",
            "commitment_line": "n° poste ej",
            "last_change_date": "date de dernière modif. de l'ej",
            "supplier_ref": "fournisseur titulaire principal (ej)",
            "supplier_name": "fournisseur titulaire principal (ej)#2",
            "supplier_siret": "code taxe 1",
            "budget_nature": "compte budgétaire",
            "goods_group": "groupe de marchandises",
            "amount": "eur",
        },
        _REPORT_DATES,
        ",",
    ),
)

#: What Chorus writes for "no value" (SAP BW's « non affecté » is ``#``).
NULLS = frozenset({"", "#", "n/a", "N/A", "N/a", "n/A"})
_MONEY_FIELDS = {"amount_ht", "amount_tva", "amount_ttc", "amount"}
_DATE_FIELDS = {
    "delay_start_date",
    "payment_date",
    "service_done_date",
    "commitment_date",
    "last_change_date",
    "delivery_date",
}
_PROGRAMME = re.compile(r"\d{3,4}")
#: Chorus document numbers, compared without their leading zeros.
_NUMBERS = {"piece_id", "line_id", "commitment_ref", "commitment_line"}
#: Without these a record says nothing usable: it is set aside.
_REQUIRED = {"payments": ("piece_id",), "commitments": ("commitment_ref",)}
_FIELD_LABELS = {
    "piece_id": "numéro de demande de paiement",
    "commitment_ref": "numéro d'engagement juridique",
}


@dataclass
class ChorusDetection:
    """Where a Chorus file's header is and how to read it."""

    layout: ChorusLayout
    separator: str
    encoding: str
    errors: str
    header_line: int  # 1-based
    header: list[str]
    preamble: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    container: str = "csv"  # csv | xlsx (first sheet)


def _split(line: str, separator: str) -> list[str]:
    return next(csv.reader([line], delimiter=separator, strict=False), [])


def _keys(cells: list[str]) -> list[str]:
    """Header keys, the second column of a repeated name keyed ``name#2`` (and so on)."""
    seen: dict[str, int] = {}
    keys = []
    for cell in cells:
        key = header_key(cell)
        seen[key] = seen.get(key, 0) + 1
        keys.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return keys


def _match(line: str) -> tuple[ChorusLayout, str, list[str]] | None:
    for separator in SEPARATORS:
        if separator not in line:
            continue
        cells = _split(line, separator)
        keys = set(_keys(cells))
        for layout in LAYOUTS:
            if layout.signature <= keys:
                return layout, separator, cells
    return None


def detect_chorus(path: Path) -> ChorusDetection | None:
    """The Chorus layout of ``path`` (its header found within the first lines), or None."""
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE)
    if sample.startswith(b"PK\x03\x04"):
        return _detect_xlsx(path)
    if not sample.strip() or b"\x00" in sample or sample.lstrip().startswith((b"<", b"{", b"[")):
        return None
    scan = scan_text(path, sample)
    preamble: list[str] = []
    with path.open(encoding=scan.encoding, errors=scan.errors, newline="") as fh:
        for number, raw in enumerate(fh, start=1):
            if number > HEADER_SEARCH_LINES:
                return None
            line = raw.rstrip("\r\n").lstrip("\ufeff")
            found = _match(line)
            if found:
                layout, separator, cells = found
                return ChorusDetection(
                    layout, separator, scan.encoding, scan.errors, number, cells, preamble,
                    list(scan.notes),
                )
            preamble.append(line)
    return None


def _sheet_rows(path: Path) -> Iterator[list[str]]:
    """The first sheet's rows as text cells, trailing empty cells dropped."""
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        for values in workbook.worksheets[0].iter_rows(values_only=True):
            cells = [cell_text(v) for v in values]
            while cells and not cells[-1].strip():
                cells.pop()
            yield cells
    finally:
        workbook.close()


def _detect_xlsx(path: Path) -> ChorusDetection | None:
    import zipfile

    from openpyxl.utils.exceptions import InvalidFileException

    preamble: list[str] = []
    try:
        for number, cells in enumerate(_sheet_rows(path), start=1):
            if number > HEADER_SEARCH_LINES:
                return None
            keys = set(_keys(cells))
            for layout in LAYOUTS:
                if layout.signature <= keys:
                    note = "classeur XLSX (première feuille)"
                    return ChorusDetection(layout, ";", "utf-8", "strict", number, cells,
                                           preamble, [note], container="xlsx")
            preamble.append(";".join(cells))
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError):
        return None
    return None


def read_chorus(path: Path, sink: BatchSink | None = None) -> ReadResult:
    """Read a Chorus extract into staging tables, with findings and reconciled counts.

    With ``sink``, the rows go to it batch by batch (memory stays flat) instead of into
    ``result.tables``.

    Raises :class:`InputFileError` when no known Chorus header is found.
    """
    detection = detect_chorus(path)
    if detection is None:
        with path.open("rb") as fh:
            start = fh.read(8)
        if not start.strip():
            raise InputFileError(
                "Le fichier est vide.",
                where=str(path),
                hint="Vérifiez l'extraction Chorus qui a produit ce fichier.",
            )
        if start.startswith(b"PK\x03\x04"):
            raise InputFileError(
                "Le fichier est une archive ZIP qui n'est pas un classeur XLSX lisible, ou un "
                "classeur dont la première feuille n'a pas d'en-tête Chorus reconnu.",
                where=str(path),
                hint="Mettez la restitution Chorus sur la première feuille, ou exportez-la en "
                "CSV (séparateur « ; » ou « | »).",
            )
        raise InputFileError(
            f"Aucun en-tête Chorus reconnu dans les {HEADER_SEARCH_LINES} premières lignes.",
            where=str(path),
            hint="Fournissez un extrait Chorus tel qu'exporté : demandes de paiement "
            "(colonnes ac_doc_no, oi_ebeln, bline_date…), engagements juridiques (bbp_po_id, "
            "bbp_poitem, fm_amount1…), restitution AIFE (« N° DP - Clé (non composée) », "
            "« Montant payé (EUR) » ou « Montant engagé (EUR) ») ou INF-BUD-53 (« N° EJ », "
            "« EUR »…).",
        )
    return _Reader(path, detection, sink).read()


class _Reader:
    def __init__(self, path: Path, detection: ChorusDetection, sink: BatchSink | None) -> None:
        self.path = path
        self.det = detection
        self.layout = detection.layout
        keys = _keys(detection.header)
        self.width = len(keys)
        index = {key: i for i, key in enumerate(keys)}
        self.columns = {f: index[k] for f, k in self.layout.columns.items() if k in index}
        self.names = {f: detection.header[i].strip() for f, i in self.columns.items()}
        self.parsers = {f: self._parser(f) for f in self.columns}
        self.result = ReadResult(
            path, file_sha256(path), self.layout.format, self.layout.label
        )
        commitments = self.layout.kind == "commitments"
        # Keys a schema lacks (payment_date on a payment line) are left out by Arrow.
        self.lines = (
            TableBuilder("commitments", staging.COMMITMENTS, sink)
            if commitments
            else TableBuilder("payment_lines", staging.PAYMENT_LINES, sink)
        )
        self.events = TableBuilder("payment_events", staging.PAYMENT_EVENTS, sink)

    def finding(self, code: str, severity: str, message: str, hint: str, line: int | None = None,
                column: str | None = None, raw: str | None = None) -> None:
        where = str(self.path) if line is None else f"{self.path}, ligne {line}"
        if column:
            where += f", colonne « {column} »"
        self.result.findings.append(
            Finding(code, severity, message, where, hint, line, column, raw)
        )

    def read(self) -> ReadResult:
        self._note_header()
        fiscal_year = self._preamble_year()
        position = 0
        sep = self.det.separator
        for line_no, line, given in self._records():
            if not line.replace(sep, "").replace('"', "").strip():
                continue  # only separators: an empty row of the report, not a record
            position += 1
            self.result.records_in += 1
            cells = self._cells(line_no, line) if given is None else self._sized(line_no, given)
            if cells is None:
                self.result.set_aside += 1
                continue
            row = self._row(line_no, line, cells)
            if row is None:
                self.result.set_aside += 1
                continue
            row.update(file_hash=self.result.file_hash, position=position, line=line_no,
                       flow=self.layout.flow)
            if fiscal_year is not None and row.get("fiscal_year") is None:
                row["fiscal_year"] = fiscal_year
            self.lines.append(row)
            if self.layout.paid:
                self.events.append(row | {"amount_paid": row.get("amount_ttc")})
            self.result.kept += 1
        if not self.result.records_in:
            self.finding("CHORUS_EMPTY", "avertissement",
                         "Le fichier ne contient aucune ligne de données après l'en-tête.",
                         "Vérifiez les filtres de l'extraction (période, programme).",
                         line=self.det.header_line)
        self._tables()
        return self.result

    def _note_header(self) -> None:
        det = self.det
        if det.preamble:
            self.finding(
                "CHORUS_PREAMBLE",
                "information",
                f"{len(det.preamble)} ligne(s) de préambule avant l'en-tête (titre, date "
                f"d'extraction, filtres) ignorées ; l'en-tête est à la ligne {det.header_line}.",
                "Rien à faire : ces lignes décrivent l'extraction, pas des données.",
                line=det.header_line,
                raw="\n".join(det.preamble),
            )
        for note in det.notes:
            self.finding("CHORUS_ENCODING", "information", f"Fichier lu en {note}.",
                         "Rien à faire.")
        read = set(self.columns.values())
        unread = [h.strip() for i, h in enumerate(det.header) if i not in read and h.strip()]
        if unread:
            self.finding(
                "CHORUS_COLUMNS_NOT_READ",
                "information",
                f"{len(unread)} colonne(s) ne sont pas reprises par l'observatoire : "
                f"{', '.join(unread)}.",
                "Rien à faire : elles ne servent à aucun indicateur ; signalez-le si l'une "
                "d'elles devrait l'être.",
                line=det.header_line,
            )
        missing = [f for f in self.layout.columns if f not in self.columns]
        if missing:
            shown = ", ".join(f"« {self.layout.columns[f]} »" for f in missing)
            self.finding(
                "CHORUS_COLUMNS_MISSING",
                "avertissement",
                f"Colonne(s) attendue(s) pour ce format absente(s) de l'en-tête : {shown} ; "
                "les valeurs correspondantes restent vides.",
                "Vérifiez que l'extraction comprend toutes les colonnes de la restitution.",
                line=det.header_line,
            )

    def _preamble_year(self) -> int | None:
        """INF-BUD-53 reports state the fiscal year once, above the header."""
        for line in self.det.preamble:
            cells = [c.strip() for c in _split(line, self.det.separator)]
            for i, cell in enumerate(cells[:-1]):
                if header_key(cell) == "exercice comptable" and re.fullmatch(r"\d{4}",
                                                                             cells[i + 1]):
                    return int(cells[i + 1])
        return None

    def _records(self) -> Iterator[tuple[int, str, list[str] | None]]:
        """(line, text, cells) of each line after the header: cells are None for a CSV line
        (split later, quoting checked) and given for a spreadsheet row."""
        det = self.det
        if det.container == "xlsx":
            for number, cells in enumerate(_sheet_rows(self.path), start=1):
                if number > det.header_line:
                    yield number, ";".join(cells), cells
            return
        with self.path.open(encoding=det.encoding, errors=det.errors, newline="") as fh:
            for number, raw in enumerate(fh, start=1):
                if number <= det.header_line:
                    continue
                line = raw.rstrip("\r\n")
                if line.strip():
                    yield number, line, None

    def _sized(self, line_no: int, cells: list[str]) -> list[str] | None:
        """A spreadsheet row at the header's width (its trailing empty cells are not stored)."""
        if len(cells) <= self.width:
            return cells + [""] * (self.width - len(cells))
        self.finding(
            "CHORUS_LINE_SET_ASIDE",
            "bloquant",
            f"Ligne écartée : elle a {len(cells)} cellules remplies pour {self.width} colonnes "
            "d'en-tête ; ses valeurs seraient décalées.",
            "Corrigez la ligne dans le classeur puis déposez-le à nouveau ; son texte est "
            "conservé dans ce constat.",
            line=line_no,
            raw=";".join(cells),
        )
        return None

    def _cells(self, line_no: int, line: str) -> list[str] | None:
        sep = self.det.separator
        # Without a quote, splitting is what the csv module would do, much faster.
        cells = line.split(sep) if '"' not in line else _split(line, sep)
        # A quote left in a cell means the quoting was broken (the csv module, lenient, reads
        # on): the line is read again cell by cell when every cell is quoted.
        if len(cells) == self.width and ('"' not in line or not any('"' in c for c in cells)):
            return cells
        repaired = _repair(line, sep)
        if repaired is not None and len(repaired) == self.width:
            if repaired == cells:
                return cells
            self.finding(
                "CHORUS_QUOTES_REPAIRED",
                "avertissement",
                f"Guillemets mal placés dans la ligne (lue en {len(cells)} colonnes pour "
                f"{self.width} attendues, ou avec des guillemets égarés) : elle a été relue "
                "cellule par cellule, chaque cellule étant entre guillemets.",
                "Vérifiez les noms de cette ligne (un guillemet ou un séparateur dans un nom) ; "
                "corrigez l'export à la source si possible.",
                line=line_no,
                raw=line,
            )
            return repaired
        if len(cells) == self.width:
            return cells  # a quote inside an unquoted cell is a character like any other
        self.finding(
            "CHORUS_LINE_SET_ASIDE",
            "bloquant",
            f"Ligne écartée : elle a {len(cells)} colonne(s) au lieu de {self.width}, et ses "
            "guillemets ne permettent pas de la relire sans risque de décaler les valeurs.",
            "Corrigez la ligne dans l'extraction (guillemets, séparateurs) puis déposez à "
            "nouveau le fichier ; son texte est conservé dans ce constat.",
            line=line_no,
            raw=line,
        )
        return None

    def _row(self, line_no: int, line: str, cells: list[str]) -> dict[str, Any] | None:
        row: dict[str, Any] = {}
        for fieldname, i in self.columns.items():
            text = cells[i].strip()
            if text in NULLS:
                continue
            try:
                row[fieldname] = self.parsers[fieldname](text)
            except CellError as exc:
                self.finding(
                    "CHORUS_VALUE_UNREADABLE",
                    "avertissement",
                    f"Valeur « {text} » illisible : {exc.expected} était attendu(e). La ligne "
                    "est gardée, cette valeur reste vide.",
                    "Corrigez la valeur dans l'extraction si elle compte pour les indicateurs.",
                    line=line_no,
                    column=self.names[fieldname],
                    raw=text,
                )
        raw_siret = row.pop("supplier_siret", None)
        if raw_siret is not None:
            siret = siret_or_none(raw_siret)
            row["supplier_siret"] = siret
            if siret is None:
                self.finding(
                    "CHORUS_ID_NOT_SIRET",
                    "information",
                    f"Identifiant fiscal du fournisseur « {raw_siret} » qui n'est pas un SIRET "
                    "(14 chiffres) : le fournisseur reste identifié par son code Chorus.",
                    "Rien à faire pour un fournisseur étranger ; sinon complétez son SIRET "
                    "dans Chorus.",
                    line=line_no,
                    column=self.names["supplier_siret"],
                    raw=raw_siret,
                )
        code = row.get("budget_code")
        if code is not None and not _PROGRAMME.fullmatch(code):
            self.finding(
                "CHORUS_PROGRAMME_INVALID",
                "avertissement",
                f"Programme « {code} » qui n'est pas un code de programme (3 ou 4 chiffres).",
                "Vérifiez la ligne dans Chorus ; elle est gardée telle quelle.",
                line=line_no,
                column=self.names["budget_code"],
                raw=code,
            )
        for fieldname in _REQUIRED[self.layout.kind]:
            if row.get(fieldname) is None:
                column = self.names.get(fieldname, self.layout.columns[fieldname])
                self.finding(
                    "CHORUS_NUMBER_MISSING",
                    "bloquant",
                    f"Ligne écartée : sans {_FIELD_LABELS[fieldname]}, elle ne peut être "
                    "rattachée à rien.",
                    "Complétez le numéro dans l'extraction ; le texte de la ligne est conservé "
                    "dans ce constat.",
                    line=line_no,
                    column=column,
                    raw=line,
                )
                return None
        if row.get("amount_ttc") is None and row.get("amount_ht") is not None:
            # The national DP extract gives HT and TVA in euros: TTC is their sum.
            row["amount_ttc"] = row["amount_ht"] + row.get("amount_tva", Decimal(0))
        return row

    def _parser(self, fieldname: str) -> Callable[[str], Any]:
        """How the cells of a field are read (chosen once per file, not per cell)."""
        layout = self.layout
        # A workbook stores numbers and dates as such: written back with a point and in ISO.
        sheet = self.det.container == "xlsx"
        decimal = "auto" if sheet else layout.decimal
        formats = (*layout.date_formats, "%Y-%m-%d") if sheet else layout.date_formats
        if fieldname in _MONEY_FIELDS:
            return lambda text: parse_amount(text, decimal)
        if fieldname in _DATE_FIELDS:
            return lambda text: parse_date(text, formats)
        if fieldname == "fiscal_year":
            return parse_year
        if fieldname in _NUMBERS:
            return _number
        return str

    def _tables(self) -> None:
        self.lines.finish(self.result)
        if self.layout.kind == "payments":
            self.events.finish(self.result)


def _number(text: str) -> str:
    # The national extracts pad DP numbers and EJ lines with zeros, the reports do not:
    # without them the same DP or EJ line has one spelling in every layout.
    return str(int(text)) if text.isdigit() else text


def _repair(line: str, separator: str) -> list[str] | None:
    """Cells of a line whose every cell is quoted, cut at ``"<sep>"`` only: a quote or a
    separator inside a name no longer shifts the columns."""
    text = line.strip()
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        return None
    return text[1:-1].split(f'"{separator}"')

