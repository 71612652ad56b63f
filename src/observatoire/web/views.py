"""Public pages. Each view asks the service layer once and renders the page or its twin."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from urllib.parse import quote

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.feedgenerator import Atom1Feed

from observatoire import charts, datasets, details, explorer, formatting, public_columns, reports
from observatoire.config import Settings
from observatoire.datasets import printable
from observatoire.errors import ObservatoireError
from observatoire.exports import json_response, stream_csv, stream_json, stream_xlsx
from observatoire.indicators import service
from observatoire.indicators.compute import BASIS_LABELS
from observatoire.indicators.grains import BREAKDOWN_LABELS, GRAIN_LABELS, GRAINS
from observatoire.indicators.profile import KINDS, SOURCES, UNITS
from observatoire.publication import decp
from observatoire.stewardship.fields import FIELDS
from observatoire.warehouse import open_warehouse
from observatoire.web import api, maps, sorting
from observatoire.web.formats import (
    BadParameter,
    Output,
    Table,
    conditional,
    integer,
    page,
    read_only,
    validators,
)
from observatoire.web.formats import current_settings as _settings

PAGE_SIZE = 50

BAROMETER_COLUMNS = [
    "indicator_id", "code", "title", "axis_title", "kind", "regulatory", "unit", "available",
    "period", "basis", "value", "numerator", "denominator", "record_count", "known_count",
    "coverage", "undated_count", "unknown_low", "unknown_high", "provisional",
    "target_value", "target_comparator", "target_date", "status", "summary_status",
]
RESULT_COLUMNS = [
    "indicator_id", "version", "code", "period", "breakdown", "breakdown_value",
    "breakdown_label", "category", "category_label", "basis", "numerator", "denominator",
    "value", "record_count", "known_count", "coverage", "undated_count", "unknown_low",
    "unknown_high", "small_sample", "provisional", "target_value", "target_comparator",
    "target_date", "target_source", "status",
]


@page
def barometer(request: HttpRequest, fmt: str | None = None) -> Output:
    """``/``: the summary of the scheme, then the SPASER axes and, under each, its indicators
    against their targets, for the year and the perimeter the URL chooses."""
    settings = _settings()
    answer = api.barometer_selection(settings, request.GET.dict())
    rows = answer["indicateurs"]

    def context() -> dict[str, Any]:
        axes: list[dict[str, Any]] = []
        for row in rows:
            if not axes or axes[-1]["id"] != row["axis_id"]:
                axes.append({"id": row["axis_id"], "title": row["axis_title"],
                             "indicators": []})
            trend = row["serie"]
            axes[-1]["indicators"].append({
                **row, "trend": trend,
                "spark": charts.sparkline([(p["period_year"], p["value"]) for p in trend],
                                          row["unit"]),
            })
        filters = answer["filtres"]
        query = "&".join(f"{k}={quote(v)}" for k, v in filters.items())
        levels = service.TERRITORY_LEVELS
        choices = service.perimeter_values(
            settings, *(service.PERIMETERS[k] for k in ("mandataire", "domaine", "direction")),
            *levels.values())
        # the territories as the URL writes them, régions first, by code
        territories = [
            {"level": level, "value": service.territory_value(breakdown, c["value"]),
             "label": f"{c['label'] or c['value']} ({c['value']})"}
            for level, breakdown in reversed(levels.items())
            for c in sorted(choices[breakdown], key=lambda c: str(c["value"]))]
        return {"profile": answer["profil"], "axes": axes, "kinds": KINDS,
                "summary": answer["synthese"], "year": answer["annee"],
                "years": answer["annees"], "perimeter": answer["perimetre"],
                "filters": filters, "problems": answer["filtres_ignores"],
                "query": query, "perimeter_labels": service.PERIMETER_LABELS,
                "mandates": choices[service.PERIMETERS["mandataire"]],
                "domains": choices[service.PERIMETERS["domaine"]],
                "directorates": choices[service.PERIMETERS["direction"]],
                "regions": [t for t in territories if t["level"] == "region"],
                "departements": [t for t in territories if t["level"] == "departement"],
                "territory_meaning": service.TERRITORY_MEANING}

    return Output(
        "observatoire/barometre.html", context, data=answer,
        table=Table(rows, BAROMETER_COLUMNS, "barometre"),
    )


@page
def indicator(request: HttpRequest, indicator_id: str, fmt: str | None = None) -> Output:
    """``/indicateurs/<id>/``: definition, method, series against the target, breakdowns."""
    settings = _settings()
    page_number = integer(request, "page", 1)
    detail = service.indicator_detail(
        settings, indicator_id,
        breakdown=request.GET.get("ventilation"),
        period=request.GET.get("periode"),
        basis=request.GET.get("base"),
        limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE,
        group=request.GET.get("groupe") or None,
    )
    if detail is None:
        raise Http404("Indicateur inconnu")
    ind = detail["indicator"]
    return Output(
        "observatoire/indicateur.html", lambda: _indicator_context(detail, page_number),
        data={
            "indicateur": ind, "axe": detail["axis"], "cibles": detail["targets"],
            "changements_de_cibles": detail["target_changes"],
            "serie": detail["series"], "ventilation": detail["breakdown"],
            "periode": detail["period"], "base": detail["basis"], "page": page_number,
            "groupes": detail["groups"], "nombre_de_groupes": detail["group_count"],
            "groupe": detail["group"], "lignes_du_groupe": detail["group_rows"],
            "methodes_plusieurs_titulaires": detail["holder_methods"],
        },
        table=Table(detail["series"] + detail["groups"], RESULT_COLUMNS, ind["indicator_id"]),
    )


def _indicator_context(detail: dict[str, Any], page_number: int) -> dict[str, Any]:
    ind = detail["indicator"]
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
            [(r["breakdown_label"] or r["breakdown_value"] or "non renseigné", r["value"],
              r["known_count"]) for r in by_value],
            ind["unit"], f"{ind['title']} par groupe ({detail['period']}, valeurs les plus "
            "élevées de la page)")
    repartition = None
    if ind["measure"] == "distribution":
        repartition = _distribution_chart(detail)
    return {
        "carte": carte,
        "courbe": courbe,
        "barres": barres,
        "repartition": repartition,
        "grain_label": GRAIN_LABELS.get(ind["grain"], ""),
        "grain_table": GRAINS[ind["grain"]].table if ind["grain"] in GRAINS else "",
        **detail,
        "ind": ind,
        "unit": ind["unit"],
        "unit_label": UNITS.get(ind["unit"], ""),
        "kind_label": KINDS.get(ind["kind"], ""),
        "source_label": SOURCES.get(ind["source"], ""),
        "headline": [r for r in detail["series"] if r["category"] is None],
        # a category column also for the categories a step computes (B04's bands, B05's kinds)
        "distribution": ind["measure"] == "distribution"
        or any(r["category"] is not None for r in detail["series"]),
        "page": page_number,
        "pages": pages,
        "previous_page": page_number - 1 if page_number > 1 else None,
        "next_page": page_number + 1 if page_number < pages else None,
    }


def _distribution_chart(detail: dict[str, Any]) -> dict[str, Any] | None:
    """The categories of a distribution (A08 procedures, E05 départements…) at the page's
    period and basis, largest first; each bar's n is its number of records (the count basis
    of the same category, when the indicator has it)."""
    rows = [r for r in detail["series"] if r["period"] == detail["period"]
            and r["basis"] == detail["basis"] and r["category"] is not None]
    counts = {r["category"]: r["numerator"] for r in detail["series"]
              if r["period"] == detail["period"] and r["basis"] == "count"
              and r["category"] is not None}
    rows.sort(key=lambda r: (r["value"] is None, -(r["value"] or 0), r["category"]))
    ind = detail["indicator"]
    chart = charts.bars(
        [(r["category_label"] or r["category"], r["value"],
          int(counts[r["category"]]) if counts.get(r["category"]) is not None else None)
         for r in rows],
        ind["unit"], f"{ind['title']} ({detail['period']}, en "
        f"{BASIS_LABELS.get(detail['basis'], detail['basis'])}, les 15 premières catégories)",
        n_label="le nombre d'enregistrements de chaque catégorie")
    if chart is not None:
        chart["id"] = "repartition-titre"
    return chart


CONTRACT_COLUMNS = [
    "uid", "kind", "notification_date", "buyer_siret", "buyer_name", "object", "cpv",
    "cpv_label", "procedure", "amount", "duration_months", "estimated_end_date", "holder_count",
    "holders", "purchase_domain", "has_social_consideration", "has_environmental_consideration",
    "corrected_fields", "location_commune_code", "location_departement_code",
    "location_region_code", "location_basis",
]


@page
def contracts(request: HttpRequest, fmt: str | None = None) -> Output:
    """``/marches/``: the contract explorer; the URL holds every filter, the sort and the page."""
    settings = _settings()
    filters, problems = explorer.ContractFilters.from_query(request.GET.dict())
    sort = request.GET.get("tri") or "date"
    page_number = integer(request, "page", 1)
    size = PAGE_SIZE if fmt is None else explorer.MAX_PAGE_SIZE
    with_facets = fmt not in ("csv", "xlsx")
    result = explorer.search(settings, filters, sort=sort, page=page_number, page_size=size,
                             facets=with_facets)
    counts = explorer.facet_counts(settings, filters, result["facets"]) if with_facets else {}
    located = explorer.places(settings, filters) if with_facets else None
    if located:
        counts = {**counts, **located["counts"]}

    def context() -> dict[str, Any]:
        state = filters.as_query()
        query = "&".join(f"{k}={quote(v)}" for k, v in {**state, "tri": sort}.items())
        return {**result, "filters": state, "problems": problems, "sort": sort,
                "query": query, "sorts": SORT_LABELS,
                "options": {**explorer.with_counts(explorer.choices(settings), counts),
                            **(explorer.place_options(located, filters) if located else {}),
                            "acheteur_departement": explorer.buyer_departements(settings)},
                "headers": sorting.headers(sorting.CONTRACT_HEADERS, sort, state),
                "query_hors_lieu": "&".join(
                    f"{k}={quote(v)}" for k, v in {**state, "tri": sort}.items()
                    if k not in explorer.PLACE_FILTERS),
                **_place_context(located, filters)}

    return Output(
        "observatoire/marches.html", context,
        data=api.contracts_answer(result, filters, problems, sort, size, counts),
        table=Table(result["contracts"], CONTRACT_COLUMNS, "marches"),
    )


#: How a basis of the best known place reads in the coverage sentence.
COVERAGE = {"execution": "par le lieu d'exécution", "titulaire": "par l'établissement du "
            "titulaire", "acheteur": "par celui de l'acheteur"}


def _place_context(located: dict[str, Any] | None,
                   filters: explorer.ContractFilters) -> dict[str, Any]:
    """The map of a selection's contracts by département of their best known place, and its
    coverage (how many are placed, on what basis), the place filters left out."""
    if located is None:
        return {}
    place_filtered = any(getattr(filters, n) for n in explorer.PLACE_FILTERS)
    label = ("Marchés par département du lieu retenu"
             + (", filtres de lieu non appliqués" if place_filtered else ""))
    bases = located["counts"]["lieu_base"]
    return {
        "lieux": located, "place_filtered": place_filtered,
        "carte": maps.departements(
            {k: float(v) for k, v in located["counts"]["lieu_departement"].items()}, label,
            unit="marchés"),
        "couverture": [(phrase, bases.get(url, 0)) for url, phrase in COVERAGE.items()],
        "sans_lieu": bases.get("inconnu", 0),
        "par_departement": sorted(
            ((code, located["names"]["lieu_departement"].get(code), n)
             for code, n in located["counts"]["lieu_departement"].items()),
            key=lambda r: (-r[2], r[0])),
    }


#: The separators of a selection's CSV: the comma, or « ; » for French spreadsheet software.
SEPARATORS = {"virgule": ",", "point-virgule": ";"}


@read_only
def selection(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """``/marches/selection.<csv|xlsx|json>``: every contract of the explorer's selection (its
    filters and sort), streamed from the warehouse; CSV and XLSX headed in French."""
    settings = _settings()
    filters, _ = explorer.ContractFilters.from_query(request.GET.dict())
    sort = request.GET.get("tri") or "date"
    count = explorer.selection_count(settings, filters)  # also: no warehouse → 503 now
    return stream_rows(request, settings, fmt, count,
                   lambda: explorer.selection(settings, filters, sort),
                   explorer.SELECTION_COLUMNS, "marches-selection", filters.as_query(), sort)


@read_only
def upcoming_selection(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """``/opportunites/selection.<csv|xlsx|json>``: every contract ending in the chosen months
    (not the first page of them), streamed like the explorer's selection."""
    settings = _settings()
    months = integer(request, "mois", 12, high=60)
    filters, _ = api.upcoming_filters(request)
    today = date.today()
    count = explorer.upcoming_count(settings, today, months, filters)
    return stream_rows(request, settings, fmt, count,
                   lambda: explorer.upcoming_rows(settings, today, months, filters),
                   explorer.UPCOMING_COLUMNS, "opportunites", today, months,
                   filters.as_query())


