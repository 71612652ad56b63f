"""Downloads of a page's data: JSON, and CSV and XLSX that spreadsheets cannot run as formulas.

Every cell goes through :func:`observatoire.datasets.cell`: characters that XML 1.0 and
spreadsheets refuse are removed and formulas neutralised.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from observatoire.datasets import FORMATS, cell, plain, write_xlsx

BOM = "\ufeff"


def attachment(filename: str) -> str:
    """A ``Content-Disposition`` header for a download: the name's characters that are not
    letters, digits, ``.``, ``-`` or ``_`` become ``_`` (a quote or a line break in an
    identifier can never end the header)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:150] or "telechargement"
    return content_disposition_header(True, safe) or f'attachment; filename="{safe}"'


def csv_response(rows: Iterable[Mapping[str, Any]], columns: list[str],
                 filename: str) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = attachment(filename)
    return response


def xlsx_response(rows: Iterable[Mapping[str, Any]], columns: list[str],
                  filename: str) -> HttpResponse:
    """A page's table as a spreadsheet (the pages' tables are small: written in memory)."""
    buffer = io.BytesIO()
    write_xlsx(([row.get(c) for c in columns] for row in rows), columns, filename[:31],
               buffer)
    response = HttpResponse(buffer.getvalue(), content_type=FORMATS["xlsx"])
    response["Content-Disposition"] = attachment(filename)
    return response


def json_response(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(
        data, safe=False, encoder=_Encoder, json_dumps_params={"ensure_ascii": False},
        status=status,
    )


class _Encoder(json.JSONEncoder):
    """Dates as ISO text, decimals as numbers, anything else unknown as text."""

    def default(self, o: Any) -> Any:
        converted = plain(o)
        return converted if converted is not o else str(o)


# --- whole selections, streamed -----------------------------------------------------------------


class _Line:
    """A file-like object whose ``write`` hands back what the csv writer wrote."""

    def write(self, text: str) -> str:
        return text


def stream_csv(rows: Iterable[tuple[Any, ...]], headers: list[str], filename: str,
               delimiter: str = ",") -> StreamingHttpResponse:
    """Rows streamed as CSV in UTF-8 with a BOM (so that spreadsheets read the accents); the
    ``;`` variant is what French spreadsheet software opens without an import dialog."""
    writer = csv.writer(_Line(), delimiter=delimiter, lineterminator="\r\n")

    def lines() -> Iterator[bytes]:
        yield (BOM + writer.writerow(headers)).encode()
        batch: list[str] = []
        for row in rows:
            batch.append(writer.writerow([cell(v) for v in row]))
            if len(batch) == 1000:
                yield "".join(batch).encode()
                batch = []
        yield "".join(batch).encode()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = attachment(filename)
    return response


def stream_json(rows: Iterable[tuple[Any, ...]], names: list[str],
                filename: str) -> StreamingHttpResponse:
    """Rows streamed as a JSON array of objects keyed by the columns' identifiers."""

    def chunks() -> Iterator[bytes]:
        yield b"["
        first = True
        batch: list[str] = []
        for row in rows:
            record = json.dumps(dict(zip(names, row, strict=True)), cls=_Encoder,
                                ensure_ascii=False)
            batch.append(("\n" if first else ",\n") + record)
            first = False
            if len(batch) == 1000:
                yield "".join(batch).encode()
                batch = []
        yield ("".join(batch) + "\n]\n").encode()

    response = StreamingHttpResponse(chunks(), content_type="application/json")
    response["Content-Disposition"] = attachment(filename)
    return response


def stream_xlsx(rows: Iterable[tuple[Any, ...]], headers: list[str], title: str,
                filename: str) -> FileResponse:
    """Rows written to a spreadsheet in openpyxl's write-only mode (flat memory) in a
    temporary file, which the answer streams and which is deleted when it is closed."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (the answer closes it once sent)
    try:
        write_xlsx(rows, headers, title, spool)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    response = FileResponse(spool, content_type=FORMATS["xlsx"])
    response["Content-Disposition"] = attachment(filename)
    return response
