"""The pages' own scripts and the front-end packages installed from the lockfile, served from
``web/static`` (no CDN, nothing fetched at run time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.http import FileResponse, Http404, HttpRequest

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml"}
UPLOT = STATIC / "vendor" / "uPlot.iife.min.js"


def static_file(request: HttpRequest, path: str) -> FileResponse:
    """``/static/<path>``: a script or style sheet of ``web/static`` (nothing else)."""
    target = (STATIC / path).resolve()
    if STATIC not in target.parents or target.suffix not in TYPES or not target.is_file():
        raise Http404("Fichier inconnu")
    response = FileResponse(target.open("rb"), content_type=TYPES[target.suffix])
    response["Cache-Control"] = "public, max-age=3600"
    return response


def frontend(request: HttpRequest) -> dict[str, Any]:
    """Template context: whether the charting package was installed (``tasks.py`` runs npm ci);
    without it, pages keep their static SVG charts."""
    return {"interactive_charts": UPLOT.is_file()}