def stream_rows(request: HttpRequest, settings: Settings, fmt: str, count: int,
                rows: Callable[[], Iterator[tuple[Any, ...]]], columns: list[str], name: str,
                *state: object, headers: list[str] | None = None, title: str = "Marchés",
                noun: str = "marchés") -> HttpResponseBase:
    """A list downloaded whole (contracts unless ``headers`` say otherwise): CSV (« ; » with
    ``separateur=point-virgule``) and XLSX headed in French, JSON keyed by identifiers;
    validators from the build and ``state`` (what chose the rows)."""
    if fmt == "xlsx" and count > datasets.XLSX_MAX_ROWS:
        raise BadParameter(f"La sélection compte {count} {noun}, plus qu'un tableur n'en "
                           "contient.", hint="Téléchargez-la en CSV ou en JSON, ou "
                           "resserrez les filtres.")
    separator = SEPARATORS.get(request.GET.get("separateur") or "virgule", ",")
    heads = headers if headers is not None else [public_columns.header("contracts", c)
                                                 for c in columns]

    def answer() -> HttpResponseBase:
        if fmt == "csv":
            response: HttpResponseBase = stream_csv(rows(), heads, f"{name}.csv", separator)
        elif fmt == "json":
            response = stream_json(rows(), columns, f"{name}.json")
        else:
            response = stream_xlsx(rows(), heads, title, f"{name}.xlsx")
        response["X-Nombre-De-Lignes"] = str(count)
        return response

    etag, modified = validators(settings, name, fmt, separator, *state)
    return conditional(request, etag, modified, answer)


