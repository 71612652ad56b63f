"""Lists of buyers and suppliers searched by name (``/acheteurs/``, ``/titulaires/``), with
sortable columns and ``.json``/``.csv`` twins; the column headers the explorer sorts by.

The pages read without JavaScript (a plain search form, a results list); the suggestions as
one types (``static/recherche.js``, ``/api/v1/suggestions``) only come on top.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from observatoire import search
from observatoire.config import Settings
from observatoire.errors import WarehouseMissing
from observatoire.web.exports import csv_response, json_response
from observatoire.web.sorting import Column, headers

# Self-contained on purpose (no helper imported from ``views``, which is being refactored in
# parallel): these answers are a few milliseconds, so they are not kept in the page cache.
PAGE_SIZE = 50


def _settings() -> Settings:
    return Settings.from_env()  # read at each request, like the other pages


def _int(value: str | None, default: int) -> int:
    try:
        return max(int(value or default), 1)
    except ValueError:
        return default


def _unavailable(request: HttpRequest, error: WarehouseMissing) -> HttpResponse:
    return render(request, "observatoire/indisponible.html",
                  {"message": error.message, "hint": error.hint}, status=503)

BUYER_COLUMNS = [
    "buyer_siret", "name", "published_name", "name_source", "contract_count", "amount_total",
    "first_notification_date", "last_notification_date",
]
SUPPLIER_COLUMNS = [
    "supplier_key", "id_type", "holder_id", "siret", "name", "published_name", "name_source",
    "category", "commune_name", "departement_code", "contract_count",
]


BUYER_HEADERS = [
    Column("Acheteur", "nom", "nom_desc", descending=False),
    Column("SIRET"),
    Column("Marchés", "marches", "marches_asc", numeric=True),
    Column("Montant (€ HT)", "montant", "montant_asc", numeric=True),
    Column("Dernière notification", "recent"),
]
SUPPLIER_HEADERS = [
    Column("Titulaire", "nom", "nom_desc", descending=False),
    Column("Identifiant"),
    Column("Catégorie"),
    Column("Établissement", "departement", descending=False),
    Column("Marchés", "marches", "marches_asc", numeric=True),
]



def _names(request: HttpRequest, kind: str, fmt: str | None) -> HttpResponse:
    text = (request.GET.get("q") or "").strip()[:200]
    page = _int(request.GET.get("page"), 1)
    size = search.MAX_PAGE_SIZE if fmt else PAGE_SIZE
    try:
        result = search.find(_settings(), kind, text, request.GET.get("tri"), page, size)
    except WarehouseMissing as error:
        return _unavailable(request, error)
    buyer = kind == "buyer"
    if fmt == "json":
        return json_response({
            "recherche": result["text"], "tri": result["sort"], "tris": result["sorts"],
            "page": result["page"], "pages": result["pages"], "nombre": result["count"],
            "acheteurs" if buyer else "titulaires": result["rows"],
        })
    if fmt == "csv":
        return csv_response(result["rows"], BUYER_COLUMNS if buyer else SUPPLIER_COLUMNS,
                            "acheteurs.csv" if buyer else "titulaires.csv")
    state = {"q": text} if text else {}
    query = urlencode({**state, "tri": result["sort"]})
    return render(request, f"observatoire/{'acheteurs' if buyer else 'titulaires'}.html", {
        **result, "query": query, "q": text,
        # a sort the reader chose is kept by a new search; the default one is not
        "chosen_sort": request.GET.get("tri") if request.GET.get("tri") in result["sorts"]
        else None,
        "headers": headers(BUYER_HEADERS if buyer else SUPPLIER_HEADERS, result["sort"], state),
        "relevance": result["sort"] == search.RELEVANCE,
    })


def buyers(request: HttpRequest, fmt: str | None = None) -> HttpResponse:
    """``/acheteurs/``: buyers, found by name (accents and case ignored) or SIRET."""
    return _names(request, "buyer", fmt)


def suppliers(request: HttpRequest, fmt: str | None = None) -> HttpResponse:
    """``/titulaires/``: suppliers, found by name (accents and case ignored) or SIRET/SIREN."""
    return _names(request, "supplier", fmt)


SUGGESTION_KINDS = {"acheteur": "buyer", "titulaire": "supplier"}


def suggestions(request: HttpRequest) -> HttpResponse:
    """``/api/v1/suggestions?type=acheteur|titulaire&q=…``: the first names a query finds,
    for the suggestions as one types (a small JSON)."""
    kind = SUGGESTION_KINDS.get(request.GET.get("type") or "acheteur")
    if kind is None:
        return json_response({"erreur": "Type inconnu : « acheteur » ou « titulaire ».",
                              "que_faire": "Indiquez type=acheteur ou type=titulaire."},
                             status=400)
    limit = min(_int(request.GET.get("nombre"), 8), 20)
    try:
        found = search.suggest(_settings(), kind, request.GET.get("q"), limit)
    except WarehouseMissing as error:
        return json_response({"erreur": error.message, "que_faire": error.hint}, status=503)
    return json_response({"recherche": (request.GET.get("q") or "")[:200],
                          "suggestions": found})
