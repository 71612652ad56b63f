"""The pages of mappings that need a person's decision, under ``/gestion/correspondances/``.

Every kind has the same lifecycle (:mod:`services`): a steward or an administrator proposes,
an administrator accepts or rejects, a proposal can be withdrawn by its author, a mapping in
force by an administrator. Readers see everything and change nothing.

Scope of a steward for the Egalim kinds: the descriptions of the purchase lines of the canteens
of its scope (a ``cantine:`` or ``acheteur:`` SIRET or SIREN prefix matched against the line's
canteen SIRET), and the unknown labels of the matrices of the suppliers those canteens buy from
(matched as the build matches lines to matrices). A mapping applies to every canteen once
accepted: that is why an administrator decides it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from observatoire.egalim import service as egalim_service
from observatoire.egalim.correspondences import Matcher, group
from observatoire.egalim.decisions import LABEL_TARGETS, description_key
from observatoire.egalim.labels import normalise_label, resolve_label
from observatoire.egalim.matrices import unknown_labels
from observatoire.egalim.nomenclature import Article, read_nomenclature
from observatoire.errors import ObservatoireError, WarehouseMissing
from observatoire.indicators.profile import load_profile
from observatoire.stewardship import permissions, services
from observatoire.stewardship.models import Mapping, MappingKind, MappingStatus, Role
from observatoire.stewardship.views import (
    ALL_ROLES,
    _account,
    _domains,
    _int,
    _settings,
    forbidden,
    require,
)

PAGE_SIZE = 25
LIST_SIZE = 50
ARTICLES_URL = "/gestion/correspondances/egalim/articles/"
LABELS_URL = "/gestion/correspondances/egalim/labels/"


def _back(request: HttpRequest, default: str = "/gestion/correspondances/") -> str:
    back = request.POST.get("retour") or default
    if not back.startswith("/gestion/") or not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}):
        return default
    return back


def _articles() -> list[Article]:
    return read_nomenclature(load_profile(_settings().profile).nomenclature_file)


def _open_and_current(kind: str) -> tuple[dict[str, Mapping], dict[str, Mapping]]:
    """The open proposal and the mapping in force of each key of a kind (one query: there are
    at most two per key, and no list of keys to send, however many descriptions there are)."""
    found = Mapping.objects.filter(kind=kind, status__in=(
        MappingStatus.PROPOSED, MappingStatus.ACCEPTED))
    proposed = {m.key: m for m in found if m.status == MappingStatus.PROPOSED}
    current = {m.key: m for m in found if m.status == MappingStatus.ACCEPTED}
    return proposed, current


def _value_labels() -> dict[str, dict[str, str]]:
    """How each kind's values read, for the list of mappings."""
    try:
        articles = {a.code: f"{a.code} {a.label}" for a in _articles()}
    except ObservatoireError:  # a broken nomenclature must not hide the list of mappings
        articles = {}
    return {
        MappingKind.CPV_DOMAIN: _domains(),
        MappingKind.EGALIM_ARTICLE: {"": "aucun article ne convient", **articles},
        MappingKind.EGALIM_LABEL: {"": "pas un label (ne compte pas)", **LABEL_TARGETS},
    }


