"""The REST API (``/api/v1/…``) and its OpenAPI description, built from the same code.

Every endpoint is read-only, paginated and bounded, and reads the same service layer as the
pages. The OpenAPI document lists each endpoint's parameters and the columns of what it returns,
with their meaning taken from the data dictionary.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from observatoire import __version__, explorer, search
from observatoire.config import Settings
from observatoire.errors import WarehouseMissing
from observatoire.indicators import service
from observatoire.model.dictionary import TABLES
from observatoire.web.exports import json_response

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
}


_NAME_QUERY = ("Mots du nom (tous ; accents et majuscules indifférents : « ecole » trouve "
               "« École »)")


def _page(request: HttpRequest) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        try:
            return max(1, int(request.GET.get(name) or default))
        except ValueError:
            return default

    return number("page", 1), min(number("taille", DEFAULT_SIZE), explorer.MAX_PAGE_SIZE)


def _envelope(items: list[Any], total: int, page: int, size: int) -> dict[str, Any]:
    return {"page": page, "taille": size, "pages": max(1, -(-total // size)), "total": total,
            "elements": items}


def _call(request: HttpRequest, build: Any) -> HttpResponse:
    try:
        data = build(Settings.from_env())
    except WarehouseMissing as error:
        return json_response({"erreur": error.message, "que_faire": error.hint}, status=503)
    if data is None:
        raise Http404("Élément inconnu")
    return json_response(data)


def contracts(request: HttpRequest) -> HttpResponse:
    filters, problems = explorer.ContractFilters.from_query(request.GET.dict())
    page, size = _page(request)

    def build(settings: Settings) -> dict[str, Any]:
        r = explorer.search(settings, filters, sort=request.GET.get("tri") or "date",
                            page=page, page_size=size)
        return {**_envelope(r["contracts"], r["count"], page, size),
                "montant_total": r["amount_total"], "filtres_ignores": problems}

    return _call(request, build)


def contract(request: HttpRequest, uid: str) -> HttpResponse:
    return _call(request, lambda s: explorer.contract(s, uid))


def buyers(request: HttpRequest) -> HttpResponse:
    page, size = _page(request)

    def build(settings: Settings) -> dict[str, Any]:
        r = explorer.buyers(settings, request.GET.get("q"), page, size, request.GET.get("tri"))
        return _envelope(r["rows"], r["count"], page, size)

    return _call(request, build)


def buyer(request: HttpRequest, siret: str) -> HttpResponse:
    return _call(request, lambda s: explorer.buyer(s, siret))


def suppliers(request: HttpRequest) -> HttpResponse:
    page, size = _page(request)

    def build(settings: Settings) -> dict[str, Any]:
        r = explorer.suppliers(settings, request.GET.get("q"), page, size,
                               request.GET.get("tri"))
        return _envelope(r["rows"], r["count"], page, size)

    return _call(request, build)


def supplier(request: HttpRequest, key: str) -> HttpResponse:
    return _call(request, lambda s: explorer.supplier(s, key))


def indicators(request: HttpRequest) -> HttpResponse:
    return _call(request, lambda s: service.barometer(s)["indicators"])


def indicator(request: HttpRequest, indicator_id: str) -> HttpResponse:
    return _call(request, lambda s: service.indicator_detail(s, indicator_id))


def results(request: HttpRequest) -> HttpResponse:
    page, size = _page(request)

    def build(settings: Settings) -> dict[str, Any]:
        rows = service.results(
            settings, indicator=request.GET.get("indicateur"), period=request.GET.get("periode"),
            breakdown=request.GET.get("ventilation") or "total", limit=size + 1,
            offset=(page - 1) * size)
        # the total is not counted (results are many): say whether a next page exists
        return {"page": page, "taille": size, "page_suivante": len(rows) > size,
                "elements": rows[:size]}

    return _call(request, build)


# --- the OpenAPI description ----------------------------------------------------------------


def _columns(table: str, names: list[str] | None = None) -> dict[str, Any]:
    described = TABLES[table][1]
    return {
        "type": "object",
        "properties": {n: {"description": described.get(n, "")}
                       for n in (names or list(described))},
    }


def _list_of(item: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["page", "taille", "elements"],
        "properties": {
            "page": {"type": "integer"}, "taille": {"type": "integer"},
            "pages": {"type": "integer"}, "total": {"type": "integer"},
            "elements": {"type": "array", "items": item}, **(extra or {}),
        },
    }


def _param(name: str, kind: str, description: str, where: str = "query") -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path",
            "description": description, "schema": {"type": kind}}


_PAGING = [_param("page", "integer", "Page (à partir de 1)."),
           _param("taille", "integer", f"Éléments par page (au plus {explorer.MAX_PAGE_SIZE}).")]


def _get(summary: str, params: list[dict[str, Any]], schema: dict[str, Any]) -> dict[str, Any]:
    return {"get": {
        "summary": summary,
        "parameters": params,
        "responses": {
            "200": {"description": "Réponse JSON.",
                    "content": {"application/json": {"schema": schema}}},
            "404": {"description": "Élément inconnu."},
        },
    }}


def openapi_document() -> dict[str, Any]:
    contract_item = _columns("contracts", [
        "uid", "kind", "notification_date", "notification_year", "buyer_siret", "object", "cpv",
        "cpv_label", "procedure", "amount", "duration_months", "estimated_end_date",
        "holder_count", "has_social_consideration", "has_environmental_consideration"])
    filters = [_param(f.name, *_FILTER_DOCS[f.name]) for f in fields(explorer.ContractFilters)]
    sort = _param("tri", "string", "Tri : " + ", ".join(explorer.SORTS) + ".")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Observatoire de l'achat public — API",
            "version": __version__,
            "description": "Données essentielles des marchés publics vérifiées, acheteurs, "
            "titulaires et indicateurs du SPASER. Lecture seule ; montants en euros HT.",
        },
        "paths": {
            "/api/v1/marches": _get(
                "Marchés filtrés, triés et paginés", [*filters, sort, *_PAGING],
                _list_of(contract_item, {"montant_total": {"type": "number"}})),
            "/api/v1/marches/{uid}": _get(
                "Un marché : versions, titulaires, sous-traitance, provenance, constats",
                [_param("uid", "string", "Identifiant national du marché.", "path")],
                {"type": "object", "required": ["contract", "versions", "holders"],
                 "properties": {"contract": _columns("contracts"),
                                "versions": {"type": "array",
                                             "items": _columns("contract_versions")},
                                "holders": {"type": "array",
                                            "items": _columns("contract_holders")}}}),
            "/api/v1/acheteurs": _get(
                "Acheteurs, du plus gros montant au plus petit (les plus pertinents d'abord "
                "avec q)",
                [_param("q", "string", _NAME_QUERY + " ou début de SIRET."),
                 _param("tri", "string", "Tri : " + ", ".join(
                     [search.RELEVANCE, *search.BUYER_SORTS]) + "."), *_PAGING],
                _list_of(_columns("buyers"))),
            "/api/v1/acheteurs/{siret}": _get(
                "Un acheteur", [_param("siret", "string", "SIRET de l'acheteur.", "path")],
                {"type": "object", "required": ["buyer", "by_year"],
                 "properties": {"buyer": _columns("buyers")}}),
            "/api/v1/titulaires": _get(
                "Titulaires, du plus grand nombre de marchés au plus petit (les plus "
                "pertinents d'abord avec q)",
                [_param("q", "string", _NAME_QUERY + " ou début de SIRET ou SIREN."),
                 _param("tri", "string", "Tri : " + ", ".join(
                     [search.RELEVANCE, *search.SUPPLIER_SORTS]) + "."), *_PAGING],
                _list_of(_columns("suppliers"))),
            "/api/v1/suggestions": _get(
                "Suggestions de noms pendant la saisie : les premiers acheteurs ou titulaires "
                "trouvés, les plus pertinents d'abord",
                [_param("type", "string", "« acheteur » (par défaut) ou « titulaire »."),
                 _param("q", "string", _NAME_QUERY + " ou début d'identifiant."),
                 _param("nombre", "integer", "Suggestions au plus (8 par défaut, 20 au plus).")],
                {"type": "object", "required": ["suggestions"], "properties": {
                    "recherche": {"type": "string"},
                    "suggestions": {"type": "array", "items": {
                        "type": "object", "properties": {
                            "type": {"description": "acheteur ou titulaire."},
                            "identifiant": {"description": "SIRET (ou identifiant publié)."},
                            "nom": {"description": "Nom affiché (officiel si le nom publié "
                                    "est illisible ; vide si non diffusible)."},
                            "nom_publie": {"description": "Nom tel que publié."},
                            "marches": {"description": "Nombre de marchés."},
                            "commune": {"description": "Commune de l'établissement "
                                        "(titulaires)."},
                            "url": {"description": "Page de l'acheteur ou du titulaire."},
                        }}}}}),
            "/api/v1/titulaires/{id}": _get(
                "Un titulaire", [_param("id", "string", "SIRET ou identifiant.", "path")],
                {"type": "object", "required": ["supplier", "by_year"],
                 "properties": {"supplier": _columns("suppliers")}}),
            "/api/v1/indicateurs": _get(
                "Indicateurs du SPASER avec leur dernière valeur, cible et état", [],
                {"type": "array", "items": _columns("indicators", [
                    "indicator_id", "code", "title", "unit", "available"])}),
            "/api/v1/indicateurs/{id}": _get(
                "Un indicateur : définition, cibles, valeurs par année",
                [_param("id", "string", "Identifiant de l'indicateur.", "path")],
                {"type": "object", "required": ["indicator", "series", "targets"],
                 "properties": {"indicator": _columns("indicators")}}),
            "/api/v1/resultats": _get(
                "Résultats détaillés (indicateur × période × ventilation × base)",
                [_param("indicateur", "string", "Identifiant de l'indicateur."),
                 _param("periode", "string", "Année ou « toutes »."),
                 _param("ventilation", "string", "total (par défaut), buyer, mandate…"),
                 *_PAGING],
                {"type": "object", "required": ["page", "elements"],
                 "properties": {"page": {"type": "integer"},
                                "page_suivante": {"type": "boolean"},
                                "elements": {"type": "array",
                                             "items": _columns("indicator_results")}}}),
        },
    }


def openapi(request: HttpRequest) -> HttpResponse:
    return json_response(openapi_document())


def documentation(request: HttpRequest) -> HttpResponse:
    document = openapi_document()
    endpoints = [
        {"path": path, "summary": spec["get"]["summary"], "parameters": spec["get"]["parameters"]}
        for path, spec in document["paths"].items()
    ]
    return render(request, "observatoire/api.html", {"endpoints": endpoints,
                                                      "info": document["info"]})
