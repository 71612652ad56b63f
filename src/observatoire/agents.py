"""The observatory for assistants: an MCP server whose tools are the API's read services.

Each tool is an endpoint of ``/api/v1`` called in-process, its arguments as the endpoint's
query: one implementation, so an assistant gets exactly what the API gives — the same figures
from the same service functions (``explorer``, ``spending``, ``indicators.service``,
``reports``), the same
columns, the same errors (``{"statut", "erreur", "que_faire"}``, marked as a tool error).

Served over stdio (an assistant launches ``observatoire mcp``) or over HTTP (Streamable HTTP
on ``/mcp``, bound to 127.0.0.1 unless told otherwise). Tool descriptions are in French, the
language of the observatory's readers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from observatoire import __version__, explorer
from observatoire.config import Settings

INSTRUCTIONS = (
    "Observatoire de l'achat public : données essentielles des marchés publics (DECP) "
    "vérifiées, acheteurs, titulaires, indicateurs de la politique d'achat responsable "
    "(SPASER), marchés qui arrivent à échéance, qualité des données et, là où le déploiement "
    "charge les flux comptables des acheteurs, leurs paiements et délais de paiement. "
    "Lecture seule. "
    "Les montants sont en euros hors taxes. Chaque réponse est celle de l'API publique "
    "(/api/v1/…) du même observatoire ; un indicateur publié porte son numérateur, son "
    "dénominateur et sa couverture : citez-les avec la valeur."
)

# --- the tools' parameters ----------------------------------------------------------------

Page = Annotated[int, Field(ge=1, description="Page demandée, à partir de 1.")]
Size = Annotated[int, Field(ge=1, le=explorer.MAX_PAGE_SIZE,
                            description=f"Éléments par page (1 à {explorer.MAX_PAGE_SIZE}).")]
Siret = Annotated[str, Field(pattern=r"^\d{14}$", description="SIRET de l'acheteur (14 chiffres).")]
IndicatorId = Annotated[str, Field(
    pattern=r"^[a-z0-9-]+$",
    description="Identifiant de l'indicateur (voir l'outil « indicateurs »), par exemple "
    "« marches-pme ».")]
YesNo = Literal["oui", "non"]
DEFAULT_SIZE = 50


def _text(value: object) -> str:
    return ("oui" if value else "non") if isinstance(value, bool) else str(value)


def api_answer(path: str, query: Mapping[str, object]) -> tuple[int, str]:
    """The API's answer to ``GET path?query`` (None values left out): its status and JSON
    text, from the API's own view, as the site would serve it."""
    from django.http import HttpRequest, QueryDict
    from django.urls import Resolver404, resolve

    from observatoire.web import formats

    request = HttpRequest()
    request.method = "GET"
    request.path = request.path_info = path
    params = QueryDict(mutable=True)
    for name, value in query.items():
        if value is not None:
            params[name] = _text(value)
    request.GET = params
    try:
        match = resolve(path)
    except Resolver404:
        response = formats.not_found(request)
    else:
        response = match.func(request, *match.args, **match.kwargs)
    return response.status_code, response.content.decode("utf-8")


async def _call(path: str, query: Mapping[str, object] | None = None) -> CallToolResult:
    """A tool's result: the API's JSON as text, and as structured content when it is an
    object; an error of the API (404, 400, 503…) is a tool error holding its JSON."""
    status, body = await anyio.to_thread.run_sync(api_answer, path, query or {})
    data = json.loads(body)
    return CallToolResult(content=[TextContent(text=body)],
                          structured_content=data if isinstance(data, dict) else None,
                          is_error=status >= 400)


# --- the tools ----------------------------------------------------------------------------


#: The place filters (the best known place of a contract), shared by two tools.
LieuRegion = Annotated[str | None, Field(
    pattern=r"^\d{2}$", description="Région (code COG, ex. « 53 ») du lieu retenu du marché : "
    "lieu d'exécution, sinon établissement du titulaire, sinon de l'acheteur.")]