@require(*ALL_ROLES)
def mappings(request: HttpRequest) -> HttpResponse:
    """``/gestion/correspondances/``: every mapping, filtered by kind and status; a CPV →
    purchase domain proposal is made here (POST)."""
    account = _account(request)
    domains = _domains()
    context: dict[str, Any] = {"domains": domains}
    if request.method == "POST":
        if account.role == Role.READER:
            return forbidden(request)
        try:
            services.propose_mapping(request.user, MappingKind.CPV_DOMAIN,
                                     request.POST.get("cpv") or "",
                                     request.POST.get("domaine") or "",
                                     request.POST.get("motif") or "", domains)
        except services.StewardshipError as error:
            context.update(error=f"{error.message} {error.hint}".strip(), posted=request.POST)
        else:
            messages.success(request, "Proposition enregistrée : un administrateur la décidera.")
            return HttpResponseRedirect("/gestion/correspondances/")
    kind = request.GET.get("type") or ""
    status = request.GET.get("statut") or ""
    found = Mapping.objects.all().order_by("-proposed_at", "-pk")
    canteens = _canteens(request)
    if canteens is not None:
        # A steward sees the Egalim mappings of its canteens' descriptions and of their
        # suppliers' matrices only (as on the Egalim pages); CPV mappings concern everyone.
        try:
            with egalim_service.reading(_settings()) as con:
                described = {description_key(d)
                             for d in egalim_service.descriptions(con, canteens)}
                labelled = {i["key"] for i in unknown_labels(
                    con, egalim_service.matrices_of(con, canteens))}
        except WarehouseMissing:
            described, labelled = set(), set()
        found = found.filter(Q(kind=MappingKind.CPV_DOMAIN)
                             | Q(kind=MappingKind.EGALIM_ARTICLE, key__in=described)
                             | Q(kind=MappingKind.EGALIM_LABEL, key__in=labelled))
    if kind in MappingKind.values:
        found = found.filter(kind=kind)
    if status in MappingStatus.values:
        found = found.filter(status=status)
    state = {k: v for k, v in (("type", kind), ("statut", status)) if v}
    context.update(
        page=Paginator(found, LIST_SIZE).get_page(request.GET.get("page")),
        kinds=MappingKind.choices, statuses=MappingStatus.choices, kind=kind, status=status,
        query=urlencode(state), values=_value_labels(), back=request.get_full_path(),
        may_propose=account.role in (Role.ADMINISTRATOR, Role.STEWARD),
        may_decide=account.role == Role.ADMINISTRATOR, username=request.user.get_username(),
    )
    return render(request, "stewardship/correspondances.html", context,
                  status=400 if "error" in context else 200)


@require(Role.ADMINISTRATOR)
@require_POST
def decide(request: HttpRequest, mapping_id: int) -> HttpResponse:
    """``/gestion/correspondances/<id>/decider/`` (POST): accept or reject, with a reason."""
    mapping = get_object_or_404(Mapping, pk=mapping_id)
    accept = request.POST.get("decision") == "accepter"
    try:
        services.decide_mapping(request.user, mapping, accept, request.POST.get("motif") or "")
    except services.StewardshipError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Proposition " + ("acceptée : elle s'appliquera à la "
                         "prochaine construction." if accept else "refusée."))
    return HttpResponseRedirect(_back(request))


@require(Role.ADMINISTRATOR, Role.STEWARD)
@require_POST
def withdraw(request: HttpRequest, mapping_id: int) -> HttpResponse:
    """``/gestion/correspondances/<id>/retirer/`` (POST, with a reason): an open proposal by its
    author or an administrator; a mapping in force by an administrator only."""
    account = _account(request)
    mapping = get_object_or_404(Mapping, pk=mapping_id)
    if account.role != Role.ADMINISTRATOR and not (
            mapping.status == MappingStatus.PROPOSED
            and mapping.proposed_by_name == request.user.get_username()):
        return forbidden(request, "Seul son auteur retire une proposition ; seul un "
                         "administrateur retire une correspondance en vigueur.")
    try:
        services.withdraw_mapping(request.user, mapping, request.POST.get("motif") or "",
                                  administrator=account.role == Role.ADMINISTRATOR)
    except services.StewardshipError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Correspondance {mapping.pk} retirée"
                         + (" : elle ne s'appliquera plus à la prochaine construction."
                            if mapping.status == MappingStatus.ACCEPTED else "."))
    return HttpResponseRedirect(_back(request))


def _canteens(request: HttpRequest) -> list[str] | None:
    """The SIRET/SIREN prefixes of the canteens a steward sees (None: all). A directorate
    scope covers contracts, not canteens' purchase lines: it adds none here."""
    scope = permissions.perimeter(_account(request))
    return None if scope.everything else list(scope.buyers)


def _propose_egalim(request: HttpRequest, kind: str, text: str, value: str,
                    allowed: dict[str, str], in_scope: bool,
                    details: dict[str, Any]) -> str | HttpResponse:
    """Propose (POST of the Egalim pages): an error message, or a redirect."""
    account = _account(request)
    if account.role == Role.READER:
        return forbidden(request)
    if not in_scope:
        return forbidden(request, "Cette description ou ce libellé n'apparaît pas dans les "
                         "achats des cantines de votre périmètre.")
    try:
        services.propose_mapping(request.user, kind, text, value,
                                 request.POST.get("motif") or "", allowed, details=details)
    except services.StewardshipError as error:
        return f"{error.message} {error.hint}".strip()
    messages.success(request, "Proposition enregistrée : un administrateur la décidera ; "
                     "acceptée, elle s'appliquera à la prochaine construction.")
    return HttpResponseRedirect(_back(request, request.path))


