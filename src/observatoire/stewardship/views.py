"""The authenticated pages under /gestion/ (French). Every view checks its permission here, on
the server: the role through :func:`require`, the scope through :mod:`permissions`."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import SuspiciousOperation
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from observatoire import charts, reports
from observatoire.config import Settings
from observatoire.errors import WarehouseMissing
from observatoire.explorer import MAX_PAGE
from observatoire.exports import csv_response
from observatoire.indicators.profile import load_profile
from observatoire.landing.catalog import Catalog
from observatoire.stewardship import oidc, permissions, queue, services
from observatoire.stewardship.fields import FIELDS
from observatoire.stewardship.models import (
    CURRENT,
    Account,
    Action,
    AuditEvent,
    Correction,
    Role,
    SignInFailure,
    Status,
)

LOG = logging.getLogger(__name__)

#: Failed sign-ins allowed per username and address within the window, then a lockout.
MAX_FAILURES = 5
#: Failed password sign-ins allowed per address within the window, whatever the usernames:
#: one address trying many names (a list of guessed names) is stopped too. Room is left for
#: the offices of an organisation that reach the site through one address.
MAX_ADDRESS_FAILURES = 30
FAILURE_WINDOW = timedelta(minutes=15)
#: How long failures through the provider are kept: administrators see on /gestion/comptes/
#: who the provider vouched for without an account here. Password failures are kept for the
#: window only: they serve nothing after it.
PROVIDER_FAILURES_KEPT = timedelta(days=30)
#: Failed sign-ins through the provider allowed per address within the window (the provider
#: checks passwords; this bounds what one address can write into the failures table).
MAX_PROVIDER_FAILURES = 20
PAGE_SIZE = 50
ALL_ROLES = (Role.ADMINISTRATOR, Role.STEWARD, Role.READER)


def _settings() -> Settings:
    return Settings.from_env()


def _account(request: HttpRequest) -> Account:
    account: Account = request.account  # type: ignore[attr-defined]
    return account


def forbidden(request: HttpRequest, why: str = "") -> HttpResponse:
    return render(request, "stewardship/interdit.html",
                  {"why": why or "Votre rôle ne permet pas d'ouvrir cette page."}, status=403)


View = Callable[..., HttpResponse]


def require(*roles: str) -> Callable[[View], View]:
    """Signed in with one of these roles, or: sign-in page (anonymous) / 403 (other roles)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            account = permissions.account_of(request.user)
            if account is None or account.role not in roles:
                return forbidden(request)
            request.account = account  # type: ignore[attr-defined]
            response = view(request, *args, **kwargs)
            response["Cache-Control"] = "no-store"
            return response

        return wrapper

    return decorator