LieuDepartement = Annotated[str | None, Field(
    pattern=r"^(\d{2,3}|2[AB])$", description="Département (code COG) du lieu retenu.")]
LieuCommune = Annotated[str | None, Field(
    pattern=r"^(\d{5}|2[AB]\d{3})$", description="Commune (code COG) du lieu retenu.")]
AcheteurDepartement = Annotated[str | None, Field(
    pattern=r"^(\d{2,3}|2[AB])$", description="Département (code COG) de l'acheteur : son "
    "établissement dans SIRENE, sinon le département publié avec ses marchés.")]
LieuBase = Annotated[Literal["execution", "titulaire", "acheteur", "inconnu"] | None, Field(
    description="D'où vient le lieu retenu : lieu d'exécution, établissement du titulaire, "
    "de l'acheteur, ou lieu inconnu.")]


async def rechercher_marches(
    texte: Annotated[str | None, Field(description="Mots de l'objet du marché.")] = None,
    annee: Annotated[int | None, Field(ge=1990, le=2100,
                                       description="Année de notification.")] = None,
    acheteur: Annotated[str | None, Field(pattern=r"^\d{14}$",
                                          description="SIRET de l'acheteur.")] = None,
    titulaire: Annotated[str | None, Field(
        description="SIRET, SIREN ou identifiant d'un titulaire.")] = None,
    domaine: Annotated[str | None, Field(
        description="Domaine d'achat du profil (identifiant).")] = None,
    cpv: Annotated[str | None, Field(pattern=r"^\d{1,8}$",
                                     description="Code CPV ou début de code.")] = None,
    procedure: Annotated[str | None, Field(
        description="Procédure de passation (libellé exact).")] = None,
    montant_min: Annotated[float | None, Field(
        description="Montant minimal en euros HT (après modifications).")] = None,
    montant_max: Annotated[float | None, Field(
        description="Montant maximal en euros HT (après modifications).")] = None,
    clause_sociale: Annotated[YesNo | None, Field(
        description="Au moins une considération sociale (« oui ») ou aucune (« non »).")] = None,
    clause_environnementale: Annotated[YesNo | None, Field(
        description="Au moins une considération environnementale (« oui ») ou aucune "
        "(« non »).")] = None,
    categorie: Annotated[Literal["PME", "ETI", "GE"] | None, Field(
        description="Catégorie d'entreprise d'un titulaire.")] = None,
    departement: Annotated[str | None, Field(
        description="Département de l'établissement d'un titulaire (code, ex. « 35 »).")] = None,
    lieu_region: LieuRegion = None,
    lieu_departement: LieuDepartement = None,
    lieu_commune: LieuCommune = None,
    lieu_base: LieuBase = None,
    acheteur_departement: AcheteurDepartement = None,
    tri: Annotated[Literal["date", "date_asc", "montant", "montant_asc", "acheteur"], Field(
        description="Ordre : date (plus récents d'abord), date_asc, montant (plus gros "
        "d'abord), montant_asc, acheteur.")] = "date",
    page: Page = 1,
    taille: Size = DEFAULT_SIZE,
) -> CallToolResult:
    """Cherche des marchés publics par mots de l'objet, année, acheteur, titulaire, code CPV,
    procédure, montant, clauses sociales ou environnementales, catégorie ou département des
    titulaires, lieu retenu du marché (région, département, commune : lieu d'exécution, sinon
    établissement du titulaire, sinon de l'acheteur) ou département de l'acheteur. Donne le
    nombre de marchés trouvés (« total »), leur montant total et une page de marchés
    (« elements »). Un filtre illisible est ignoré et dit dans « filtres_ignores »."""
    return await _call("/api/v1/marches", locals())


