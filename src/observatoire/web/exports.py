"""Downloads of a page's data: JSON, and CSV that spreadsheets cannot run as formulas."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpResponse, JsonResponse

#: A cell starting with one of these is read as a formula by spreadsheet software.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe (OWASP)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (list, tuple)):
        return " | ".join(str(v) for v in value)
    return value


def csv_response(rows: list[dict[str, Any]], columns: list[str], filename: str) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutralise(_plain(row.get(c))) for c in columns])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _json_default(value: Any) -> Any:
    plain = _plain(value)
    return plain if plain is not value else str(value)


def json_response(data: Any, status: int = 200) -> JsonResponse:
    return JsonResponse(
        data, safe=False, encoder=_Encoder, json_dumps_params={"ensure_ascii": False},
        status=status,
    )


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        return _json_default(o)
