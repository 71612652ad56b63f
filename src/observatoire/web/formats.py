"""The outputs of every public page: one registry of formats and one error handler.

A page's view returns an :class:`Output` — the data of its ``.json`` twin, the table of its
``.csv`` and ``.xlsx`` twins, its Atom feed, and the template and context of its HTML page —
and the :func:`page` decorator does the rest: it answers 405 to any method but GET and HEAD,
renders the format the URL asked for (``FORMATS``), keeps the answer until the warehouse
changes, and turns every error into one answer (:func:`error_response`): an HTML page, or on
the API and the ``.json`` twins JSON of one documented shape
``{"statut": 404, "erreur": "…", "que_faire": "…"}``. API endpoints use :func:`endpoint`.

Request parameters are read through :func:`integer` (bounded: a page number past 64 bits is
clamped, never sent to the database) so that no parameter can make a page answer 500.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.cache import get_conditional_response
from django.utils.feedgenerator import Atom1Feed
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt

from observatoire import explorer
from observatoire.config import Settings
from observatoire.errors import ObservatoireError, WarehouseMissing
from observatoire.exports import csv_response, json_response, xlsx_response
from observatoire.web import pagecache


class BadParameter(ObservatoireError):
    """A request parameter that cannot be used (answered 400, with what to do)."""


@dataclass
class Table:
    """Rows of a page's twin: the columns written, and the file name without extension."""

    rows: Iterable[Mapping[str, Any]]
    columns: list[str]
    name: str


@dataclass
class Output:
    """What a page gives its formats; a format the page has nothing for answers 404."""

    template: str = ""
    context: Callable[[], dict[str, Any]] | None = None  # built only for the HTML page
    data: Any = None  # the .json twin
    table: Table | None = None  # the .csv and .xlsx twins
    feed: Callable[[], Atom1Feed] | None = None  # the .atom twin


def _html(request: HttpRequest, output: Output) -> HttpResponse | None:
    if not output.template:
        return None
    return render(request, output.template, output.context() if output.context else {})


def _json(request: HttpRequest, output: Output) -> HttpResponse | None:
    return None if output.data is None else json_response(output.data)


def _csv(request: HttpRequest, output: Output) -> HttpResponse | None:
    t = output.table
    return None if t is None else csv_response(t.rows, t.columns, f"{t.name}.csv")


def _xlsx(request: HttpRequest, output: Output) -> HttpResponse | None:
    t = output.table
    return None if t is None else xlsx_response(t.rows, t.columns, f"{t.name}.xlsx")


def _atom(request: HttpRequest, output: Output) -> HttpResponse | None:
    if output.feed is None:
        return None
    response = HttpResponse(content_type="application/atom+xml; charset=utf-8")
    output.feed().write(response, "utf-8")
    return response


#: Every output format of the pages: the URL's extension (None: the HTML page) → its renderer.
FORMATS: dict[str | None, Callable[[HttpRequest, Output], HttpResponse | None]] = {
    None: _html, "json": _json, "csv": _csv, "xlsx": _xlsx, "atom": _atom,
}

# --- errors -----------------------------------------------------------------------------------

TITLES = {400: "Requête incorrecte", 404: "Introuvable", 405: "Méthode non permise",
          500: "Erreur interne", 503: "Données indisponibles"}
HINTS = {
    400: "Corrigez le paramètre indiqué et recommencez.",
    404: "Vérifiez l'adresse (celles de l'API sont listées sur /api/).",
    405: "Ce site et son API se lisent en GET seulement.",
    500: "Réessayez plus tard ; si l'erreur persiste, signalez-la avec l'adresse demandée.",
}


def wants_json(request: HttpRequest, fmt: str | None = None) -> bool:
    """The API and the .json twins answer their errors in JSON; pages in HTML."""
    return request.path.startswith("/api/") or fmt == "json" or request.path.endswith(".json")


def error_response(request: HttpRequest, status: int, message: str = "", hint: str = "",
                   fmt: str | None = None) -> HttpResponse:
    """The one shape of every error: ``{"statut", "erreur", "que_faire"}`` in JSON, or the
    page that says the same."""
    message = message or TITLES.get(status, "Erreur")
    hint = hint or HINTS.get(status, "")
    if wants_json(request, fmt):
        response: HttpResponse = json_response(
            {"statut": status, "erreur": message, "que_faire": hint}, status=status)
    else:
        response = render(request, "observatoire/erreur.html",
                          {"title": TITLES.get(status, "Erreur"), "message": message,
                           "hint": hint}, status=status)
    if status == 405:
        response["Allow"] = "GET, HEAD"
    return response


def handle(request: HttpRequest, call: Callable[[], HttpResponseBase],
           fmt: str | None = None) -> HttpResponseBase:
    """Answer a request: 405 to a method other than GET and HEAD, and each error the readers
    can meet turned into its answer."""
    if request.method not in ("GET", "HEAD"):
        return error_response(request, 405, fmt=fmt)
    try:
        return call()
    except WarehouseMissing as error:
        return error_response(request, 503, error.message, error.hint, fmt)
    except BadParameter as error:
        return error_response(request, 400, error.message, error.hint, fmt)
    except Http404 as error:
        return error_response(request, 404, str(error) or "", fmt=fmt)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's ``handler404``: an address that no route serves."""
    return error_response(request, 404, "Cette adresse ne correspond à aucune page.")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's ``handler400``."""
    return error_response(request, 400)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's ``handler500`` (the error itself is logged by Django)."""
    try:
        return error_response(request, 500)
    except Exception:  # the template itself failed: a plain answer still
        return HttpResponse("Erreur interne.", status=500,
                            content_type="text/plain; charset=utf-8")