async def marche(
    uid: Annotated[str, Field(min_length=1, description="Identifiant national du marché "
                              "(« uid » d'un résultat de rechercher_marches).")],
) -> CallToolResult:
    """Un marché : toutes ses versions (modifications), ses titulaires, sa sous-traitance,
    sa provenance (fichier et enregistrement d'origine) et les constats de qualité."""
    return await _call(f"/api/v1/marches/{uid}")


async def rechercher_acheteurs(
    q: Annotated[str | None, Field(description="Nom ou début de SIRET.")] = None,
    page: Page = 1,
    taille: Size = DEFAULT_SIZE,
) -> CallToolResult:
    """Cherche des acheteurs publics par nom ou SIRET, du plus gros montant de marchés au
    plus petit."""
    return await _call("/api/v1/acheteurs", locals())


Year = Annotated[int | None, Field(
    ge=1900, le=2100, description="Année (par défaut, la période de référence du baromètre).")]


async def acheteur(siret: Siret, annee: Year = None) -> CallToolResult:
    """Un acheteur public : ses marchés par année, ses principaux titulaires, ses catégories
    d'achat et ses procédures, et son tableau de bord du SPASER (« spaser ») : chaque
    indicateur calculé sur ses seuls marchés, avec sa cible et son état."""
    return await _call(f"/api/v1/acheteurs/{siret}", {"annee": annee})


async def rechercher_titulaires(
    q: Annotated[str | None, Field(description="Nom ou début d'identifiant.")] = None,
    page: Page = 1,
    taille: Size = DEFAULT_SIZE,
) -> CallToolResult:
    """Cherche des titulaires (entreprises et autres organismes attributaires) par nom ou
    identifiant, du plus grand nombre de marchés au plus petit."""
    return await _call("/api/v1/titulaires", locals())


async def titulaire(
    identifiant: Annotated[str, Field(min_length=1, description=(
        "SIRET du titulaire, ou sa clé « supplier_key » (ex. « TVA:FR… ») d'un résultat de "
        "rechercher_titulaires."))],
) -> CallToolResult:
    """Un titulaire : ses marchés par année, ses acheteurs et les lieux d'exécution."""
    return await _call(f"/api/v1/titulaires/{identifiant}")


async def barometre(
    annee: Year = None,
    acheteur: Annotated[str | None, Field(
        pattern=r"^\d{14}$", description="SIRET d'un acheteur : ses propres valeurs.")] = None,
    mandataire: Annotated[str | None, Field(
        description="Nom d'un mandataire (ou acheteur) du profil.")] = None,
    domaine: Annotated[str | None, Field(
        description="Domaine d'achat du profil (identifiant).")] = None,
) -> CallToolResult:
    """Le baromètre du SPASER pour une année et un périmètre (un acheteur, un mandataire ou
    un domaine d'achat ; un seul à la fois) : combien d'objectifs sont atteints, en bonne
    voie, non atteints, sans données suffisantes ou non disponibles, et chaque indicateur.
    « filtres_ignores » dit ce qui n'a pas pu être appliqué."""
    return await _call("/api/v1/barometre", locals())


async def indicateurs() -> CallToolResult:
    """Les indicateurs du schéma d'achat responsable (SPASER) : pour chacun, sa dernière
    valeur avec numérateur, dénominateur et couverture, sa cible et son état."""
    return await _call("/api/v1/indicateurs")


async def indicateur(identifiant: IndicatorId) -> CallToolResult:
    """Un indicateur : sa définition et sa méthode, ses cibles, ses valeurs par année."""
    return await _call(f"/api/v1/indicateurs/{identifiant}")