SORT_LABELS = {
    "date": "les plus récents", "date_asc": "les plus anciens", "montant": "montant décroissant",
    "montant_asc": "montant croissant", "acheteur": "acheteur",
}


@page
def contract(request: HttpRequest, uid: str, fmt: str | None = None) -> Output:
    """``/marches/<uid>/``: a contract, every version, its holders, provenance and quality."""
    settings = _settings()
    detail = api.contract_answer(settings, uid)
    if detail is None:
        raise Http404("Marché inconnu")

    def context() -> dict[str, Any]:
        corrected = {FIELDS[r["field"]].raw_column: r for r in detail["corrections"]
                     if r["field"] in FIELDS}
        return {**detail, "c": detail["contract"], "corrige": corrected,
                "correcteur": corrector(settings) if corrected else ""}

    versions = detail["versions"]
    return Output("observatoire/marche.html", context, data=detail,
                  table=Table(versions, list(versions[0]) if versions else ["uid"],
                              f"marche-{uid}"))


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


@page
def buyer(request: HttpRequest, siret: str, fmt: str | None = None) -> Output:
    """``/acheteurs/<siret>/``: a buyer's contracts by year, suppliers, categories, procedures."""
    settings = _settings()
    detail = api.buyer_answer(settings, siret, request.GET.get("annee"))
    if detail is None:
        raise Http404("Acheteur inconnu")

    def context() -> dict[str, Any]:
        carte = maps.departements(
            {d["departement"]: d["amount"] for d in detail["supplier_departements"]},
            "Montant des marchés par département du titulaire principal")
        # Communes of the territory the observatory has boundaries for (Bretagne), when the
        # buyer's holders are there.
        counts = {c["commune"]: float(c["contracts"]) for c in detail["supplier_communes"]}
        carte_communes = maps.communes(counts, "Marchés par commune des titulaires (Bretagne)",
                                       unit="marchés")
        return {**detail, "b": detail["buyer"], "carte": carte,
                "carte_communes": carte_communes if carte_communes["features"] else None}

    return Output("observatoire/acheteur.html", context, data=detail,
                  table=Table(detail["by_year"], ["year", "contracts", "amount"],
                              f"acheteur-{siret}"))


