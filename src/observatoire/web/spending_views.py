"""The « Dépenses » explorer (``/depenses/``): payment lines filtered through the URL, with
sortable columns, ``.json``/``.csv``/``.xlsx`` twins of the page and whole-selection
downloads (``/depenses/selection.<csv|xlsx|json>``), all read from ``observatoire.spending``
(the service the API's ``/api/v1/depenses`` reads too)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from observatoire import spending
from observatoire.explorer import MAX_PAGE_SIZE
from observatoire.web import api, views
from observatoire.web.formats import Output, Table, current_settings, integer, page, read_only
from observatoire.web.sorting import Column, headers

PAGE_SIZE = 50

#: The explorer's columns (``spending.SORTS``).
PAYMENT_HEADERS = [
    Column("Mandat", "date", "date_asc"),
    Column("Acheteur"),
    Column("Fournisseur", "fournisseur", descending=False),
    Column("Type"),
    Column("Marché"),
    Column("Paiement"),
    Column("Délai (jours)", "delai", numeric=True),
    Column("Montant de la ligne (€ HT)", "montant", "montant_asc", numeric=True),
    Column("Net payé (€ HT)", numeric=True),
]


@page
def payments(request: HttpRequest, fmt: str | None = None) -> Output:
    """``/depenses/``: the payment lines; the URL holds every filter, the sort and the page."""
    settings = current_settings()
    filters, problems = spending.PaymentFilters.from_query(request.GET.dict())
    sort = request.GET.get("tri") or "date"
    sort = sort if sort in spending.SORTS else "date"
    page_number = integer(request, "page", 1)
    size = PAGE_SIZE if fmt is None else MAX_PAGE_SIZE
    result = spending.search(settings, filters, sort, page_number, size)

    def context() -> dict[str, Any]:
        state = filters.as_query()
        query = "&".join(f"{k}={quote(v)}" for k, v in {**state, "tri": sort}.items())
        return {**result, "filters": state, "problems": problems, "sort": sort,
                "query": query, "sorts": spending.SORT_LABELS,
                "options": {**spending.choices(),
                            "exercice": [(str(y), str(y)) for y in result["years"]]},
                "kinds": spending.KINDS,
                "kind_counts": [(label, result["by_kind"][k])
                                for k, label in spending.KINDS.items() if result["by_kind"][k]],
                "source_counts": [(label, result["by_source"][k])
                                  for k, label in spending.SOURCES.items()
                                  if result["by_source"][k]],
                "links": spending.LINK_METHODS, "confidences": spending.CONFIDENCES,
                "headers": headers(PAYMENT_HEADERS, sort, state)}

    return Output("observatoire/depenses.html", context,
                  data=api.payments_answer(result, filters, problems, sort, size),
                  table=Table(result["payments"], spending.SELECTION_COLUMNS, "depenses"))


@read_only
def selection(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """``/depenses/selection.<csv|xlsx|json>``: every payment line of the explorer's selection
    (its filters and sort), streamed; CSV and XLSX headed in French."""
    settings = current_settings()
    filters, _ = spending.PaymentFilters.from_query(request.GET.dict())
    sort = request.GET.get("tri") or "date"
    count = spending.selection_count(settings, filters)  # also: no warehouse → 503 now
    return views.stream_rows(
        request, settings, fmt, count, lambda: spending.selection(settings, filters, sort),
        spending.SELECTION_COLUMNS, "depenses-selection", filters.as_query(), sort,
        headers=spending.headers(),
        title="Dépenses", noun="lignes de paiement")
