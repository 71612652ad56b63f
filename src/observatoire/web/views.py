"""Public pages. Each view asks the service layer once and renders the page or its twin."""

from __future__ import annotations

import functools
import hashlib
from datetime import date
from typing import Any
from urllib.parse import quote

from django.core.cache import cache
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.feedgenerator import Atom1Feed

from observatoire import datasets, explorer, formatting, reports
from observatoire.config import Settings
from observatoire.errors import ObservatoireError, WarehouseMissing
from observatoire.indicators import service
from observatoire.indicators.profile import KINDS, SOURCES, UNITS
from observatoire.stewardship.fields import FIELDS
from observatoire.warehouse import open_warehouse
from observatoire.web import charts, maps
from observatoire.web.exports import csv_response, json_response

PAGE_SIZE = 50

BAROMETER_COLUMNS = [
    "indicator_id", "code", "title", "axis_title", "kind", "regulatory", "unit", "available",
    "period", "basis", "value", "numerator", "denominator", "record_count", "known_count",
    "coverage", "undated_count", "unknown_low", "unknown_high", "provisional",
    "target_value", "target_comparator", "target_date", "status",
]
RESULT_COLUMNS = [
    "indicator_id", "version", "code", "period", "breakdown", "breakdown_value",
    "breakdown_label", "category", "category_label", "basis", "numerator", "denominator",
    "value", "record_count", "known_count", "coverage", "undated_count", "unknown_low",
    "unknown_high", "small_sample", "provisional", "target_value", "target_comparator",
    "target_date", "target_source", "status",
]


def _settings() -> Settings:
    # Read at each request: the data home and profile follow the environment of the server.
    return Settings.from_env()