def _no_store(view: View) -> View:
    """The sign-in pages: neither the form nor what a person typed or got back is kept by a
    browser or a proxy (as every page of the authenticated side, see :func:`require`)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response

    return wrapper


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "stewardship/interdit.html", {
        "why": "Le formulaire a expiré ou ne vient pas de ce site (protection CSRF). "
               "Rechargez la page, puis recommencez."}, status=403)


def _address(request: HttpRequest) -> str:
    """The client's address: the connection's, or behind a trusted reverse proxy the last one
    ``X-Forwarded-For`` gives that is not a trusted proxy (earlier ones the client can forge)."""
    address = str(request.META.get("REMOTE_ADDR") or "inconnue")
    proxies = _settings().trusted_proxies
    if address not in proxies:
        return address
    forwarded = [a.strip() for a in str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
                 .replace("\x00", "").split(",")]
    for hop in reversed(forwarded):
        if hop and hop not in proxies:
            return hop[:64]
    return address


def _failure_key(username: str) -> str:
    """A name as failures are stored: whatever was typed, cut to the column and without NUL
    (which PostgreSQL refuses in text)."""
    return username.replace("\x00", "")[:150]


def _record_failure(request: HttpRequest, username: str) -> None:
    """Count a failed sign-in, and forget those that no limit or page reads any more (the
    table would otherwise grow with every guess, for ever)."""
    now = timezone.now()
    SignInFailure.objects.create(username=_failure_key(username), address=_address(request),
                                 at=now)
    SignInFailure.objects.filter(at__lt=now - FAILURE_WINDOW).exclude(
        username__startswith="oidc:").delete()
    SignInFailure.objects.filter(at__lt=now - PROVIDER_FAILURES_KEPT).delete()


def _sign_in_context(request: HttpRequest) -> dict[str, Any]:
    next_url = request.POST.get("next") or request.GET.get("next") or "/gestion/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = "/gestion/"
    provider = oidc.configured()
    return {"next": next_url, "username": "", "provider": provider.name if provider else ""}


@_no_store
def sign_in(request: HttpRequest) -> HttpResponse:
    """``/gestion/connexion/``: password sign-in, throttled per username and address; beside
    it, when configured, the link to sign in through the organisation's provider."""
    context = _sign_in_context(request)
    if request.method == "POST":
        username = (request.POST.get("identifiant") or "").strip()
        password = request.POST.get("mot_de_passe") or ""
        context["username"] = username
        since = timezone.now() - FAILURE_WINDOW
        recent = SignInFailure.objects.filter(address=_address(request), at__gte=since
                                              ).exclude(username__startswith="oidc:")
        minutes = FAILURE_WINDOW.seconds // 60
        if recent.filter(username=_failure_key(username)).count() >= MAX_FAILURES:
            context["error"] = (
                "Trop de tentatives de connexion échouées pour cet identifiant depuis cette "
                f"adresse. Réessayez dans {minutes} minutes.")
            return render(request, "stewardship/connexion.html", context, status=429)
        if recent.count() >= MAX_ADDRESS_FAILURES:
            LOG.warning("sign-in refused: %s failures from %s", MAX_ADDRESS_FAILURES,
                        _address(request))
            context["error"] = (
                "Trop de tentatives de connexion échouées depuis cette adresse, tous "
                f"identifiants confondus. Réessayez dans {minutes} minutes.")
            return render(request, "stewardship/connexion.html", context, status=429)
        # a name no account can have is not looked up (a NUL fails on PostgreSQL)
        user = authenticate(request, username=username, password=password
                            ) if services.valid_username(username) else None
        if user is None or permissions.account_of(user) is None:
            _record_failure(request, username)
            context["error"] = "Identifiant ou mot de passe incorrect."
            return render(request, "stewardship/connexion.html", context, status=401)
        SignInFailure.objects.filter(username=username, address=_address(request)).delete()
        login(request, user)
        return HttpResponseRedirect(context["next"])
    return render(request, "stewardship/connexion.html", context)


def _provider_refusal(request: HttpRequest, message: str, status: int,
                      who: str = "", count: bool = True) -> HttpResponse:
    """The sign-in page with why the provider's sign-in failed; the attempt is counted with
    the failed password sign-ins (``oidc:`` before the address the provider gave), unless it
    answers no sign-in started here (``count=False``: anyone could send those, and counting
    them would let them lock everyone behind the same address out)."""
    if count:
        _record_failure(request, f"oidc:{who or '?'}")
    context = _sign_in_context(request)
    context["error"] = message
    return render(request, "stewardship/connexion.html", context, status=status)


@require_GET
@_no_store
def oidc_start(request: HttpRequest) -> HttpResponse:
    """``/gestion/connexion/oidc/``: off (404) unless a provider is configured; else sends the
    person to the provider (state, nonce and PKCE kept in the session)."""
    if oidc.configured() is None:
        raise Http404("Pas de fournisseur d'identité configuré")
    try:
        return oidc.StartView.as_view()(request)  # type: ignore[no-any-return]
    except oidc.ProviderUnavailable as error:
        context = _sign_in_context(request)
        context["error"] = f"{error} Connectez-vous avec votre mot de passe ou réessayez plus tard."
        return render(request, "stewardship/connexion.html", context, status=503)