DECP_TYPES = {"json": "application/json", "xml": "application/xml"}


@read_only
def buyer_decp(request: HttpRequest, siret: str, fmt: str) -> HttpResponseBase:
    """``/acheteurs/<siret>/decp.json|xml``: the DECP 2024 file the buyer must publish (the
    service of ``observatoire publier-decp``): its marchés with every mandatory field, checked
    against the official schema; the number of the others is in ``X-Marches-Non-Publiables``."""
    settings = _settings()
    if not decp.published_buyer(settings, siret):  # opening the warehouse: 503 without one
        raise Http404("Acheteur inconnu")
    etag, modified = validators(settings, "decp", siret, fmt)

    def answer() -> HttpResponseBase:
        publication = decp.buyer_publication(settings, siret)
        try:
            data = decp.render(publication, fmt)
        except ObservatoireError as error:
            raise Http404(error.message) from None
        response = HttpResponse(data, content_type=f"{DECP_TYPES[fmt]}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="decp-{siret}.{fmt}"'
        response["X-Marches-Non-Publiables"] = str(len(publication.set_aside))
        return response

    return conditional(request, etag, modified, answer)


@page
def supplier(request: HttpRequest, key: str, fmt: str | None = None) -> Output:
    """``/titulaires/<siret or key>/``: a supplier's contracts by year and its buyers."""
    detail = details.supplier(_settings(), key)
    if detail is None:
        raise Http404("Titulaire inconnu")

    def context() -> dict[str, Any]:
        carte = maps.departements(
            {d["departement"]: d["contracts"] for d in detail["places"]},
            "Marchés par département du lieu d'exécution", unit="marchés")
        return {**detail, "s": detail["supplier"], "carte": carte}

    return Output("observatoire/titulaire.html", context, data=detail,
                  table=Table(detail["by_year"], ["year", "contracts", "amount"],
                              "titulaire"))


@page
def opportunities(request: HttpRequest, fmt: str | None = None) -> Output:
    """``/opportunites/``: contracts that end in the coming months, filtered as in the explorer
    (buyer, place, CPV, words, amount…), with their current holders; each filter set has its
    Atom feed (``/opportunites.atom?<the same filters>``)."""
    months = integer(request, "mois", 12, high=60)
    filters, problems = api.upcoming_filters(request)
    page_number = integer(request, "page", 1)
    settings = _settings()
    size = explorer.MAX_PAGE_SIZE if fmt else PAGE_SIZE
    today = date.today()
    result = explorer.upcoming(settings, today, months, filters, page_number, size)
    state = {"mois": str(months), **filters.as_query()}
    query = "&".join(f"{k}={quote(v)}" for k, v in state.items())

    def context() -> dict[str, Any]:
        located = explorer.places(settings, filters, (today, months))
        return {**result, "filters": filters.as_query(), "problems": problems, "query": query,
                "options": {**explorer.choices(settings),
                            **explorer.place_options(located, filters),
                            "acheteur_departement": explorer.buyer_departements(settings)},
                "lieux": located, "bases": explorer.LOCATION_LABELS}

    return Output("observatoire/opportunites.html", context,
                  data=api.opportunities_answer(result, size, filters, problems),
                  table=Table(result["contracts"],
                              [*CONTRACT_COLUMNS, "place_departement_code"], "opportunites"),
                  feed=lambda: _atom(request, result, query))


def _atom(request: HttpRequest, result: dict[str, Any], query: str) -> Atom1Feed:
    """The coming ends of one filter set as an Atom feed (its page and its own address
    carry the filters); text goes through ``printable``: XML 1.0 cannot hold some characters
    real records carry (a BEL in an object, a NUL in an id)."""
    feed = Atom1Feed(
        title="Observatoire de l'achat public — marchés qui arrivent à échéance",
        link=request.build_absolute_uri(f"/opportunites/?{query}"),
        feed_url=request.build_absolute_uri(f"/opportunites.atom?{query}"),
        description="Marchés dont la fin estimée approche : préparez-vous à répondre.",
        language="fr",
    )
    for c in result["contracts"]:
        link = request.build_absolute_uri(f"/marches/{quote(c['uid'], safe='')}/")
        holders = ", ".join(c["holders"]) or "titulaire non publié"
        feed.add_item(
            title=printable(f"{c['object'] or c['cpv_label'] or c['uid']} — fin estimée le "
                            f"{c['estimated_end_date']:%d/%m/%Y}"),
            link=link,
            unique_id=link,
            description=printable(f"{c['buyer_name'] or c['buyer_siret']} ; "
                                  f"{formatting.number(c['amount'])} € HT ; "
                                  f"{c['procedure'] or ''} ; titulaire(s) actuel(s) : "
                                  f"{holders}"),
        )
    return feed


@page
def quality(request: HttpRequest, fmt: str | None = None) -> Output:
    """``/qualite/``: completeness and findings per source, rule and buyer, in public."""
    report = reports.quality(_settings(), limit=50)

    def context() -> dict[str, Any]:
        records = {r["status"]: r["records"] for r in report["records"]}
        return {**report, "counts": records, "total": sum(records.values())}

    return Output("observatoire/qualite.html", context, data=report,
                  table=Table(report["by_rule"], ["rule_id", "severity", "field", "title",
                                                  "findings", "records"], "qualite"))


@read_only
def data(request: HttpRequest) -> HttpResponseBase:
    """``/donnees/``: every published dataset in four formats, with its size, its row count
    and its data dictionary in French."""
    return render(request, "observatoire/donnees.html", {
        "datasets": [
            {**item,
             "downloads": [_download(item["dataset"].id, fmt, f)
                           for fmt, f in item["files"].items()],
             "columns": [(*public_columns.french(item["dataset"].table, c), c)
                         for c in item["dataset"].columns]}
            for item in datasets.catalogue(_settings())
        ],
    })


def _download(dataset_id: str, fmt: str, file: dict[str, Any]) -> dict[str, Any]:
    """A download link's text: its format and size (« en préparation » before the file is
    written, « trop de lignes pour un tableur » past a spreadsheet's limit)."""
    if file["too_large"]:
        note = "trop de lignes pour un tableur : prenez le CSV ou le Parquet"
    elif file["size"] is None:
        note = "en préparation"
    else:
        size = float(file["size"])
        unit = next(u for u, limit in (("o", 1e3), ("Ko", 1e6), ("Mo", 1e9), ("Go", 1e99))
                    if size < limit or u == "Go")
        scaled = size / {"o": 1, "Ko": 1e3, "Mo": 1e6, "Go": 1e9}[unit]
        note = f"{formatting.number(scaled, 0 if unit == 'o' else 1)} {unit}"
    return {"format": fmt.upper(), "url": None if file["too_large"] else
            f"/donnees/{dataset_id}.{fmt}", "note": note}


@read_only
def data_json(request: HttpRequest) -> HttpResponseBase:
    return json_response([
        {"id": d.id, "titre": d.title, "description": d.description, "lignes": item["rows"],
         "colonnes": {c: {"en_tete": public_columns.french(d.table, c)[0],
                          "sens": public_columns.french(d.table, c)[1]} for c in d.columns},
         "telechargements": {f: {"adresse": f"/donnees/{d.id}.{f}",
                                 "octets": item["files"][f]["size"]}
                             for f in item["files"] if not item["files"][f]["too_large"]},
         "disponible": item["available"]}
        for item in datasets.catalogue(_settings()) for d in [item["dataset"]]
    ])


@read_only
def download(request: HttpRequest, dataset_id: str, fmt: str) -> HttpResponseBase:
    """``/donnees/<id>.<format>``: a published dataset's file of the build in service, with
    its ``ETag`` and ``Last-Modified`` (304 when the reader has it already)."""
    if dataset_id not in datasets.DATASETS:
        raise Http404("Jeu de données inconnu")
    try:
        path = datasets.export(_settings(), dataset_id, fmt)
    except datasets.TooManyRows as error:
        return render(request, "observatoire/indisponible.html",
                      {"message": error.message, "hint": error.hint}, status=413)
    except datasets.NotAvailable as error:
        return render(request, "observatoire/indisponible.html",
                      {"message": error.message, "hint": error.hint}, status=404)
    stat = path.stat()
    etag = f'"{path.parent.name}-{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    return conditional(request, etag, stat.st_mtime, lambda: FileResponse(
        path.open("rb"), as_attachment=True, filename=path.name,
        content_type=datasets.FORMATS[fmt]))