def cached_by_warehouse(view: Any) -> Any:
    """Keep a page's answer until the warehouse changes: the data only moves with a build.

    The key holds the warehouse file's identity (inode and modification time) and the full
    request path with its query, so a new build or other filters never get an old answer.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        settings = _settings()
        try:
            stat = settings.warehouse_path.stat()
        except FileNotFoundError:
            return view(request, *args, **kwargs)  # type: ignore[no-any-return]
        key = "page:" + hashlib.sha256(
            f"{stat.st_ino}:{stat.st_mtime_ns}:{settings.profile}:{date.today()}:"
            f"{request.get_full_path()}"
            .encode()).hexdigest()
        hit = cache.get(key)
        if hit is not None:
            response = HttpResponse(hit[0], content_type=hit[1], status=hit[2])
            for header, value in hit[3]:
                response[header] = value
            return response
        response = view(request, *args, **kwargs)
        if response.status_code == 200 and not response.streaming:
            extra = [(h, v) for h, v in response.items() if h == "Content-Disposition"]
            cache.set(key, (response.content, response["Content-Type"], 200, extra), 3600)
        return response  # type: ignore[no-any-return]

    return wrapper


def _unavailable(request: HttpRequest, error: WarehouseMissing) -> HttpResponse:
    return render(
        request, "observatoire/indisponible.html", {"message": error.message, "hint": error.hint},
        status=503,
    )


@cached_by_warehouse
def barometer(request: HttpRequest, fmt: str | None = None) -> HttpResponse:
    """``/``: the SPASER axes and, under each, its indicators against their targets."""
    settings = _settings()
    try:
        report = service.barometer(settings)
        trends = service.series(settings)
    except WarehouseMissing as error:
        return _unavailable(request, error)
    rows = report["indicators"]
    if fmt == "json":
        return json_response({
            "profil": report["profile"],
            "indicateurs": [{**r, "serie": trends.get(r["indicator_id"], [])} for r in rows],
        })
    if fmt == "csv":
        return csv_response(rows, BAROMETER_COLUMNS, "barometre.csv")
    axes: list[dict[str, Any]] = []
    for row in rows:
        if not axes or axes[-1]["id"] != row["axis_id"]:
            axes.append({"id": row["axis_id"], "title": row["axis_title"], "indicators": []})
        trend = trends.get(row["indicator_id"], [])
        axes[-1]["indicators"].append({
            **row, "trend": trend,
            "spark": charts.sparkline([(p["period_year"], p["value"]) for p in trend],
                                      row["unit"]),
        })
    return render(request, "observatoire/barometre.html", {
        "profile": report["profile"], "axes": axes, "kinds": KINDS,
    })


def _int(value: str | None, default: int) -> int:
    try:
        return max(int(value or default), 1)
    except ValueError:
        return default


@cached_by_warehouse
def indicator(request: HttpRequest, indicator_id: str, fmt: str | None = None) -> HttpResponse:
    """``/indicateurs/<id>/``: definition, method, series against the target, breakdowns."""
    settings = _settings()
    page = _int(request.GET.get("page"), 1)
    try:
        detail = service.indicator_detail(
            settings, indicator_id,
            breakdown=request.GET.get("ventilation"),
            period=request.GET.get("periode"),
            basis=request.GET.get("base"),
            limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE,
        )
    except WarehouseMissing as error:
        return _unavailable(request, error)
    if detail is None:
        raise Http404("Indicateur inconnu")
    ind = detail["indicator"]
    if fmt == "json":
        return json_response({
            "indicateur": ind, "axe": detail["axis"], "cibles": detail["targets"],
            "changements_de_cibles": detail["target_changes"],
            "serie": detail["series"], "ventilation": detail["breakdown"],
            "periode": detail["period"], "base": detail["basis"], "page": page,
            "groupes": detail["groups"], "nombre_de_groupes": detail["group_count"],
            "methodes_plusieurs_titulaires": detail["holder_methods"],
        })
    if fmt == "csv":
        return csv_response(
            detail["series"] + detail["groups"], RESULT_COLUMNS, f"{ind['indicator_id']}.csv"
        )
    pages = max(1, -(-detail["group_count"] // PAGE_SIZE))
    carte = None
    if ind["measure"] == "distribution" and ind["expression"] == "supplier_departement":
        rows = [r for r in detail["series"]
                if r["period"] == detail["period"] and r["basis"] == detail["basis"]]
        carte = maps.departements({r["category"]: r["numerator"] for r in rows},
                                  f"{ind['title']} ({detail['period']})",
                                  unit="€ HT" if detail["basis"] == "value" else "marchés")
    elif detail["breakdown"] == "supplier_departement":
        carte = maps.departements({r["breakdown_value"]: r["value"] for r in detail["groups"]},
                                  f"{ind['title']} ({detail['period']})", unit="part")
    headline = [r for r in detail["series"] if r["category"] is None
                and r["basis"] == detail["bases"][0] and r["period_year"] is not None]
    current_target = next((r["target_value"] for r in reversed(headline)
                           if r["target_value"] is not None), None)
    courbe = charts.series([(r["period_year"], r["value"]) for r in headline], ind["unit"],
                           current_target, f"{ind['title']}, par année")
    barres = None
    if detail["groups"] and ind["measure"] != "distribution":
        by_value = sorted(detail["groups"], key=lambda r: (r["value"] is None, -(r["value"] or 0)))
        barres = charts.bars(
            [(r["breakdown_label"] or r["breakdown_value"] or "non renseigné", r["value"])
             for r in by_value],
            ind["unit"], f"{ind['title']} par groupe ({detail['period']}, valeurs les plus "
            "élevées de la page)")
    return render(request, "observatoire/indicateur.html", {
        "carte": carte,
        "courbe": courbe,
        "barres": barres,
        **detail,
        "ind": ind,
        "unit": ind["unit"],
        "unit_label": UNITS.get(ind["unit"], ""),
        "kind_label": KINDS.get(ind["kind"], ""),
        "source_label": SOURCES.get(ind["source"], ""),
        "headline": [r for r in detail["series"] if r["category"] is None],
        "distribution": ind["measure"] == "distribution",
        "page": page,
        "pages": pages,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page < pages else None,
    })


CONTRACT_COLUMNS = [
    "uid", "kind", "notification_date", "buyer_siret", "buyer_name", "object", "cpv",
    "cpv_label", "procedure", "amount", "duration_months", "estimated_end_date", "holder_count",
    "holders", "purchase_domain", "has_social_consideration", "has_environmental_consideration",
    "corrected_fields",
]


@cached_by_warehouse
def contracts(request: HttpRequest, fmt: str | None = None) -> HttpResponse:
    """``/marches/``: the contract explorer; the URL holds every filter, the sort and the page."""
    settings = _settings()
    filters, problems = explorer.ContractFilters.from_query(request.GET.dict())
    sort = request.GET.get("tri") or "date"
    page = _int(request.GET.get("page"), 1)
    size = PAGE_SIZE if fmt is None else explorer.MAX_PAGE_SIZE
    try:
        result = explorer.search(settings, filters, sort=sort, page=page, page_size=size)
        options = explorer.choices(settings)
    except WarehouseMissing as error:
        return _unavailable(request, error)
    if fmt == "json":
        return json_response({
            "filtres": filters.as_query(), "tri": sort, "page": result["page"],
            "pages": result["pages"], "nombre": result["count"],
            "montant_total": result["amount_total"], "marches": result["contracts"],
        })
    if fmt == "csv":
        return csv_response(result["contracts"], CONTRACT_COLUMNS, "marches.csv")
    state = filters.as_query()
    query = "&".join(f"{k}={quote(v)}" for k, v in {**state, "tri": sort}.items())
    return render(request, "observatoire/marches.html", {
        **result, "filters": state, "problems": problems, "sort": sort, "query": query,
        "options": options, "sorts": SORT_LABELS,
    })


SORT_LABELS = {
    "date": "les plus récents", "date_asc": "les plus anciens", "montant": "montant décroissant",
    "montant_asc": "montant croissant", "acheteur": "acheteur",
}


@cached_by_warehouse
def contract(request: HttpRequest, uid: str, fmt: str | None = None) -> HttpResponse:
    """``/marches/<uid>/``: a contract, every version, its holders, provenance and quality."""
    settings = _settings()
    try:
        detail = explorer.contract(settings, uid)
    except WarehouseMissing as error:
        return _unavailable(request, error)
    if detail is None:
        raise Http404("Marché inconnu")
    if fmt == "json":
        return json_response(detail)
    if fmt == "csv":
        return csv_response(detail["versions"], list(detail["versions"][0]) if detail["versions"]
                            else ["uid"], f"marche-{uid}.csv")
    corrected = {FIELDS[r["field"]].raw_column: r for r in detail["corrections"]
                 if r["field"] in FIELDS}
    return render(request, "observatoire/marche.html", {
        **detail, "c": detail["contract"], "corrige": corrected,
        "correcteur": corrector(settings) if corrected else "",
    })


def corrector(settings: Settings) -> str:
    """Who corrects the data, for « valeur corrigée par … »: the organisation of a profile
    limited to its own buyers (« la Région Bretagne »), else its data stewards. Read from the
    profile the warehouse was built with (no parsing of the profile's files per request)."""
    con = open_warehouse(settings)
    try:
        row = con.execute("SELECT organisation, scope FROM indicator_profile").fetchone()
    finally:
        con.close()
    name, scope = row if row else ("", "all_buyers")
    return corrector_phrase(name, scope)


def corrector_phrase(name: str, scope: str) -> str:
    """« la Région Bretagne » for a profile limited to its buyers, else its data stewards."""
    if scope != "profile_buyers" or not name:
        return "les gestionnaires des données"
    return f"la {name}" if name.startswith(("Région ", "Ville ", "Métropole ")) else name


@cached_by_warehouse
def buyer(request: HttpRequest, siret: str, fmt: str | None = None) -> HttpResponse:
    """``/acheteurs/<siret>/``: a buyer's contracts by year, suppliers, categories, procedures."""
    try:
        detail = explorer.buyer(_settings(), siret)
    except WarehouseMissing as error:
        return _unavailable(request, error)
    if detail is None:
        raise Http404("Acheteur inconnu")
    if fmt == "json":
        return json_response(detail)
    if fmt == "csv":
        return csv_response(detail["by_year"], ["year", "contracts", "amount"],
                            f"acheteur-{siret}.csv")
    carte = maps.departements(
        {d["departement"]: d["amount"] for d in detail["supplier_departements"]},
        "Montant des marchés par département du titulaire principal")
    # Communes of the territory the observatory has boundaries for (Bretagne), when the buyer's
    # holders are there.
    counts = {c["commune"]: float(c["contracts"]) for c in detail["supplier_communes"]}
    carte_communes = maps.communes(counts, "Marchés par commune des titulaires (Bretagne)",
                                   unit="marchés")
    return render(request, "observatoire/acheteur.html", {
        **detail, "b": detail["buyer"], "carte": carte,
        "carte_communes": carte_communes if carte_communes["features"] else None,
    })


@cached_by_warehouse
def supplier(request: HttpRequest, key: str, fmt: str | None = None) -> HttpResponse:
    """``/titulaires/<siret or key>/``: a supplier's contracts by year and its buyers."""
    try:
        detail = explorer.supplier(_settings(), key)
    except WarehouseMissing as error:
        return _unavailable(request, error)
    if detail is None:
        raise Http404("Titulaire inconnu")
    if fmt == "json":
        return json_response(detail)
    if fmt == "csv":
        return csv_response(detail["by_year"], ["year", "contracts", "amount"],
                            "titulaire.csv")
    carte = maps.departements(
        {d["departement"]: d["contracts"] for d in detail["places"]},
        "Marchés par département du lieu d'exécution", unit="marchés")
    return render(request, "observatoire/titulaire.html",
                  {**detail, "s": detail["supplier"], "carte": carte})


@cached_by_warehouse
def opportunities(request: HttpRequest, fmt: str | None = None) -> HttpResponse:
    """``/opportunites/``: contracts that end in the coming months, by domain and place."""
    months = min(_int(request.GET.get("mois"), 12), 60)
    domain = request.GET.get("domaine") or None
    departement = request.GET.get("departement") or None
    page = _int(request.GET.get("page"), 1)
    settings = _settings()
    try:
        result = explorer.upcoming(settings, date.today(), months, domain, departement, page,
                                   explorer.MAX_PAGE_SIZE if fmt else PAGE_SIZE)
        options = explorer.choices(settings)
    except WarehouseMissing as error:
        return _unavailable(request, error)
    if fmt == "json":
        return json_response(result)
    if fmt == "csv":
        return csv_response(result["contracts"], [*CONTRACT_COLUMNS, "place_departement_code"],
                            "opportunites.csv")
    if fmt == "atom":
        return _atom(request, result)
    state = {k: v for k, v in (("mois", str(months)), ("domaine", domain),
                               ("departement", departement)) if v}
    return render(request, "observatoire/opportunites.html", {
        **result, "options": options, "domain": domain, "departement": departement,
        "query": "&".join(f"{k}={quote(v)}" for k, v in state.items()),
    })


def _atom(request: HttpRequest, result: dict[str, Any]) -> HttpResponse:
    feed = Atom1Feed(
        title="Observatoire de l'achat public — marchés qui arrivent à échéance",
        link=request.build_absolute_uri("/opportunites/"),
        description="Marchés dont la fin estimée approche : préparez-vous à répondre.",
        language="fr",
    )
    for c in result["contracts"]:
        link = request.build_absolute_uri(f"/marches/{quote(c['uid'], safe='')}/")
        feed.add_item(
            title=f"{c['object'] or c['cpv_label'] or c['uid']} — fin estimée le "
                  f"{c['estimated_end_date']:%d/%m/%Y}",
            link=link,
            unique_id=link,
            description=f"{c['buyer_name'] or c['buyer_siret']} ; "
                        f"{formatting.number(c['amount'])} € HT ; {c['procedure'] or ''}",
        )
    response = HttpResponse(content_type="application/atom+xml; charset=utf-8")
    feed.write(response, "utf-8")
    return response


@cached_by_warehouse
def quality(request: HttpRequest, fmt: str | None = None) -> HttpResponse:
    """``/qualite/``: completeness and findings per source, rule and buyer, in public."""
    try:
        report = reports.quality(_settings(), limit=50)
    except WarehouseMissing as error:
        return _unavailable(request, error)
    if fmt == "json":
        return json_response(report)
    if fmt == "csv":
        return csv_response(report["by_rule"], ["rule_id", "severity", "field", "title",
                                                "findings", "records"], "qualite.csv")
    records = {r["status"]: r["records"] for r in report["records"]}
    return render(request, "observatoire/qualite.html", {
        **report, "counts": records, "total": sum(records.values()),
    })


def data(request: HttpRequest) -> HttpResponse:
    """``/donnees/``: every published dataset in four formats, with its data dictionary."""
    return render(request, "observatoire/donnees.html", {
        "datasets": [
            {"dataset": d, "columns": list(d.columns.items())} for d in datasets.DATASETS.values()
        ],
        "formats": list(datasets.FORMATS),
    })


def data_json(request: HttpRequest) -> HttpResponse:
    return json_response([
        {"id": d.id, "titre": d.title, "description": d.description,
         "colonnes": d.columns,
         "telechargements": {f: f"/donnees/{d.id}.{f}" for f in datasets.FORMATS}}
        for d in datasets.DATASETS.values()
    ])


def download(request: HttpRequest, dataset_id: str, fmt: str) -> HttpResponseBase:
    if dataset_id not in datasets.DATASETS:
        raise Http404("Jeu de données inconnu")
    try:
        path = datasets.export(_settings(), dataset_id, fmt)
    except WarehouseMissing as error:
        return _unavailable(request, error)
    except ObservatoireError as error:
        return render(request, "observatoire/indisponible.html",
                      {"message": error.message, "hint": error.hint}, status=413)
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name,
                        content_type=datasets.FORMATS[fmt])


