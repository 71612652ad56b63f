"""Reading a purchase file as a table: what the container is (CSV/TSV text or XLSX, never judged
by the file name), its encoding and separator, the header, and the data rows in batches.

Only structure is handled here (cells as text, line numbers); values are checked later, column
by column, in SQL (:mod:`observatoire.egalim.validation`). Memory does not grow with the file:
text is decoded chunk by chunk by the ``csv`` module and XLSX is read with openpyxl's read-only
mode.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from observatoire.staging.detect import SAMPLE, scan_text

#: One batch of data rows: their line numbers in the file (1 = header) and their cells.
Batch = tuple[list[int], list[list[str]]]


class NotATable(Exception):
    """The file is not a table at all; ``args`` are (message, hint)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.message = message
        self.hint = hint


@dataclass
class TableFile:
    """An open table: its header and an iterator of row batches (after the header)."""

    container: str  # "csv" | "xlsx"
    header: list[str]
    batches: Iterator[Batch]
    encoding: str | None = None
    separator: str | None = None
    notes: list[str] = field(default_factory=list)


_MAGIC = {
    b"%PDF": ("un document PDF", "Exportez les achats en CSV ou en XLSX."),
    b"\x1f\x8b": (
        "une archive GZIP",
        "Décompressez-la et importez le fichier CSV qu'elle contient.",
    ),
    b"\x89PNG": ("une image PNG", "Importez le tableau des achats (CSV ou XLSX), pas une image."),
    b"\xff\xd8\xff": ("une image JPEG", "Importez le tableau des achats (CSV ou XLSX)."),
    b"\xd0\xcf\x11\xe0": (
        "un classeur Excel 97-2003 (.xls) ou un document Office ancien",
        "Enregistrez-le au format .xlsx ou CSV (UTF-8) depuis votre tableur.",
    ),
}


def open_table(
    path: Path, stack: ExitStack, *, separator: str | None, batch_size: int
) -> TableFile:
    """Open ``path`` as a table, registering what must be closed on ``stack``.

    Raises :class:`NotATable` for an empty, binary, JSON, XML or unreadable file.
    """
    with path.open("rb") as fh:
        sample = fh.read(SAMPLE)
    if not sample.strip(b" \t\r\n\xef\xbb\xbf"):
        raise NotATable(
            "Le fichier est vide.",
            "Vérifiez l'export : il doit contenir une ligne d'en-tête puis une ligne par achat.",
        )
    if sample.startswith(b"PK\x03\x04"):
        return _open_xlsx(path, stack, batch_size)
    for magic, (what, hint) in _MAGIC.items():
        if sample.startswith(magic):
            raise NotATable(f"Le fichier est {what}, pas un tableau d'achats.", hint)
    if b"\x00" in sample:
        raise NotATable(
            "Le fichier est binaire (il contient des octets nuls) : ce n'est pas un tableau "
            "CSV ni un classeur XLSX.",
            "Exportez les achats en CSV (séparateur virgule, point-virgule ou tabulation) ou "
            "en XLSX.",
        )
    scan = scan_text(path, sample)
    text = sample.decode(scan.encoding, errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith(("{", "[")):
        raise NotATable(
            "Le fichier est du JSON, pas un tableau d'achats.",
            "Exportez les achats en CSV ou en XLSX, une ligne par achat.",
        )
    if text.startswith("<"):
        raise NotATable(
            "Le fichier est du XML ou du HTML, pas un tableau d'achats.",
            "Exportez les achats en CSV ou en XLSX, une ligne par achat.",
        )
    fh_text: TextIO = stack.enter_context(
        path.open(encoding=scan.encoding, errors=scan.errors, newline="")
    )
    first_line = text.splitlines()[0] if text else ""
    sep = separator or sniff_separator(first_line)
    reader = csv.reader(fh_text, delimiter=sep, strict=False)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise NotATable(
            f"La première ligne n'est pas lisible comme du CSV ({exc}).",
            "Vérifiez que le fichier est un CSV (séparateur virgule, point-virgule ou tabulation).",
        ) from exc
    if header:
        header[0] = header[0].lstrip("\ufeff")
    return TableFile(
        "csv",
        header,
        _csv_batches(reader, batch_size),
        encoding=scan.encoding,
        separator=sep,
        notes=list(scan.notes),
    )


def sniff_separator(first_line: str) -> str:
    """The separator of a CSV file: the most frequent of ``,`` ``;`` and tab in its header."""
    counts = {sep: first_line.count(sep) for sep in (",", ";", "\t")}
    return max(counts, key=lambda s: counts[s])


def _csv_batches(reader: Any, batch_size: int) -> Iterator[Batch]:
    # The only per-line Python work: the line number where each record starts (a quoted cell
    # may span several physical lines).
    lines: list[int] = []
    rows: list[list[str]] = []
    last = reader.line_num
    try:
        for row in reader:
            lines.append(last + 1)
            rows.append(row)
            last = reader.line_num
            if len(rows) >= batch_size:
                yield lines, rows
                lines, rows = [], []
    except csv.Error as exc:
        raise NotATable(
            f"Le fichier CSV est mal formé vers la ligne {reader.line_num} ({exc}).",
            "Vérifiez les guillemets de cette ligne (un guillemet ouvert doit être refermé).",
        ) from exc
    if rows:
        yield lines, rows


def _open_xlsx(path: Path, stack: ExitStack, batch_size: int) -> TableFile:
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise NotATable(
            "Le fichier est une archive ZIP mais pas un classeur XLSX lisible.",
            "Décompressez l'archive, ou enregistrez le classeur au format .xlsx.",
        ) from exc
    stack.callback(workbook.close)
    sheet = workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    first = next(rows, None)
    if first is None:
        raise NotATable(
            "Le classeur est vide (première feuille sans aucune ligne).",
            "Mettez les achats sur la première feuille : en-tête en ligne 1, un achat par ligne.",
        )
    header = _trim([_cell_text(v) for v in first])
    notes = [f"classeur XLSX, feuille « {sheet.title} »"]
    return TableFile("xlsx", header, _xlsx_batches(rows, len(header), batch_size), notes=notes)


def _xlsx_batches(rows: Iterator[tuple[Any, ...]], width: int, batch_size: int) -> Iterator[Batch]:
    lines: list[int] = []
    batch: list[list[str]] = []
    for number, values in enumerate(rows, start=2):
        cells = _trim([_cell_text(v) for v in values])
        # Spreadsheets do not store trailing empty cells: pad to the header's width.
        if len(cells) < width and cells:
            cells += [""] * (width - len(cells))
        lines.append(number)
        batch.append(cells)
        if len(batch) >= batch_size:
            yield lines, batch
            lines, batch = [], []
    if batch:
        yield lines, batch


def _trim(cells: list[str]) -> list[str]:
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        # Integral floats (a SIRET or a count stored as a number) lose their ".0"; others keep
        # Python's shortest round-trip form (90.11, not 90.1099999).
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)