@require_GET
@_no_store
def oidc_callback(request: HttpRequest) -> HttpResponse:
    """``/gestion/connexion/oidc/retour/``: where the provider sends the person back. Signs in
    the account created here for the provider's e-mail address, or says why not."""
    provider = oidc.configured()
    if provider is None:
        raise Http404("Pas de fournisseur d'identité configuré")
    name = provider.name
    since = timezone.now() - FAILURE_WINDOW
    if SignInFailure.objects.filter(username__startswith="oidc:", address=_address(request),
                                    at__gte=since).count() >= MAX_PROVIDER_FAILURES:
        context = _sign_in_context(request)
        context["error"] = (f"Trop de connexions avec {name} échouées depuis cette adresse. "
                            f"Réessayez dans {FAILURE_WINDOW.seconds // 60} minutes.")
        return render(request, "stewardship/connexion.html", context, status=429)
    state = request.GET.get("state")
    started = state in (request.session.get("oidc_states") or {})
    if request.GET.get("error"):
        if started:
            del request.session["oidc_states"][state]  # one use, even for a refusal
            request.session.modified = True
        code = request.GET["error"]  # shown only when it looks like an OAuth error code
        shown = f" (« {code} »)" if re.fullmatch(r"[a-z_]{1,40}", code) else ""
        return _provider_refusal(
            request, f"La connexion avec {name} a été refusée ou interrompue{shown}. "
            "Recommencez, ou connectez-vous avec votre mot de passe.", 401, count=started)
    if not request.GET.get("code") or not started:
        return _provider_refusal(
            request, f"Cette réponse de {name} ne correspond à aucune connexion commencée dans "
            "ce navigateur (état inconnu, expiré ou déjà utilisé). Recommencez la connexion.",
            400, count=False)
    try:
        response: HttpResponse = oidc.CallbackView.as_view()(request)
    except oidc.NoAccount as refusal:
        LOG.warning("provider sign-in refused, no account: %s", refusal.who)
        return _provider_refusal(request, refusal.message, 403, refusal.who)
    except oidc.Refused as refusal:
        return _provider_refusal(request, refusal.message, 403, refusal.who)
    except SuspiciousOperation as error:
        LOG.warning("provider sign-in refused: %s", error)
        return _provider_refusal(
            request, f"La réponse de {name} n'a pas pu être vérifiée (signature, émetteur, "
            "nonce ou validité du jeton d'identité). Recommencez la connexion ; si cela se "
            "reproduit, prévenez un administrateur.", 400)
    except (oidc.ProviderUnavailable, requests.RequestException) as error:
        LOG.warning("provider sign-in failed: %s", error)
        answer = getattr(error, "response", None)
        refused = answer is not None and 400 <= answer.status_code < 500
        return _provider_refusal(
            request, f"{name} n'a pas répondu ou a refusé l'échange de la connexion. "
            "Recommencez, ou connectez-vous avec votre mot de passe.", 400 if refused else 502)
    if not request.user.is_authenticated:
        return _provider_refusal(request, f"La connexion avec {name} a échoué. Recommencez.", 401)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """Ends the session here; with ``OBSERVATOIRE_OIDC_PROVIDER_LOGOUT=1``, a person who came
    through the provider is then sent to end the session there too."""
    at_provider = oidc.logout_url(request)
    logout(request)
    return HttpResponseRedirect(at_provider or "/")


def _int(value: str | None, default: int = 1) -> int:
    """A page number, at most ``explorer.MAX_PAGE`` (a 30-digit one overflowed the query)."""
    try:
        return min(max(int(value or default), 1), MAX_PAGE)
    except ValueError:
        return default


def _buyer_filter(request: HttpRequest) -> str | None:
    """``?acheteur=``: a SIRET or a SIREN (the contracts of its buyers), else no filter."""
    value = (request.GET.get("acheteur") or "").strip()
    return value if value.isdigit() and len(value) in (9, 14) else None


def _directorate_filter(request: HttpRequest) -> str | None:
    return (request.GET.get("direction") or "").strip() or None