@require(*ALL_ROLES)
def egalim_articles(request: HttpRequest) -> HttpResponse:
    """``/gestion/correspondances/egalim/articles/``: the descriptions of the purchase lines
    without an article (of the steward's canteens), with the closest articles of the
    nomenclature and their similarity; a description → article proposal is made here."""
    canteens = _canteens(request)
    show_all = request.GET.get("etat") == "toutes"
    context: dict[str, Any] = {"show_all": show_all, "scope": canteens,
                               "may_propose": _account(request).role != Role.READER}
    articles = _articles()
    by_code = {a.code: a for a in articles}
    context["articles"] = articles
    status = 200
    try:
        with egalim_service.reading(_settings()) as con:
            lines = egalim_service.lines_without_article(con, canteens)
            if request.method == "POST":
                text = " ".join((request.POST.get("description") or "").split())
                code = ((request.POST.get("autre_code") or "").strip()
                        or (request.POST.get("article") or "").strip())
                scope = {description_key(d) for d in egalim_service.descriptions(con, canteens)}
                best = Matcher(articles).candidates(text) if articles else []
                score = next((c.score for c in best if c.article.code == code), None)
                outcome = _propose_egalim(
                    request, MappingKind.EGALIM_ARTICLE, text, code,
                    {a.code: a.label for a in articles}, description_key(text) in scope,
                    {"via": "site", "score": score,
                     "suggested": best[0].article.code if best else None})
                if isinstance(outcome, HttpResponse):
                    return outcome
                context.update(error=outcome, posted=request.POST)
                status = 400
    except WarehouseMissing as error:
        return render(request, "stewardship/file.html", {"missing": error}, status=503)
    grouped = group(lines)
    proposed, current = _open_and_current(MappingKind.EGALIM_ARTICLE)
    if not show_all:
        grouped = [s for s in grouped if description_key(s.description) not in proposed
                   and description_key(s.description) not in current]
    page = Paginator(grouped, PAGE_SIZE).get_page(_int(request.GET.get("page")))
    matcher = Matcher(articles) if articles else None
    rows = []
    for s in page:
        key = description_key(s.description)
        candidates = matcher.candidates(s.description, s.family) if matcher else []
        rows.append({"s": s, "key": key, "candidates": candidates,
                     "proposed": proposed.get(key), "current": current.get(key),
                     "current_article": by_code.get(current[key].value) if key in current
                     else None})
    context.update(page=page, rows=rows, query=urlencode({"etat": "toutes"} if show_all else {}),
                   back=request.get_full_path())
    return render(request, "stewardship/correspondances_articles.html", context, status=status)


@require(*ALL_ROLES)
def egalim_labels(request: HttpRequest) -> HttpResponse:
    """``/gestion/correspondances/egalim/labels/``: the labels of the supplier matrices that the
    normaliser does not know (matrices of the steward's canteens' suppliers), to be mapped to a
    label or declared "not a label"."""
    canteens = _canteens(request)
    context: dict[str, Any] = {"targets": LABEL_TARGETS, "scope": canteens,
                               "may_propose": _account(request).role != Role.READER}
    status = 200
    try:
        with egalim_service.reading(_settings()) as con:
            found = unknown_labels(con, egalim_service.matrices_of(con, canteens))
    except WarehouseMissing as error:
        return render(request, "stewardship/file.html", {"missing": error}, status=503)
    if request.method == "POST":
        text = " ".join((request.POST.get("libelle") or "").split())
        if resolve_label(text) is not None:
            context.update(error=f"« {text} » est déjà reconnu par l'observatoire : sa "
                           "signification est fixée par la réglementation, elle ne se décide "
                           "pas ici.", posted=request.POST)
            status = 400
        else:
            outcome = _propose_egalim(
                request, MappingKind.EGALIM_LABEL, text, request.POST.get("label") or "",
                LABEL_TARGETS, normalise_label(text) in {i["key"] for i in found},
                {"via": "site"})
            if isinstance(outcome, HttpResponse):
                return outcome
            context.update(error=outcome, posted=request.POST)
            status = 400
    proposed, current = _open_and_current(MappingKind.EGALIM_LABEL)
    context.update(rows=[{**i, "proposed": proposed.get(i["key"]),
                          "current": current.get(i["key"])} for i in found],
                   back=request.get_full_path())
    return render(request, "stewardship/correspondances_labels.html", context, status=status)