PARTS = {"numerator": "comptés au numérateur", "known": "dont la donnée est connue",
         "population": "de la population"}


@cached_by_warehouse
def indicator_records(
    request: HttpRequest, indicator_id: str, fmt: str | None = None
) -> HttpResponse:
    """``/indicateurs/<id>/marches/``: the contracts (or records) behind a figure."""
    page = _int(request.GET.get("page"), 1)
    part = request.GET.get("partie") or "numerator"
    part = part if part in PARTS else "numerator"
    size = explorer.MAX_PAGE_SIZE if fmt else PAGE_SIZE
    try:
        result = service.records_behind(
            _settings(), indicator_id, request.GET.get("periode") or "toutes", part,
            request.GET.get("ventilation") or None,
            request.GET.get("groupe") if "groupe" in request.GET else None,
            limit=size, offset=(page - 1) * size,
        )
    except WarehouseMissing as error:
        return _unavailable(request, error)
    if result is None:
        raise Http404("Indicateur inconnu ou non calculé")
    if fmt == "json":
        return json_response(result)
    if fmt == "csv":
        columns = list(result["rows"][0]) if result["rows"] else ["uid"]
        return csv_response(result["rows"], columns, f"{indicator_id}-marches.csv")
    pages = max(1, -(-result["total"] // size))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "observatoire/indicateur_marches.html", {
        **result, "parts": PARTS, "page": page, "pages": pages, "query": query.urlencode(),
    })