def _scoped_corrections(settings: Settings, scope: permissions.Perimeter, found: Any) -> Any:
    """The corrections (a queryset) of a perimeter: by buyer in the application database, by
    directorate through the warehouse in service (only the few corrected contracts are asked)."""
    uids: list[str] = []
    if not scope.everything and scope.directorates:
        corrected = sorted(set(Correction.objects.values_list("uid", flat=True)))
        uids = [uid for uid, d in queue.directorates_of(settings, corrected).items()
                if d in scope.directorates]
    return permissions.corrections_in(found, scope, uids)


@require(*ALL_ROLES)
def findings_queue(request: HttpRequest) -> HttpResponse:
    """``/gestion/``: the open findings of the account's scope, by severity and rule."""
    account = _account(request)
    scope = permissions.perimeter(account)
    settings = _settings()
    severity = request.GET.get("gravite") or None
    rule = request.GET.get("regle") or None
    buyer = _buyer_filter(request)
    directorate = _directorate_filter(request)
    page = _int(request.GET.get("page"))
    try:
        result = queue.open_findings(settings, scope, severity=severity, rule=rule, buyer=buyer,
                                     directorate=directorate, page=page, size=PAGE_SIZE)
        directorates = queue.directorates(settings)
        stale = _scoped_corrections(settings, scope,
                                    Correction.objects.filter(status=Status.STALE)).count()
    except WarehouseMissing as error:
        return render(request, "stewardship/file.html", {"missing": error}, status=503)
    state = {k: v for k, v in (("gravite", severity), ("regle", rule), ("acheteur", buyer),
                               ("direction", directorate)) if v}
    labels = {d["directorate_id"]: d["label"] for d in directorates}
    return render(request, "stewardship/file.html", {
        **result, "filters": state, "query": urlencode(state), "stale_count": stale,
        "scope": scope, "scope_words": _perimeter_words(scope, labels), "fields": FIELDS,
        "directorates": directorates, "directorate_labels": labels,
        "may_correct": account.role in (Role.ADMINISTRATOR, Role.STEWARD),
        "back": request.get_full_path(),
    })


def _contract_context(request: HttpRequest, uid: str) -> dict[str, Any] | HttpResponse:
    account = _account(request)
    state = queue.contract_state(_settings(), uid)
    if state is None:
        raise Http404("Marché inconnu")
    history = list(Correction.objects.filter(uid=uid).order_by("-created_at", "-pk"))
    # The contract's directorate now, and those its corrections in force were made under (an
    # exclusion or a new CPV code may have taken it out of its steward's directorate).
    directorates = {state["directorate_id"]} | {
        c.directorate_id for c in history if c.status in CURRENT and c.directorate_id}
    if not any(permissions.sees(account, state["buyer_siret"], d) for d in directorates):
        return forbidden(request, "Ce marché n'est pas dans votre périmètre.")
    current = {(c.action, c.field, c.rule_id): c for c in history if c.status in CURRENT}
    primary = state["primary"] or {}
    contract = state["contract"] or {}
    rows: list[dict[str, Any]] = []
    for f in FIELDS.values():
        corr = current.get((Action.SET_VALUE, f.name, ""))
        rows.append({
            "field": f, "source": primary.get(f.raw_column),
            "value": contract.get(f.contract_column) if f.contract_column
            else contract.get("buyer_name"),
            "correction": corr,
            "applied": state["applied"].get(corr.pk) if corr else None,
        })
    findings = state["findings"]
    for f in findings:
        f["correction"] = current.get((Action.NOT_A_DEFECT, f["field"], f["rule_id"]))
        f["correctable"] = f["field"] in FIELDS
    return {
        **state, "uid": uid, "rows": rows, "history": history, "findings": findings,
        "exclusion": current.get((Action.EXCLUDE, "", "")),
        "may_correct": any(permissions.may_correct(account, state["buyer_siret"], d)
                           for d in directorates),
        "focus": request.GET.get("constat") or request.POST.get("constat") or "",
        "chosen": next((r for r in rows if r["field"].name == (
            request.GET.get("champ") or request.POST.get("champ"))), None),
        "fields": FIELDS,
    }