async def preuves_indicateur(
    identifiant: IndicatorId,
    periode: Annotated[str | None, Field(
        pattern=r"^(\d{4}|toutes)$", description="Année, ou « toutes » (par défaut).")] = None,
    partie: Annotated[Literal["numerator", "known", "population"], Field(
        description="numerator : les marchés comptés au numérateur ; known : ceux dont la "
        "donnée est connue ; population : toute la population.")] = "numerator",
    ventilation: Annotated[str | None, Field(
        description="Ventilation d'un groupe (buyer, mandate…), avec « groupe ».")] = None,
    groupe: Annotated[str | None, Field(
        description="Valeur du groupe dans cette ventilation.")] = None,
    page: Page = 1,
    taille: Size = DEFAULT_SIZE,
) -> CallToolResult:
    """Les preuves d'un indicateur : les marchés (ou enregistrements) derrière sa valeur,
    calculés par la même requête que l'indicateur ; « total » en donne le nombre."""
    return await _call(f"/api/v1/indicateurs/{identifiant}/marches", {
        "periode": periode, "partie": partie, "ventilation": ventilation, "groupe": groupe,
        "page": page, "taille": taille})


async def opportunites(
    mois: Annotated[int, Field(ge=1, le=60, description="Horizon en mois.")] = 12,
    domaine: Annotated[str | None, Field(
        description="Domaine d'achat du profil (identifiant).")] = None,
    departement: Annotated[str | None, Field(
        description="Ancien nom de lieu_departement (département du lieu retenu).")] = None,
    texte: Annotated[str | None, Field(
        description="Mots de l'objet, du nom de l'acheteur, des titulaires ou du libellé "
        "CPV.")] = None,
    acheteur: Annotated[str | None, Field(
        description="SIRET de l'acheteur, ou mots de son nom.")] = None,
    cpv: Annotated[str | None, Field(pattern=r"^\d{1,8}$",
                                     description="Code CPV ou début de code.")] = None,
    montant_min: Annotated[float | None, Field(
        description="Montant minimal en euros HT (après modifications).")] = None,
    montant_max: Annotated[float | None, Field(
        description="Montant maximal en euros HT (après modifications).")] = None,
    lieu_region: LieuRegion = None,
    lieu_departement: LieuDepartement = None,
    lieu_commune: LieuCommune = None,
    acheteur_departement: AcheteurDepartement = None,
    page: Page = 1,
    taille: Size = DEFAULT_SIZE,
) -> CallToolResult:
    """Les marchés dont la fin estimée (notification plus durée, après modifications) tombe
    dans les mois qui viennent, avec leurs titulaires actuels : ce que les entreprises peuvent
    préparer. Mêmes filtres que la recherche de marchés (lieu, acheteur, CPV, mots, montant)."""
    return await _call("/api/v1/opportunites", locals())


async def qualite() -> CallToolResult:
    """La qualité des données publiées : enregistrements gardés, fusionnés et écartés,
    constats par règle, par fichier et par acheteur, complétude des champs par source."""
    return await _call("/api/v1/qualite")


# --- spending (the buyer's payments, where the deployment loads its finance flows) ---------

#: The values of ``spending.KINDS``, ``SOURCES`` and ``SORTS`` (a test checks they agree).
PaymentKind = Literal["avance", "acompte", "dernier_acompte", "retenue", "interets",
                      "annulation", "paiement"]
PaymentSource = Literal["pes", "pes_simule", "chorus", "export", "simule"]
PaymentSort = Literal["date", "date_asc", "montant", "montant_asc", "fournisseur", "delai"]


