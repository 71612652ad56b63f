"""The REST API (``/api/v1/…``) and its OpenAPI description, built from the same code.

Every endpoint is read-only, paginated and bounded, and reads the same service layer as the
pages. The OpenAPI document lists each endpoint's parameters and the columns of what it returns,
with their meaning taken from the data dictionary.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render

from observatoire import __version__, explorer, reports
from observatoire.config import Settings
from observatoire.indicators import service
from observatoire.indicators.compute import ALL_PERIODS
from observatoire.model.dictionary import TABLES
from observatoire.web.exports import json_response
from observatoire.web.formats import BadParameter, endpoint, integer, read_only

DEFAULT_SIZE = 50

_FILTER_DOCS = {
    "annee": ("integer", "Année de notification."),
    "acheteur": ("string", "SIRET de l'acheteur (14 chiffres)."),
    "titulaire": ("string", "SIRET, SIREN ou identifiant d'un titulaire."),
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
    "texte": ("string", "Mots de l'objet du marché."),
}


def _page(request: HttpRequest) -> tuple[int, int]:
    return (integer(request, "page", 1),
            integer(request, "taille", DEFAULT_SIZE, high=explorer.MAX_PAGE_SIZE))


def _envelope(items: list[Any], total: int, page: int, size: int) -> dict[str, Any]:
    return {"page": page, "taille": size, "pages": max(1, -(-total // size)), "total": total,
            "elements": items}


@endpoint
def contracts(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    filters, problems = explorer.ContractFilters.from_query(request.GET.dict())
    page, size = _page(request)
    r = explorer.search(settings, filters, sort=request.GET.get("tri") or "date",
                        page=page, page_size=size)
    return {**_envelope(r["contracts"], r["count"], page, size),
            "montant_total": r["amount_total"], "filtres_ignores": problems}


@endpoint
def contract(request: HttpRequest, settings: Settings, uid: str) -> dict[str, Any] | None:
    return explorer.contract(settings, uid)


@endpoint
def buyers(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    page, size = _page(request)
    r = explorer.buyers(settings, request.GET.get("q"), page, size)
    return _envelope(r["rows"], r["count"], page, size)


@endpoint
def buyer(request: HttpRequest, settings: Settings, siret: str) -> dict[str, Any] | None:
    return explorer.buyer(settings, siret)


@endpoint
def suppliers(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    page, size = _page(request)
    r = explorer.suppliers(settings, request.GET.get("q"), page, size)
    return _envelope(r["rows"], r["count"], page, size)


@endpoint
def supplier(request: HttpRequest, settings: Settings, key: str) -> dict[str, Any] | None:
    return explorer.supplier(settings, key)


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
    if r is None:
        return None
    return {**_envelope(r["rows"], r["total"], page, size), "indicateur": r["indicator"],
            "titre": r["title"], "periode": r["period"], "partie": r["part"],
            "ventilation": r["breakdown"], "groupe": r["breakdown_value"], "grain": r["grain"]}


#: The parts of an indicator's figure whose records can be listed.
RECORD_PARTS = ("numerator", "known", "population")


@endpoint
def opportunities(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    """Contracts whose estimated end falls in the coming months (``/opportunites/``)."""
    page, size = _page(request)
    r = explorer.upcoming(settings, date.today(), integer(request, "mois", 12, high=60),
                          request.GET.get("domaine") or None,
                          request.GET.get("departement") or None, page, size)
    return {**_envelope(r["contracts"], r["count"], page, size),
            "montant_total": r["amount_total"], "mois": r["months"], "jusqu_au": r["until"]}


@endpoint
def quality(request: HttpRequest, settings: Settings) -> dict[str, Any]:
    """Records kept and set aside, findings by rule, file and buyer (``/qualite/``)."""
    return reports.quality(settings, limit=50)


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
        "components": {"schemas": {"Erreur": ERROR_SCHEMA}},
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
                "Acheteurs, du plus gros montant au plus petit",
                [_param("q", "string", "Nom ou début de SIRET."), *_PAGING],
                _list_of(_columns("buyers"))),
            "/api/v1/acheteurs/{siret}": _get(
                "Un acheteur", [_param("siret", "string", "SIRET de l'acheteur.", "path")],
                {"type": "object", "required": ["buyer", "by_year"],
                 "properties": {"buyer": _columns("buyers")}}),
            "/api/v1/titulaires": _get(
                "Titulaires, du plus grand nombre de marchés au plus petit",
                [_param("q", "string", "Nom ou début d'identifiant."), *_PAGING],
                _list_of(_columns("suppliers"))),
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
            "/api/v1/indicateurs/{id}/marches": _get(
                "Les marchés (ou enregistrements) derrière la valeur d'un indicateur",
                [_param("id", "string", "Identifiant de l'indicateur.", "path"),
                 _param("periode", "string", "Année ou « toutes » (par défaut)."),
                 _param("partie", "string", "numerator (comptés au numérateur, par défaut), "
                        "known (donnée connue) ou population."),
                 _param("ventilation", "string", "Ventilation du groupe (buyer, mandate…)."),
                 _param("groupe", "string", "Valeur du groupe dans cette ventilation."),
                 *_PAGING],
                _list_of({"type": "object"}, {
                    "indicateur": {"type": "string"}, "titre": {"type": "string"},
                    "periode": {"type": "string"}, "partie": {"type": "string"},
                    "grain": {"type": "string"}})),
            "/api/v1/opportunites": _get(
                "Marchés dont la fin estimée tombe dans les mois qui viennent",
                [_param("mois", "integer", "Horizon en mois (1 à 60, 12 par défaut)."),
                 _param("domaine", "string", "Domaine d'achat du profil (identifiant)."),
                 _param("departement", "string", "Département du lieu d'exécution."),
                 *_PAGING],
                _list_of(contract_item, {"montant_total": {"type": "number"},
                                         "mois": {"type": "integer"},
                                         "jusqu_au": {"type": "string", "format": "date"}})),
            "/api/v1/qualite": _get(
                "Qualité des données : enregistrements gardés et écartés, constats par règle, "
                "par fichier et par acheteur", [],
                {"type": "object",
                 "required": ["records", "by_rule", "by_file", "completeness", "by_buyer"]}),
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
    return render(request, "observatoire/api.html", {"endpoints": endpoints,
                                                      "info": document["info"]})