@require(*ALL_ROLES)
def contract(request: HttpRequest, uid: str) -> HttpResponse:
    """``/gestion/marches/<uid>/``: published and corrected values, findings, history."""
    try:
        context = _contract_context(request, uid)
    except WarehouseMissing as error:
        return render(request, "stewardship/file.html", {"missing": error}, status=503)
    if isinstance(context, HttpResponse):
        return context
    return render(request, "stewardship/marche.html", context)


def _based_on(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


@require(Role.ADMINISTRATOR, Role.STEWARD)
@require_POST
def correct(request: HttpRequest, uid: str) -> HttpResponse:
    """``/gestion/marches/<uid>/corriger/`` (POST): a new value, an exclusion or "not a defect"."""
    context = _contract_context(request, uid)
    if isinstance(context, HttpResponse):
        return context
    if not context["may_correct"]:
        return forbidden(request, "Vous ne pouvez pas corriger ce marché.")
    action = request.POST.get("action") or ""
    field = request.POST.get("champ") or ""
    rule_id = ""
    source: str | None = None
    if action == Action.SET_VALUE:
        if field not in FIELDS:
            return _refused(request, context, "Choisissez le champ à corriger.")
        primary = context["primary"] or {}
        source = primary.get(FIELDS[field].raw_column)
    elif action == Action.NOT_A_DEFECT:
        found = queue.finding(_settings(), request.POST.get("constat") or "")
        if found is None or found["uid"] != uid:
            return _refused(request, context, "Ce constat n'existe plus dans l'entrepôt en "
                            "service : rechargez la page.")
        if found["severity"] == "bloquant":
            return _refused(request, context, BLOCKING)
        field, rule_id, source = found["field"], found["rule_id"], found["raw_value"]
    try:
        created = services.correct(
            request.user, uid=uid, buyer_siret=context["buyer_siret"], action=action,
            field=field, rule_id=rule_id, source_value=source,
            new_value=request.POST.get("valeur"), reason=request.POST.get("motif") or "",
            based_on=_based_on(request.POST.get("base")),
            directorate=context["directorate_id"])
    except services.Conflict as error:
        fresh = _contract_context(request, uid)
        if isinstance(fresh, HttpResponse):
            return fresh
        return _refused(request, {**fresh, "conflict": error}, error.message, status=409)
    except services.StewardshipError as error:
        return _refused(request, context, error.message)
    messages.success(request, f"Correction {created.pk} enregistrée : elle sera appliquée à "
                     "la prochaine construction de l'entrepôt.")
    return HttpResponseRedirect(f"/gestion/marches/{uid}/")


BLOCKING = ("Un constat bloquant ne se marque pas « pas un défaut » (l'enregistrement resterait "
            "écarté) : corrigez la valeur ou excluez le marché.")
MAX_BULK = 200


@require(Role.ADMINISTRATOR, Role.STEWARD)
@require_POST
def bulk_not_a_defect(request: HttpRequest) -> HttpResponse:
    """``/gestion/constats/pas-un-defaut/`` (POST): several non-blocking findings of the scope
    accepted as right at once, with one reason. Anything else is left as it is, and said."""
    account = _account(request)
    chosen = request.POST.getlist("constat")[:MAX_BULK]
    reason = request.POST.get("motif") or ""
    done = skipped = 0
    settings = _settings()
    if not reason.strip():
        messages.error(request, "Le motif est obligatoire.")
        chosen = []
    for finding_id in chosen:
        found = queue.finding(settings, finding_id)
        if (found is None or not found["uid"] or found["severity"] == "bloquant"
                or not permissions.may_correct(account, found["buyer_siret"],
                                               found["directorate_id"])):
            skipped += 1
            continue
        try:
            services.correct(request.user, uid=found["uid"], buyer_siret=found["buyer_siret"],
                             action=Action.NOT_A_DEFECT, field=found["field"],
                             rule_id=found["rule_id"], source_value=found["raw_value"],
                             reason=reason, based_on=None,
                             directorate=found["directorate_id"])
            done += 1
        except services.StewardshipError:
            skipped += 1
    if chosen:
        messages.success(request, f"{done} constat(s) marqué(s) « pas un défaut »"
                         + (f", {skipped} laissé(s) tel(s) quel(s) (déjà traités, bloquants ou "
                            "hors périmètre)" if skipped else "") + ".")
    back = request.POST.get("retour") or "/gestion/"
    if not back.startswith("/gestion/") or not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}):
        back = "/gestion/"
    return HttpResponseRedirect(back)


