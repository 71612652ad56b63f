"""Egalim pages: the dashboard of the canteens' food purchases and one page per canteen.

Both read the service layer (``observatoire.egalim.service``) once and render the page or its
``.json`` / ``.csv`` twin; the yearly summaries download in ma-cantine's detailed format.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse

from observatoire import charts, formatting
from observatoire.egalim import export, service
from observatoire.egalim.codes import CATEGORY_LABELS, FAMILIES
from observatoire.exports import csv_response
from observatoire.web import maps
from observatoire.web.formats import (
    Output,
    Table,
    cached_by_warehouse,
    current_settings,
    page,
    read_only,
)

CANTEEN_COLUMNS = [
    "scope_key", "name", "departement", "year", "lines", "total", "egalim", "bio",
    "meat_fish", "meat_fish_egalim", "egalim_rate", "bio_rate", "meat_fish_egalim_rate",
    "coverage", "local_rate", "quality_score", "missing_months",
]
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre"]


def _year(request: HttpRequest) -> int | None:
    raw = request.GET.get("annee", "")
    return int(raw) if raw.isdigit() and len(raw) == 4 else None


def _legal(targets: dict[str, list[dict[str, Any]]], code: str) -> list[dict[str, Any]]:
    """The targets of an indicator, each with its text (``≥ 50,0 % au 31/12/2022``)."""
    return [
        {**t, "text": formatting.target(t["target_value"], t["comparator"], t["target_date"],
                                        "percent")}
        for t in targets.get(code, [])
    ]


def _chart(series: list[dict[str, Any]], key: str, label: str,
           target: float | None) -> dict[str, Any] | None:
    return charts.series([(s["year"], s[key]) for s in series], "percent", target, label)


def _last_target(targets: list[dict[str, Any]]) -> float | None:
    return float(targets[-1]["target_value"]) if targets else None


@page
def dashboard(request: HttpRequest, fmt: str | None = None) -> Output:
    """``/egalim/``: the territory's rates against the targets, its canteens, a map."""
    with service.reading(current_settings()) as con:
        report = service.overview(con, _year(request))
    return Output("observatoire/egalim.html", lambda: _dashboard_context(report), data=report,
                  table=Table(report["canteens"], CANTEEN_COLUMNS, "egalim-cantines"))


def _dashboard_context(report: dict[str, Any]) -> dict[str, Any]:
    targets = report["targets"]
    by_commune: dict[str, tuple[float, float]] = {}
    for c in report["canteens"]:
        if c["commune_insee"] and c["total"]:
            eg, tot = by_commune.get(c["commune_insee"], (0.0, 0.0))
            by_commune[c["commune_insee"]] = (eg + float(c["egalim"]), tot + float(c["total"]))
    year = report["year"]
    return {
        **report,
        "families": FAMILIES,
        "month_names": dict(enumerate(MONTHS, 1)),
        "legal": {"F01": _legal(targets, "F01"), "F02": _legal(targets, "F02"),
                  "F03": _legal(targets, "F03")},
        "courbe": _chart(report["series"], "egalim_rate",
                         "Part Egalim des achats alimentaires, par année",
                         _last_target(targets["F01"])),
        "courbe_bio": _chart(report["series"], "bio_rate", "Part bio, par année",
                             _last_target(targets["F02"])),
        "barres": charts.bars(
            [(d["label"], float(d["canteens"])) for d in report["distribution"]], "count",
            "Nombre de cantines par part Egalim", limit=10),
        "barres_mois": charts.bars(
            [(MONTHS[m["month"] - 1], m["egalim_rate"]) for m in report["months"]], "percent",
            f"Part Egalim par mois en {year}", limit=12),
        "carte": maps.communes(
            {code: eg / tot for code, (eg, tot) in by_commune.items() if tot},
            f"Part Egalim des achats des lycées, par commune, en {year}",
        ) if by_commune else None,
    }


@page
def canteen(request: HttpRequest, key: str, fmt: str | None = None) -> Output:
    """``/egalim/cantines/<key>/``: a canteen's months, categories, families and findings."""
    with service.reading(current_settings()) as con:
        report = service.canteen(con, key, _year(request))
    if report is None:
        raise Http404("Cantine inconnue")
    return Output("observatoire/egalim_cantine.html", lambda: _canteen_context(report),
                  data=report,
                  table=Table(report["series"], CANTEEN_COLUMNS[3:16], f"egalim-{key}"))


def _canteen_context(report: dict[str, Any]) -> dict[str, Any]:
    targets = report["targets"]
    total = float(report["current"]["total"]) if report["current"] else 0.0
    for c in report["categories"]:
        c["label"] = CATEGORY_LABELS.get(c["category"], c["category"])
        c["share"] = float(c["value"]) / total if total else None
    for f in report["families"]:
        f["label"] = FAMILIES.get(f["family"], f["family"])
        f["egalim"] = float(f["total"]) - float(f["non_egalim"])
        f["egalim_rate"] = f["egalim"] / float(f["total"]) if f["total"] else None
    return {
        **report,
        "month_names": dict(enumerate(MONTHS, 1)),
        "courbe": _chart(report["series"], "egalim_rate", "Part Egalim, par année",
                         _last_target(targets["F01"])),
        "barres_mois": charts.bars(
            [(MONTHS[m["month"] - 1], m["egalim_rate"]) for m in report["months"]], "percent",
            f"Part Egalim par mois en {report['year']}", limit=12),
    }


@read_only
@cached_by_warehouse
def summaries(request: HttpRequest, year: str) -> HttpResponse:
    """``/egalim/bilans-<année>.csv``: every canteen's yearly summary in ma-cantine's format."""
    key = request.GET.get("cantine") or None
    with service.reading(current_settings()) as con:
        rows = service.yearly_summaries(con, int(year), key)
    if not rows:
        raise Http404("Aucun achat pour cette année")
    name = f"bilans-egalim-{year}{'-' + key if key else ''}.csv"
    return csv_response(rows, export.header(), name)
