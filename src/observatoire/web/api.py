"""The REST API (``/api/v1/…``) and its OpenAPI description, built from the same code.

Every endpoint is read-only, paginated and bounded, and reads the same service layer as the
pages. The OpenAPI document lists each endpoint's parameters and the columns of what it returns,
with their meaning taken from the data dictionary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import date
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render

from observatoire import __version__, details, explorer, reports, search, spending
from observatoire.config import Settings
from observatoire.exports import json_response
from observatoire.indicators import service
from observatoire.indicators.compute import ALL_PERIODS
from observatoire.web import api_schemas as schemas
from observatoire.web.assets import STATIC
from observatoire.web.formats import BadParameter, endpoint, integer, read_only

DEFAULT_SIZE = 50

_FILTER_DOCS = {
    "annee": ("integer", "Année de notification."),
    "acheteur": ("string", "SIRET de l'acheteur (14 chiffres), ou mots de son nom (accents et "
                 "majuscules indifférents) : les marchés de tous les acheteurs trouvés."),
    "titulaire": ("string", "SIRET, SIREN ou identifiant d'un titulaire, ou mots de son nom."),
    "domaine": ("string", "Domaine d'achat du profil (identifiant)."),
    "cpv": ("string", "Code CPV ou début de code (1 à 8 chiffres)."),
    "procedure": ("string", "Procédure de passation (libellé exact)."),
    "montant_min": ("number", "Montant minimal (€ HT, après modifications)."),
    "montant_max": ("number", "Montant maximal (€ HT, après modifications)."),
    "clause_sociale": ("string", "« oui » ou « non » : au moins une considération sociale."),
    "clause_environnementale": ("string", "« oui » ou « non » : au moins une considération "
                                "environnementale."),
    "categorie": ("string", "Catégorie d'entreprise d'un titulaire : PME, ETI ou GE."),
    "departement": ("string", "Département de l'établissement d'un titulaire."),
    "texte": ("string", "Mots cherchés dans l'objet, le nom de l'acheteur, ceux des titulaires "
              "et le libellé CPV (tous les mots ; accents et majuscules indifférents)."),
    "lieu_region": ("string", "Région (code COG, ex. « 53 ») du lieu retenu du marché : le lieu "
                    "d'exécution, sinon l'établissement du titulaire, sinon celui de "
                    "l'acheteur (voir lieu_base)."),
    "lieu_departement": ("string", "Département (code COG, ex. « 35 », « 2A ») du lieu retenu."),
    "lieu_commune": ("string", "Commune (code COG, ex. « 35238 ») du lieu retenu."),
    "acheteur_departement": ("string", "Département (code COG) de l'acheteur : celui de son "
                             "établissement dans SIRENE, sinon celui publié avec ses marchés."),
    "lieu_base": ("string", "D'où vient le lieu retenu : execution (lieu d'exécution), "
                  "titulaire (établissement du titulaire), acheteur (établissement de "
                  "l'acheteur) ou inconnu."),
}


_PAYMENT_FILTER_DOCS = {
    "acheteur": ("string", "SIRET de l'acheteur (14 chiffres), ou mots de son nom : les "
                 "paiements de tous les acheteurs trouvés."),
    "fournisseur": ("string", "SIRET du fournisseur, ou mots de son nom publié (les noms "
                    "masqués ne se cherchent pas)."),
    "exercice": ("integer", "Exercice budgétaire."),
    "type": ("string", "Type de paiement : " + ", ".join(spending.KINDS) + "."),
    "marche": ("string", "« oui » : rattachées à un marché ; « non » : hors marché ; ou "
               "l'identifiant d'un marché."),
    "montant_min": ("number", "Montant minimal de la ligne (€ HT)."),
    "montant_max": ("number", "Montant maximal de la ligne (€ HT)."),
    "source": ("string", "Source : " + ", ".join(spending.SOURCES) + "."),
    "texte": ("string", "Mots cherchés dans l'objet de la pièce."),
}

_NAME_QUERY = ("Mots du nom (tous ; accents et majuscules indifférents : « ecole » trouve "
               "« École »)")


def _page(request: HttpRequest) -> tuple[int, int]:
    return (integer(request, "page", 1),
            integer(request, "taille", DEFAULT_SIZE, high=explorer.MAX_PAGE_SIZE))


def _envelope(items: list[Any], total: int, page: int, size: int) -> dict[str, Any]:
    return {"page": page, "taille": size, "pages": max(1, -(-total // size)), "total": total,
            "elements": items}


# --- one vocabulary: the answers the API and the pages' .json twins share ---------------------
# A list is always {page, taille, pages, total, elements}, an amount total « montant_total »,
# the filters read « filtres », those that did not read « filtres_ignores », the sort « tri ».


#: What a list of buyers or suppliers found by name adds to the envelope.
NAMES_EXTRA = "recherche:s tri:s"


def names_answer(result: dict[str, Any], size: int) -> dict[str, Any]:
    """A page of buyers or suppliers found by name (``observatoire.search``)."""
    return {**_envelope(result["rows"], result["count"], result["page"], size),
            "recherche": result["text"], "tri": result["sort"]}


def contracts_answer(result: dict[str, Any], filters: explorer.ContractFilters,
                     problems: list[str], sort: str, size: int,
                     counts: dict[str, dict[str, int]]) -> dict[str, Any]:
    """A page of the contract explorer (``explorer.search``), with « effectifs »: for each
    facet, the contracts each value would give, the other filters kept."""
    return {**_envelope(result["contracts"], result["count"], result["page"], size),
            "montant_total": result["amount_total"], "filtres": filters.as_query(),
            "filtres_ignores": problems, "tri": sort, "effectifs": counts}


def opportunities_answer(result: dict[str, Any], size: int, filters: explorer.ContractFilters,
                         problems: list[str]) -> dict[str, Any]:
    """A page of the contracts ending soon (``explorer.upcoming``), with its filters."""
    return {**_envelope(result["contracts"], result["count"], result["page"], size),
            "montant_total": result["amount_total"], "mois": result["months"],
            "jusqu_au": result["until"], "filtres": filters.as_query(),
            "filtres_ignores": problems}


def payments_answer(result: dict[str, Any], filters: spending.PaymentFilters,
                    problems: list[str], sort: str, size: int) -> dict[str, Any]:
    """A page of the payments explorer (``spending.search``): « montant_total » is the net
    paid (annulations deducted) of the whole selection, « effectifs » its lines per type and
    source, « chargees » the payment lines loaded at all (0: no payment data), and with a
    buyer filter « acheteur_charge » whether any payment of that buyer is loaded (false: its
    spending is unknown, and « montant_total » is null, never 0)."""
    unknown = result["buyer_loaded"] is False or not result["loaded"]
    return {**_envelope(result["payments"], result["count"], result["page"], size),
            "montant_total": None if unknown else result["net_total"],
            "acheteur_charge": result["buyer_loaded"],
            "montant_hors_marche": None if unknown else result["outside_contracts_total"],
            "rattachees": result["linked"], "chargees": result["loaded"],
            "filtres": filters.as_query(), "filtres_ignores": problems, "tri": sort,
            "effectifs": {"type": result["by_kind"], "source": result["by_source"]}}


def upcoming_filters(request: HttpRequest) -> tuple[explorer.ContractFilters, list[str]]:
    """The opportunities' filters: the explorer's, except that « departement » keeps the
    meaning it had there before the place filters (the place, not a holder's), so that the
    feeds people follow keep giving the same contracts."""
    query = request.GET.dict()
    if query.get("departement") and not query.get("lieu_departement"):
        query["lieu_departement"] = query.pop("departement")
    return explorer.ContractFilters.from_query(query)


def evidence_answer(result: dict[str, Any], page: int, size: int) -> dict[str, Any]:
    """A page of the records behind an indicator's figure (``service.records_behind``)."""
    return {**_envelope(result["rows"], result["total"], page, size),
            "indicateur": result["indicator"], "titre": result["title"],
            "periode": result["period"], "partie": result["part"],
            "ventilation": result["breakdown"], "groupe": result["breakdown_value"],
            "grain": result["grain"]}


def _perimeter(name: str, value: str) -> tuple[tuple[str, str] | None, str | None]:
    """One perimeter of the query → ``(breakdown, value)`` of the stored results, or the
    French reason it cannot be used."""
    if name == service.TERRITORY:
        found = service.territory_breakdown(value)
        if found is None:
            return None, (f"{name} : « {value} » n'est pas un territoire : écrivez "
                          "« departement-35 » (un département) ou « region-53 » (une région).")
        return found, None
    breakdown = service.PERIMETERS[name]
    if breakdown == "buyer" and not (value.isdigit() and len(value) == 14):
        return None, (f"{name} : « {value} » n'est pas un SIRET (14 chiffres) ; "
                      "choisissez un acheteur parmi les suggestions.")
    return (breakdown, value), None


def barometer_selection(settings: Settings, query: Mapping[str, str]) -> dict[str, Any]:
    """The barometer for the year and the perimeter a query asks for (``annee``, and one of
    ``acheteur``, ``mandataire``, ``domaine``, ``direction``, ``territoire``): the answer of
    ``/index.json`` and of ``/api/v1/barometre``. A value that cannot be used is said in
    « filtres_ignores » and the barometer falls back to the reference year or the whole
    scope."""
    problems: list[str] = []
    years = service.barometer_years(settings)
    year: int | None = None
    raw_year = (query.get("annee") or "").strip()
    if raw_year:
        if raw_year.isdigit() and int(raw_year) in years:
            year = int(raw_year)
        else:
            problems.append(f"annee : « {raw_year} » n'est pas une année calculée ("
                            + ", ".join(map(str, years)) + ") ; la période de référence "
                            "est affichée.")
    perimeter: tuple[str, str] | None = None
    chosen: dict[str, str] = {}
    for name in (*service.PERIMETERS, service.TERRITORY):
        value = (query.get(name) or "").strip()
        if not value:
            continue
        found, problem = _perimeter(name, value)
        if problem is not None:
            problems.append(problem)
        elif perimeter is not None:
            problems.append(f"{name} : un seul périmètre à la fois ; « "
                            f"{next(iter(chosen))} » est appliqué.")
        else:
            perimeter, chosen = found, {name: value}
    report = service.barometer(settings, year, perimeter)
    if report["perimeter"] is not None and not report["perimeter"]["has_results"]:
        name, value = next(iter(chosen.items()))
        problems.append(f"{name} : aucun résultat d'indicateur pour « {value} » (inconnu ou "
                        "hors du périmètre du profil) ; le baromètre de l'ensemble est affiché.")
        report, chosen = service.barometer(settings, year, None), {}
    trends = service.series(settings, perimeter if chosen else None)
    filters = {**({"annee": str(year)} if year is not None else {}), **chosen}
    p = report["perimeter"]
    return {
        "profil": report["profile"], "annee": report["year"], "annees": years,
        "perimetre": None if p is None else {
            "type": next(iter(chosen)), "ventilation": p["breakdown"], "valeur": p["value"],
            "libelle": p["label"], "nature": p["kind"]},
        "synthese": report["summary"],
        "indicateurs": [{**r, "serie": trends.get(r["indicator_id"], [])}
                        for r in report["indicators"]],
        "filtres": filters, "filtres_ignores": problems,
    }


@endpoint
def barometer(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    """The SPASER barometer for a year and a perimeter (``/`` and ``/index.json``)."""
    return barometer_selection(settings, request.GET.dict())


@endpoint
def contracts(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    filters, problems = explorer.ContractFilters.from_query(request.GET.dict())
    page, size = _page(request)
    sort = request.GET.get("tri") or "date"
    r = explorer.search(settings, filters, sort=sort, page=page, page_size=size, facets=True)
    counts = {**explorer.facet_counts(settings, filters, r["facets"]),
              **explorer.places(settings, filters)["counts"]}
    return contracts_answer(r, filters, problems, sort, size, counts)


def contract_answer(settings: Settings, uid: str) -> dict[str, Any] | None:
    """A contract (``details.contract``) with its payments (``spending.contract_payments``,
    « paiements »): the answer of ``/marches/<uid>.json`` and ``/api/v1/marches/<uid>``."""
    detail = details.contract(settings, uid)
    if detail is None:
        return None
    return {**detail, "paiements": spending.contract_payments(settings, uid)}


@endpoint
def contract(request: HttpRequest, settings: Settings, uid: str) -> dict[str, Any] | None:
    return contract_answer(settings, uid)


@endpoint
def buyers(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    page, size = _page(request)
    r = explorer.buyers(settings, request.GET.get("q"), page, size, request.GET.get("tri"))
    return names_answer(r, size)


def buyer_answer(settings: Settings, siret: str, year: str | None = None
                 ) -> dict[str, Any] | None:
    """A buyer (``details.buyer``) with its own SPASER scorecard: every indicator read for
    its perimeter at the barometer's year (or ``year`` when the results have it), and its
    payments (``spending.buyer_payments``, « paiements »)."""
    detail = details.buyer(settings, siret)
    if detail is None:
        return None
    detail["paiements"] = spending.buyer_payments(settings, siret)
    perimeter = (service.PERIMETERS["acheteur"], siret)
    asked = int(year) if year and year.isdigit() and len(year) == 4 else None
    report = service.barometer(settings, asked, perimeter, latest_if_empty=True)
    years = report["perimeter"]["years"]
    if asked is not None and asked not in years:  # a year without its results: the default
        report = service.barometer(settings, None, perimeter, latest_if_empty=True)
    reference = int(report["profile"]["reference_year"])
    detail["spaser"] = {"annee": report["year"], "annees": years,
                        "annee_de_reference": reference,
                        "calcule": report["perimeter"]["has_results"],
                        "population_minimale": report["profile"]["min_population"],
                        "synthese": report["summary"], "indicateurs": report["indicators"]}
    return detail


@endpoint
def buyer(request: HttpRequest, settings: Settings, siret: str) -> dict[str, Any] | None:
    return buyer_answer(settings, siret, request.GET.get("annee"))


@endpoint
def suppliers(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    page, size = _page(request)
    r = explorer.suppliers(settings, request.GET.get("q"), page, size, request.GET.get("tri"))
    return names_answer(r, size)


@endpoint
def supplier(request: HttpRequest, settings: Settings, key: str) -> dict[str, Any] | None:
    return details.supplier(settings, key)


@endpoint
def indicators(request: HttpRequest, settings: Settings) -> list[dict[str, Any]]:
    return service.barometer(settings)["indicators"]  # type: ignore[no-any-return]


@endpoint
def indicator(request: HttpRequest, settings: Settings,
              indicator_id: str) -> dict[str, Any] | None:
    return service.indicator_detail(settings, indicator_id)


@endpoint
def results(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    page, size = _page(request)
    rows = service.results(
        settings, indicator=request.GET.get("indicateur"), period=request.GET.get("periode"),
        breakdown=request.GET.get("ventilation") or "total", limit=size + 1,
        offset=(page - 1) * size)
    # the total is not counted (results are many): say whether a next page exists
    return {"page": page, "taille": size, "page_suivante": len(rows) > size,
            "elements": rows[:size]}


@endpoint
def indicator_records(request: HttpRequest, settings: Settings,
                      indicator_id: str) -> dict[str, Any] | None:
    """The records behind an indicator's figure: its evidence (``/indicateurs/<id>/marches/``)."""
    page, size = _page(request)
    part = request.GET.get("partie") or "numerator"
    if part not in RECORD_PARTS:
        raise BadParameter(f"Partie inconnue : « {part} ».",
                           hint="Choisissez " + ", ".join(RECORD_PARTS) + ".")
    r = service.records_behind(
        settings, indicator_id, request.GET.get("periode") or ALL_PERIODS, part,
        request.GET.get("ventilation") or None,
        request.GET.get("groupe") if "groupe" in request.GET else None,
        limit=size, offset=(page - 1) * size)
    return None if r is None else evidence_answer(r, page, size)


#: The parts of an indicator's figure whose records can be listed.
RECORD_PARTS = ("numerator", "known", "population")


@endpoint
def opportunities(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    """Contracts whose estimated end falls in the coming months (``/opportunites/``)."""
    page, size = _page(request)
    filters, problems = upcoming_filters(request)
    r = explorer.upcoming(settings, date.today(), integer(request, "mois", 12, high=60),
                          filters, page, size)
    return opportunities_answer(r, size, filters, problems)


@endpoint
def payments(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    """Payment lines filtered, sorted and paginated (``/depenses/``)."""
    filters, problems = spending.PaymentFilters.from_query(request.GET.dict())
    page, size = _page(request)
    sort = request.GET.get("tri") or "date"
    sort = sort if sort in spending.SORTS else "date"
    r = spending.search(settings, filters, sort, page, size)
    return payments_answer(r, filters, problems, sort, size)


@endpoint
def contract_payments(request: HttpRequest, settings: Settings,
                      uid: str) -> dict[str, Any] | None:
    """A contract's payments against what was awarded (``/marches/<uid>/``)."""
    return spending.contract_payments(settings, uid)


@endpoint
def buyer_payments(request: HttpRequest, settings: Settings,
                   siret: str) -> dict[str, Any] | None:
    """A buyer's payment delays per half-year and spending by supplier."""
    return spending.buyer_payments(settings, siret)


@endpoint
def quality(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    """Records kept and set aside, findings by rule, file and buyer (``/qualite/``)."""
    return reports.quality(settings, limit=50)


# --- the OpenAPI description ----------------------------------------------------------------


def _param(name: str, kind: str, description: str, where: str = "query",
           example: Any = None) -> dict[str, Any]:
    param = {"name": name, "in": where, "required": where == "path",
             "description": description, "schema": {"type": kind}}
    if example is not None:  # the interactive page fills it in
        param["example"] = example
    return param


_PAGING = [_param("page", "integer", "Page (à partir de 1)."),
           _param("taille", "integer", f"Éléments par page (au plus {explorer.MAX_PAGE_SIZE}).",
                  example=10)]


#: The one shape of every error of the API (``formats.error_response``).
ERROR_SCHEMA = {
    "type": "object",
    "required": ["statut", "erreur", "que_faire"],
    "properties": {
        "statut": {"type": "integer", "description": "Code HTTP de la réponse."},
        "erreur": {"type": "string", "description": "Ce qui ne va pas, en français."},
        "que_faire": {"type": "string", "description": "Ce qu'il faut faire."},
    },
}
_ERRORS = {
    "400": "Paramètre inutilisable.",
    "404": "Élément inconnu.",
    "405": "Méthode autre que GET ou HEAD.",
    "503": "Entrepôt pas encore construit ou indisponible.",
}


def _get(summary: str, params: list[dict[str, Any]], schema: dict[str, Any]) -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Erreur"}}}
    return {"get": {
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": {"description": "Réponse JSON.",
                    "content": {"application/json": {"schema": schema}}},
            **{code: {"description": text, "content": error} for code, text in _ERRORS.items()},
        },
    }}


def openapi_document() -> dict[str, Any]:
    filters = [_param(f.name, *_FILTER_DOCS[f.name], example=2024 if f.name == "annee" else None)
               for f in fields(explorer.ContractFilters)]
    sort = _param("tri", "string", "Tri : " + ", ".join(explorer.SORTS) + ".", example="montant")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Observatoire de l'achat public — API",
            "version": __version__,
            "description": "Données essentielles des marchés publics vérifiées, acheteurs, "
            "titulaires et indicateurs du SPASER. Lecture seule ; montants en euros HT.",
        },
        "components": {"schemas": {"Erreur": ERROR_SCHEMA, **schemas.COMPONENTS}},
        "paths": {
            "/api/v1/marches": _get(
                "Marchés filtrés, triés et paginés", [*filters, sort, *_PAGING],
                schemas.page_of(schemas.ref("Marche"),
                                "montant_total:n filtres_ignores:l tri:s effectifs:o",
                                filtres=schemas.row("", optional=" ".join(
                                    f"{f.name}:s" for f in fields(explorer.ContractFilters))))),
            "/api/v1/marches/{uid}": _get(
                "Un marché : versions, titulaires, sous-traitance, provenance, constats",
                [_param("uid", "string", "Identifiant national du marché.", "path")],
                schemas.ref("MarcheDetail")),
            "/api/v1/acheteurs": _get(
                "Acheteurs, du plus gros montant au plus petit (les plus pertinents d'abord "
                "avec q)",
                [_param("q", "string", _NAME_QUERY + " ou début de SIRET."),
                 _param("tri", "string", "Tri : " + ", ".join(
                     [search.RELEVANCE, *search.BUYER_SORTS]) + "."), *_PAGING],
                schemas.page_of(schemas.ref("Acheteur"), NAMES_EXTRA)),
            "/api/v1/acheteurs/{siret}": _get(
                "Un acheteur, avec son tableau de bord du SPASER (« spaser »)",
                [_param("siret", "string", "SIRET de l'acheteur.", "path"),
                 _param("annee", "integer", "Année du tableau de bord (par défaut, la période "
                        "de référence du baromètre).")],
                schemas.ref("AcheteurDetail")),
            "/api/v1/titulaires": _get(
                "Titulaires, du plus grand nombre de marchés au plus petit (les plus "
                "pertinents d'abord avec q)",
                [_param("q", "string", _NAME_QUERY + " ou début de SIRET ou SIREN."),
                 _param("tri", "string", "Tri : " + ", ".join(
                     [search.RELEVANCE, *search.SUPPLIER_SORTS]) + "."), *_PAGING],
                schemas.page_of(schemas.ref("Titulaire"), NAMES_EXTRA)),
            "/api/v1/suggestions": _get(
                "Suggestions de noms pendant la saisie : les premiers acheteurs ou titulaires "
                "trouvés, les plus pertinents d'abord",
                [_param("type", "string", "« acheteur » (par défaut) ou « titulaire »."),
                 _param("q", "string", _NAME_QUERY + " ou début d'identifiant."),
                 _param("nombre", "integer", "Suggestions au plus (8 par défaut, 20 au plus).")],
                schemas.row("recherche:s", suggestions=schemas.array(schemas.row(
                    "type:s identifiant:s nom:s nom_publie:s marches:i commune:s url:s")))),
            "/api/v1/titulaires/{id}": _get(
                "Un titulaire", [_param("id", "string", "SIRET ou identifiant.", "path")],
                schemas.ref("TitulaireDetail")),
            "/api/v1/barometre": _get(
                "Le baromètre du SPASER pour une année et un périmètre : synthèse des "
                "objectifs et chaque indicateur (la même réponse que /index.json)",
                [_param("annee", "integer", "Année (par défaut, la période de référence).",
                        example=2024),
                 _param("acheteur", "string", "SIRET d'un acheteur : ses propres valeurs."),
                 _param("mandataire", "string", "Nom d'un mandataire (ou acheteur) du profil."),
                 _param("domaine", "string", "Domaine d'achat du profil (identifiant)."),
                 _param("direction", "string", "Direction du profil (identifiant, ex. "
                        "« lycees ») : les marchés que le profil lui attribue."),
                 _param("territoire", "string", "Territoire de l'acheteur : « departement-35 »"
                        " ou « region-53 ». " + service.TERRITORY_MEANING[:1].upper()
                        + service.TERRITORY_MEANING[1:] + ".",
                        example="region-53")],
                schemas.ref("Barometre")),
            "/api/v1/indicateurs": _get(
                "Indicateurs du SPASER avec leur dernière valeur, cible et état", [],
                schemas.array(schemas.ref("IndicateurEtat"))),
            "/api/v1/indicateurs/{id}": _get(
                "Un indicateur : définition, cibles, valeurs par année",
                [_param("id", "string", "Identifiant de l'indicateur.", "path", "marches-pme")],
                schemas.ref("IndicateurDetail")),
            "/api/v1/resultats": _get(
                "Résultats détaillés (indicateur × période × ventilation × base)",
                [_param("indicateur", "string", "Identifiant de l'indicateur."),
                 _param("periode", "string", "Année ou « toutes »."),
                 _param("ventilation", "string", "total (par défaut), buyer, mandate…"),
                 *_PAGING],
                schemas.row("page:i taille:i page_suivante:b",
                            elements=schemas.array(schemas.ref("Resultat")))),
            "/api/v1/indicateurs/{id}/marches": _get(
                "Les marchés (ou enregistrements) derrière la valeur d'un indicateur",
                [_param("id", "string", "Identifiant de l'indicateur.", "path", "marches-pme"),
                 _param("periode", "string", "Année ou « toutes » (par défaut).", example="2024"),
                 _param("partie", "string", "numerator (comptés au numérateur, par défaut), "
                        "known (donnée connue) ou population."),
                 _param("ventilation", "string", "Ventilation du groupe (buyer, mandate…)."),
                 _param("groupe", "string", "Valeur du groupe dans cette ventilation."),
                 *_PAGING],
                schemas.page_of(
                    {**schemas.row("", "contracts", optional="uid:s notification_date:d "
                                   "buyer_siret:s buyer_name:s object:s cpv_label:s amount:n"),
                     "description": "Un marché ; selon le grain de l'indicateur, un "
                     "enregistrement, une ligne d'achat ou une cantine (autres colonnes)."},
                    "indicateur:s titre:s periode:s partie:s ventilation:s groupe:s grain:s")),
            "/api/v1/opportunites": _get(
                "Marchés dont la fin estimée tombe dans les mois qui viennent",
                [_param("mois", "integer", "Horizon en mois (1 à 60, 12 par défaut)."),
                 *[f for f in filters if f["name"] != "departement"],
                 _param("departement", "string", "Ancien nom de lieu_departement (département "
                        "du lieu retenu), gardé pour les flux déjà suivis."),
                 *_PAGING],
                schemas.page_of(schemas.ref("Marche"),
                                "montant_total:n mois:i jusqu_au:d filtres_ignores:l",
                                filtres=schemas.row("", optional=" ".join(
                                    f"{f.name}:s" for f in fields(explorer.ContractFilters))))),
            "/api/v1/depenses": _get(
                "Lignes de paiement (dépenses) filtrées, triées et paginées ; noms des "
                "personnes physiques et des fournisseurs non diffusibles masqués",
                [*[_param(f.name, *_PAYMENT_FILTER_DOCS[f.name])
                   for f in fields(spending.PaymentFilters)],
                 _param("tri", "string", "Tri : " + ", ".join(spending.SORTS) + ".",
                        example="montant"), *_PAGING],
                schemas.page_of(schemas.ref("Depense"),
                                "montant_total:n acheteur_charge:b montant_hors_marche:n "
                                "rattachees:i chargees:i filtres_ignores:l tri:s effectifs:o",
                                filtres=schemas.row("", optional=" ".join(
                                    f"{f.name}:s"
                                    for f in fields(spending.PaymentFilters))))),
            "/api/v1/marches/{uid}/paiements": _get(
                "Les paiements d'un marché : payé à ce jour face au montant attribué, par "
                "exercice et par type, sources et rattachement ; « loaded » faux : aucune "
                "donnée de paiement chargée pour son acheteur",
                [_param("uid", "string", "Identifiant national du marché.", "path")],
                schemas.ref("DepensesMarche")),
            "/api/v1/acheteurs/{siret}/paiements": _get(
                "Les délais de paiement d'un acheteur par semestre (échantillon minimal du "
                "profil) et ses dépenses par fournisseur, sous 40 k€ et hors marché compris",
                [_param("siret", "string", "SIRET de l'acheteur.", "path")],
                schemas.ref("DepensesAcheteur")),
            "/api/v1/qualite": _get(
                "Qualité des données : enregistrements gardés et écartés, constats par règle, "
                "par fichier et par acheteur", [],
                schemas.ref("Qualite")),
        },
    }


@read_only
def openapi(request: HttpRequest) -> HttpResponseBase:
    return json_response(openapi_document())


@read_only
def documentation(request: HttpRequest) -> HttpResponseBase:
    document = openapi_document()
    endpoints = [
        {"path": path, "summary": spec["get"]["summary"], "parameters": spec["get"]["parameters"]}
        for path, spec in document["paths"].items()
    ]
    return render(request, "observatoire/api.html", {
        "endpoints": endpoints, "info": document["info"], "examples": EXAMPLES,
        "interactive_api": (STATIC / "vendor" / "swagger-ui-bundle.js").is_file()})


#: Example queries shown on ``/api/`` (links that work without JavaScript).
EXAMPLES = [
    {"url": "/api/v1/marches?annee=2024&tri=montant&taille=10",
     "text": "les dix plus gros marchés notifiés en 2024"},
    {"url": "/api/v1/marches?cpv=45&clause_environnementale=oui",
     "text": "les marchés de travaux (CPV 45) avec une considération environnementale"},
    {"url": "/api/v1/titulaires?taille=10",
     "text": "les dix titulaires qui ont le plus de marchés"},
    {"url": "/api/v1/barometre?annee=2024",
     "text": "le baromètre de 2024 : combien d'objectifs sont atteints, et chaque indicateur"},
    {"url": "/api/v1/indicateurs/marches-pme",
     "text": "la part des marchés attribués à des PME, année par année, et sa cible"},
    {"url": "/api/v1/indicateurs/marches-pme/marches?periode=2024",
     "text": "les marchés de 2024 comptés dans cette part (les preuves de l'indicateur)"},
    {"url": "/api/v1/marches?lieu_region=53&lieu_base=execution",
     "text": "les marchés exécutés en Bretagne (lieu d'exécution connu), et dans « effectifs » "
     "leurs nombres par département, région et base du lieu"},
    {"url": "/api/v1/opportunites?mois=6",
     "text": "les marchés dont la fin estimée tombe dans les six prochains mois"},
    {"url": "/api/v1/opportunites?mois=12&lieu_departement=35&cpv=45",
     "text": "les marchés de travaux en Ille-et-Vilaine qui se terminent dans l'année, avec "
     "leurs titulaires actuels"},
    {"url": "/api/v1/depenses?marche=non",
     "text": "les paiements rattachés à aucun marché (dépenses hors marché)"},
    {"url": "/api/v1/qualite", "text": "la qualité des données publiées"},
]