def _refused(request: HttpRequest, context: Any, message: str, status: int = 400
             ) -> HttpResponse:
    return render(request, "stewardship/marche.html", {
        **context, "error": message, "posted": request.POST}, status=status)


@require(*ALL_ROLES)
def corrections(request: HttpRequest) -> HttpResponse:
    """``/gestion/corrections/``: corrections of the scope, those to review first."""
    account = _account(request)
    status = request.GET.get("statut") or ""
    found = Correction.objects.all().order_by("-created_at", "-pk")
    if status in Status.values:
        found = found.filter(status=status)
    try:
        found = _scoped_corrections(_settings(), permissions.perimeter(account), found)
    except WarehouseMissing as error:
        return render(request, "stewardship/file.html", {"missing": error}, status=503)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "stewardship/corrections.html", {
        "page": page, "status": status, "statuses": Status.choices,
        "may_revert": account.role in (Role.ADMINISTRATOR, Role.STEWARD),
    })


def _corrections_filtered(settings: Settings, scope: permissions.Perimeter, found: Any,
                          buyer: str | None, directorate: str | None) -> Any:
    """The corrections of a perimeter, narrowed to the page's buyer and directorate filters."""
    found = _scoped_corrections(settings, scope, found)
    if buyer:
        found = found.filter(buyer_siret__startswith=buyer)
    if directorate:
        corrected = sorted(set(found.values_list("uid", flat=True)))
        found = found.filter(uid__in=[u for u, d in queue.directorates_of(
            settings, corrected).items() if d == directorate])
    return found


def _history_scope(scope: permissions.Perimeter, buyer: str | None, directorate: str | None
                   ) -> tuple[str, str] | None:
    """The scope whose quality history the dashboard shows: the chosen buyer or directorate,
    else everything (administrators, readers) or a steward's only scope entry."""
    if directorate:
        return ("directorate", directorate)
    if buyer:
        return ("buyer", buyer)
    if scope.everything:
        return ("total", "")
    entries = scope.entries
    if len(entries) == 1:
        kind, value = entries[0]
        return ("buyer" if kind == "acheteur" else "directorate", value)
    return None


def _perimeter_words(scope: permissions.Perimeter, labels: dict[str, str]) -> str:
    """A perimeter in words (French), for the pages."""
    if scope.everything:
        return "tous les acheteurs"
    words = [f"acheteur ou cantine {b}" for b in scope.buyers]
    words += [f"direction « {labels.get(d, d)} »"
              + ("" if d in labels else " (inconnue de l'entrepôt en service : aucun marché)")
              for d in scope.directorates]
    return ", ".join(words) or "aucun (demandez un périmètre à un administrateur)"


def _history_rows(series: list[dict[str, Any]]) -> dict[str, Any]:
    """The history table (newest first) and its charts (builds on the horizontal axis)."""
    validity = charts.series([(r["build_id"], r["validity"]) for r in series], "percent",
                             label="Marchés sans défaut, construction après construction")
    completeness = charts.series(
        [(r["build_id"], r["completeness"]) for r in series], "percent",
        label="Complétude des champs clés, construction après construction")
    for chart, ident in ((validity, "courbe-validite"), (completeness, "courbe-completude")):
        if chart is not None:
            chart["id"] = ident
    return {"history": list(reversed(series)), "history_validity": validity,
            "history_completeness": completeness}


