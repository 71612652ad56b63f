"""Downloads of a page's data: JSON, and CSV that spreadsheets cannot run as formulas."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from django.http import HttpResponse, JsonResponse

from observatoire.datasets import neutralise, plain


def csv_response(rows: list[dict[str, Any]], columns: list[str], filename: str) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([neutralise(plain(row.get(c))) for c in columns])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
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