PARTS = {"numerator": "comptés au numérateur", "known": "dont la donnée est connue",
         "population": "de la population"}


@page
def indicator_records(request: HttpRequest, indicator_id: str, fmt: str | None = None) -> Output:
    """``/indicateurs/<id>/marches/``: the contracts (or records) behind a figure."""
    page_number = integer(request, "page", 1)
    part = request.GET.get("partie") or "numerator"
    part = part if part in PARTS else "numerator"
    size = explorer.MAX_PAGE_SIZE if fmt else PAGE_SIZE
    result = service.records_behind(
        _settings(), indicator_id, request.GET.get("periode") or "toutes", part,
        request.GET.get("ventilation") or None,
        request.GET.get("groupe") if "groupe" in request.GET else None,
        limit=size, offset=(page_number - 1) * size,
    )
    if result is None:
        raise Http404("Indicateur inconnu ou non calculé")

    def context() -> dict[str, Any]:
        pages = max(1, -(-result["total"] // size))
        query = request.GET.copy()
        query.pop("page", None)
        return {**result, "parts": PARTS, "page": page_number, "pages": pages,
                "query": query.urlencode(),
                "breakdown_label": BREAKDOWN_LABELS.get(result["breakdown"] or "")}

    columns = list(result["rows"][0]) if result["rows"] else ["uid"]
    return Output("observatoire/indicateur_marches.html", context,
                  data=api.evidence_answer(result, page_number, size),
                  table=Table(result["rows"], columns, f"{indicator_id}-marches"))