@require(*ALL_ROLES)
def dashboard(request: HttpRequest) -> HttpResponse:
    """``/gestion/tableau/``: completeness and validity by year, per buyer and directorate,
    their history over the builds, findings closed, corrections made. A steward sees its own
    perimeter only; asking for a buyer or directorate outside it is refused (403)."""
    account = _account(request)
    scope = permissions.perimeter(account)
    settings = _settings()
    buyer = _buyer_filter(request)
    directorate = _directorate_filter(request)
    if buyer and not scope.covers_buyer(buyer):
        return forbidden(request, "Cet acheteur n'est pas dans votre périmètre.")
    if directorate and not (scope.everything or directorate in scope.directorates):
        return forbidden(request, "Cette direction n'est pas dans votre périmètre.")
    chosen = _history_scope(scope, buyer, directorate)
    try:
        result = queue.dashboard(settings, scope, buyer, directorate)
        directorates = queue.directorates(settings)
        series = queue.quality_series(settings, *chosen) if chosen else []
        made = _corrections_filtered(settings, scope, Correction.objects.all(), buyer,
                                     directorate)
    except WarehouseMissing as error:
        return render(request, "stewardship/file.html", {"missing": error}, status=503)
    by_month: dict[str, dict[str, int]] = {}
    for c in made.only("created_at", "action"):
        month = timezone.localtime(c.created_at).strftime("%Y-%m")
        counts = by_month.setdefault(month, {a: 0 for a in Action.values})
        counts[c.action] += 1
    labels = {d["directorate_id"]: d["label"] for d in directorates}
    for row in result["by_buyer"]:
        row["linkable"] = scope.covers_buyer(row["key"])
    for row in result["by_directorate"]:
        row["linkable"] = scope.everything or row["key"] in scope.directorates
    return render(request, "stewardship/tableau.html", {
        **result, **_history_rows(series), "buyer": buyer or "", "directorate": directorate,
        "directorate_label": labels.get(directorate or "", directorate),
        "directorates": directorates, "directorate_labels": labels, "scope": scope,
        "scope_words": _perimeter_words(scope, labels), "chosen": chosen,
        "actions": Action.choices, "by_month": sorted(by_month.items(), reverse=True),
    })


@require(Role.ADMINISTRATOR, Role.STEWARD)
@require_POST
def revert(request: HttpRequest, correction_id: int) -> HttpResponse:
    """``/gestion/corrections/<id>/annuler/`` (POST, with a reason)."""
    account = _account(request)
    correction = get_object_or_404(Correction, pk=correction_id)
    directorate = None
    if account.role == Role.STEWARD and permissions.perimeter(account).directorates:
        try:
            directorate = queue.directorates_of(_settings(), [correction.uid]).get(
                correction.uid)
        except WarehouseMissing:
            directorate = None
    if not (permissions.may_correct(account, correction.buyer_siret, directorate)
            or permissions.may_correct(account, correction.buyer_siret,
                                       correction.directorate_id or None)):
        return forbidden(request, "Cette correction n'est pas dans votre périmètre.")
    try:
        services.revert(request.user, correction, request.POST.get("motif") or "")
    except services.StewardshipError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Correction {correction.pk} annulée : la valeur publiée "
                         "reviendra à la prochaine construction.")
    back = request.POST.get("retour") or f"/gestion/marches/{correction.uid}/"
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/gestion/corrections/"
    return HttpResponseRedirect(back)


AUDIT_COLUMNS = ["id", "at", "actor_name", "action", "object_type", "object_id", "summary",
                 "details"]


@require(Role.ADMINISTRATOR)
def audit_trail(request: HttpRequest, fmt: str | None = None) -> HttpResponse:
    """``/gestion/journal/`` and its CSV: every change made by a person, newest first."""
    events = AuditEvent.objects.all().order_by("-at", "-id")
    action = request.GET.get("action") or ""
    if action:
        events = events.filter(action=action)
    if fmt == "csv":
        rows = [{"id": e.pk, "at": timezone.localtime(e.at).isoformat(), "actor_name":
                 e.actor_name, "action": e.action, "object_type": e.object_type,
                 "object_id": e.object_id, "summary": e.summary, "details": e.details}
                for e in events.iterator()]
        response = csv_response(rows, AUDIT_COLUMNS, "journal.csv")
        response["Cache-Control"] = "no-store"
        return response
    actions = sorted(AuditEvent.objects.values_list("action", flat=True).distinct())
    return render(request, "stewardship/journal.html", {
        "page": Paginator(events, 100).get_page(request.GET.get("page")),
        "action": action, "actions": actions,
    })