# --- the pages ------------------------------------------------------------------------------


def current_settings() -> Settings:
    # Read at each request: the data home and profile follow the environment of the server.
    return Settings.from_env()


def cached_by_warehouse(view: Any) -> Any:
    """Keep a page's answer until the warehouse changes: the data only moves with a build.

    The answers are kept on disk for every process of the server (``pagecache``), in a folder
    named after the warehouse file's identity (inode and modification time); the key holds the
    full request path with its query, so a new build or other filters never get an old answer.
    Only GET answers of 200 are kept; ``X-Cache`` says whether the answer came from the cache.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        settings = current_settings()
        try:
            stat = settings.warehouse_path.stat()
        except FileNotFoundError:
            return view(request, *args, **kwargs)  # type: ignore[no-any-return]
        identity = f"{stat.st_ino}-{stat.st_mtime_ns}"
        key = hashlib.sha256(
            f"{settings.profile}:{date.today()}:{request.get_full_path()}".encode()).hexdigest()
        hit = (pagecache.get(settings.home, identity, key)
               if request.method in ("GET", "HEAD") else None)
        if hit is not None:
            body, head = hit
            response = HttpResponse(body, content_type=head["type"], status=head["status"])
            for header, value in head["headers"]:
                response[header] = value
            response["X-Cache"] = "hit"
            return response
        response = view(request, *args, **kwargs)
        if (request.method == "GET" and response.status_code == 200
                and not response.streaming):
            extra = [(h, v) for h, v in response.items() if h == "Content-Disposition"]
            pagecache.put(settings.home, identity, key, response.content,
                          {"type": response["Content-Type"], "status": 200, "headers": extra})
        response["X-Cache"] = "miss"
        return response  # type: ignore[no-any-return]

    return wrapper


def page(view: Callable[..., Output]) -> Callable[..., HttpResponseBase]:
    """A public page and its twins: the view returns an :class:`Output`; the format comes from
    the URL's ``fmt`` (None: the HTML page), which the view also receives."""

    def answer(request: HttpRequest, *args: Any, fmt: str | None = None,
               **kwargs: Any) -> HttpResponseBase:
        output = view(request, *args, fmt=fmt, **kwargs)
        response = FORMATS[fmt](request, output) if fmt in FORMATS else None
        if response is None:
            raise Http404("Ce format n'existe pas pour cette page.")
        return response

    return read_only(cached_by_warehouse(answer), view)


def read_only(view: Callable[..., HttpResponseBase],
              named: Callable[..., Any] | None = None) -> Callable[..., HttpResponseBase]:
    """A public, read-only view: GET and HEAD only, errors through :func:`handle`. CSRF does
    not apply (nothing is ever changed), so that another method gets its 405, not a 403."""

    @functools.wraps(named or view)
    def serve(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return handle(request, lambda: view(request, *args, **kwargs), kwargs.get("fmt"))

    return csrf_exempt(serve)


def endpoint(build: Callable[..., Any]) -> Callable[..., HttpResponseBase]:
    """An API endpoint: ``build(request, settings, …)`` returns the data, None for « not
    found »; the answer is JSON, errors included."""

    def call(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        data = build(request, current_settings(), *args, **kwargs)
        if data is None:
            raise Http404("Élément inconnu.")
        return json_response(data)

    return read_only(call, build)


# --- parameters ------------------------------------------------------------------------------

def integer(request: HttpRequest, name: str, default: int, low: int = 1,
            high: int = explorer.MAX_PAGE) -> int:
    """A whole-number parameter: unreadable → the default, out of bounds → the nearest bound
    (a page number of 30 digits reads as the last page allowed, never as a database error)."""
    raw = (request.GET.get(name) or "").strip()
    if not re.fullmatch(r"[+-]?\d{1,40}", raw):
        return default
    return max(low, min(int(raw), high))



def validators(settings: Settings, *parts: object) -> tuple[str, float]:
    """The ``ETag`` and modification time of a download made from the warehouse in service:
    they change with each build (and with ``parts``, e.g. the request's filters)."""
    stat = settings.warehouse_path.stat()
    digest = hashlib.sha256(
        ":".join(str(p) for p in (stat.st_ino, stat.st_mtime_ns, settings.profile, *parts))
        .encode()).hexdigest()[:32]
    return f'"{digest}"', stat.st_mtime


def conditional(request: HttpRequest, etag: str, modified: float,
                answer: Callable[[], HttpResponseBase]) -> HttpResponseBase:
    """A download with its ``ETag`` and ``Last-Modified``; 304 when the reader has it."""
    not_modified = get_conditional_response(request, etag=etag, last_modified=int(modified))
    if not_modified is not None:
        return not_modified
    response = answer()
    response["ETag"] = etag
    response["Last-Modified"] = http_date(modified)
    return response