async def rechercher_depenses(
    acheteur: Annotated[str | None, Field(
        description="SIRET de l'acheteur (14 chiffres), ou mots de son nom.")] = None,
    fournisseur: Annotated[str | None, Field(
        description="SIRET du fournisseur, ou mots de son nom publié (les noms masqués des "
        "personnes physiques ne se cherchent pas).")] = None,
    exercice: Annotated[int | None, Field(ge=1990, le=2100,
                                          description="Exercice budgétaire.")] = None,
    type: Annotated[PaymentKind | None, Field(
        description="Type de paiement : avance, acompte, dernier_acompte, retenue, interets "
        "(intérêts moratoires et indemnités), annulation, paiement (hors marché ou sans "
        "nature).")] = None,
    marche: Annotated[str | None, Field(
        description="« oui » : rattachées à un marché ; « non » : hors marché ; ou "
        "l'identifiant (uid) d'un marché.")] = None,
    montant_min: Annotated[float | None, Field(
        description="Montant minimal de la ligne en euros HT.")] = None,
    montant_max: Annotated[float | None, Field(
        description="Montant maximal de la ligne en euros HT.")] = None,
    source: Annotated[PaymentSource | None, Field(
        description="Source : pes, pes_simule (jeu simulé de démonstration, aucun paiement "
        "réel), chorus (État), export, simule.")] = None,
    texte: Annotated[str | None, Field(description="Mots de l'objet de la pièce.")] = None,
    tri: Annotated[PaymentSort, Field(
        description="Ordre : date (plus récents d'abord), date_asc, montant, montant_asc, "
        "fournisseur, delai (le plus long d'abord).")] = "date",
    page: Page = 1,
    taille: Size = DEFAULT_SIZE,
) -> CallToolResult:
    """Cherche des lignes de paiement (dépenses) lues dans les flux du logiciel financier des
    acheteurs (PES V2, Chorus) : par acheteur, fournisseur, exercice, type, marché, montant,
    source ou mots de l'objet. Donne leur nombre (« total »), le net payé (« montant_total »),
    le hors marché, les effectifs par type et par source, et une page de lignes. Les personnes
    physiques sont masquées. « chargees » : 0 quand aucun paiement n'est chargé (les dépenses
    sont alors inconnues, jamais nulles) ; les lignes de source « pes_simule » sont simulées."""
    return await _call("/api/v1/depenses", locals())


async def paiements_marche(
    uid: Annotated[str, Field(min_length=1, description="Identifiant national du marché "
                              "(« uid » d'un résultat de rechercher_marches).")],
) -> CallToolResult:
    """Les paiements d'un marché : payé à ce jour face au montant attribué (initial et après
    modifications), par exercice et par type (avance, acomptes, retenue, intérêts), comment
    les lignes ont été rattachées et d'où elles viennent. « loaded » faux : aucun paiement de
    son acheteur n'est chargé, ce qui a été payé n'est pas connu (jamais « 0 € »)."""
    return await _call(f"/api/v1/marches/{uid}/paiements")


async def delais_paiement_acheteur(siret: Siret) -> CallToolResult:
    """Les délais de paiement d'un acheteur par semestre (délai moyen en jours, parts payées
    en 1–30, 31–60 et 61 jours ou plus, mandats en retard, intérêts moratoires payés ; un
    semestre sous l'échantillon minimal du profil est signalé « small_sample ») et ses
    dépenses par fournisseur (marchés de 40 000 € HT ou plus, en dessous, hors marché)."""
    return await _call(f"/api/v1/acheteurs/{siret}/paiements")


#: Every tool, by name (the API endpoint each one answers like is in its code).
TOOLS: dict[str, Callable[..., Any]] = {f.__name__: f for f in (
    rechercher_marches, marche, rechercher_acheteurs, acheteur, rechercher_titulaires,
    titulaire, barometre, indicateurs, indicateur, preuves_indicateur, opportunites,
    qualite, rechercher_depenses, paiements_marche, delais_paiement_acheteur)}


def server(settings: Settings) -> MCPServer:
    """The MCP server on the warehouse of these settings (Django set up for the API)."""
    from observatoire.stewardship.django_setup import django_for

    django_for(settings)
    mcp = MCPServer("observatoire", title="Observatoire de l'achat public",
                    instructions=INSTRUCTIONS, version=__version__)
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False,
                                idempotent_hint=True, open_world_hint=False)
    for name, tool in TOOLS.items():
        mcp.add_tool(tool, name=name, annotations=read_only)
    return mcp