@require(Role.ADMINISTRATOR)
def status(request: HttpRequest) -> HttpResponse:
    """``/gestion/etat/``: loads, builds and their failures, reconciliation."""
    settings = _settings()
    report = reports.status(settings)
    builds = Catalog(settings.catalog_path).builds(limit=20, steps=True)
    return render(request, "stewardship/etat.html", {
        **report, "builds": builds, "failures": [b for b in builds if b["status"] == "failed"],
        "stale": Correction.objects.filter(status=Status.STALE).count(),
        "active": Correction.objects.filter(status=Status.ACTIVE).count(),
    })


@require(*ALL_ROLES)
def sources(request: HttpRequest) -> HttpResponse:
    """``/gestion/sources/``: the health of every source the profile declares (collection)."""
    from observatoire.collect.health import health
    from observatoire.collect.sources import sources_file

    settings = _settings()
    rows = health(settings)
    return render(request, "stewardship/sources.html", {
        "sources": rows, "file": sources_file(settings),
        "late": sum(1 for r in rows if r["late"]),
        "failing": sum(1 for r in rows if r["failing"])})


@require(Role.ADMINISTRATOR)
def accounts(request: HttpRequest) -> HttpResponse:
    """``/gestion/comptes/``: accounts, roles and scopes; an administrator creates one here."""
    provider = oidc.configured()
    context: dict[str, Any] = {"roles": Role.choices,
                               "provider": provider.name if provider else "",
                               "directorates": _directorates(), "profile_name": _profile_name()}
    if request.method == "POST":
        scopes = [s for s in (request.POST.get("perimetres") or "").split() if s]
        # no password: the account signs in only through the provider (when there is one)
        password = request.POST.get("mot_de_passe") or ("" if provider is None else None)
        try:
            created = services.create_account(
                request.user, (request.POST.get("identifiant") or "").strip(),
                password, request.POST.get("role") or "", scopes, _directorates(),
                email=request.POST.get("email") or "")
        except services.StewardshipError as error:
            context.update(error=error.message, hint=error.hint, posted=request.POST)
        else:
            messages.success(request, f"Compte « {created.user.get_username()} » créé.")
            return HttpResponseRedirect("/gestion/comptes/")
    context["accounts"] = (Account.objects.select_related("user").prefetch_related("scopes")
                           .order_by("user__username"))
    if provider is not None:  # who the provider vouched for but has no account here
        context["refused"] = (SignInFailure.objects.filter(
            username__startswith="oidc:", at__gte=timezone.now() - timedelta(days=30))
            .exclude(username="oidc:?").order_by("-at")[:20])
    return render(request, "stewardship/comptes.html", context,
                  status=400 if "error" in context else 200)


@require(Role.ADMINISTRATOR)
@require_POST
def account_change(request: HttpRequest, account_id: int) -> HttpResponse:
    """``/gestion/comptes/<id>/`` (POST): role, scopes, active or not."""
    account = get_object_or_404(Account.objects.select_related("user"), pk=account_id)
    scopes = [s for s in (request.POST.get("perimetres") or "").split() if s]
    try:
        services.update_account(request.user, account, request.POST.get("role") or "",
                                scopes, request.POST.get("actif") == "oui", _directorates(),
                                email=request.POST.get("email"))
    except services.StewardshipError as error:
        messages.error(request, f"{error.message} {error.hint}".strip())
    else:
        messages.success(request, f"Compte « {account.user.get_username()} » à jour.")
    return HttpResponseRedirect("/gestion/comptes/")


def _domains() -> dict[str, str]:
    return {d.id: d.label for d in load_profile(_settings().profile).domains}


def _directorates() -> dict[str, str]:
    """The deployment profile's directorates (id → label), which ``direction:`` scopes name."""
    return {d.id: d.label for d in load_profile(_settings().profile).directorates}


def _profile_name() -> str:
    profile = load_profile(_settings().profile)
    return profile.name or profile.id
