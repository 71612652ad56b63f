"""Lists of buyers and suppliers searched by name (``/acheteurs/``, ``/titulaires/``), with
sortable columns and ``.json``/``.csv`` twins; the column headers the explorer sorts by.

The pages read without JavaScript (a plain search form, a results list); the suggestions as
one types (``static/recherche.js``, ``/api/v1/suggestions``) only come on top.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest

from observatoire import search
from observatoire.config import Settings
from observatoire.web.api import names_answer
from observatoire.web.formats import (
    BadParameter,
    Output,
    Table,
    current_settings,
    endpoint,
    integer,
    page,
)
from observatoire.web.sorting import Column, headers

PAGE_SIZE = 50

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



def _names(request: HttpRequest, kind: str, fmt: str | None) -> Output:
    text = (request.GET.get("q") or "").strip()[:200]
    size = search.MAX_PAGE_SIZE if fmt else PAGE_SIZE
    result = search.find(current_settings(), kind, text, request.GET.get("tri"),
                         integer(request, "page", 1), size)
    buyer = kind == "buyer"
    state = {"q": text} if text else {}
    query = urlencode({**state, "tri": result["sort"]})

    def context() -> dict[str, Any]:
        return {
            **result, "query": query, "q": text,
            # a sort the reader chose is kept by a new search; the default one is not
            "chosen_sort": request.GET.get("tri") if request.GET.get("tri") in result["sorts"]
            else None,
            "headers": headers(BUYER_HEADERS if buyer else SUPPLIER_HEADERS, result["sort"],
                               state),
            "relevance": result["sort"] == search.RELEVANCE,
        }

    return Output(f"observatoire/{'acheteurs' if buyer else 'titulaires'}.html", context,
                  data=names_answer(result, size),
                  table=Table(result["rows"], BUYER_COLUMNS if buyer else SUPPLIER_COLUMNS,
                              "acheteurs" if buyer else "titulaires"))


@page
def buyers(request: HttpRequest, fmt: str | None = None) -> Output:
    """``/acheteurs/``: buyers, found by name (accents and case ignored) or SIRET; the
    ``.json`` twin is the API's answer (``/api/v1/acheteurs``)."""
    return _names(request, "buyer", fmt)


@page
def suppliers(request: HttpRequest, fmt: str | None = None) -> Output:
    """``/titulaires/``: suppliers, found by name (accents and case ignored) or SIRET/SIREN."""
    return _names(request, "supplier", fmt)


SUGGESTION_KINDS = {"acheteur": "buyer", "titulaire": "supplier"}


@endpoint
def suggestions(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    """``/api/v1/suggestions?type=acheteur|titulaire&q=…``: the first names a query finds,
    for the suggestions as one types (a small JSON)."""
    kind = SUGGESTION_KINDS.get(request.GET.get("type") or "acheteur")
    if kind is None:
        raise BadParameter("Type inconnu : « acheteur » ou « titulaire ».",
                           hint="Indiquez type=acheteur ou type=titulaire.")
    found = search.suggest(settings, kind, request.GET.get("q"),
                           integer(request, "nombre", 8, high=20))
    return {"recherche": (request.GET.get("q") or "")[:200], "suggestions": found}
