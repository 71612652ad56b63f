"""The indicator targets page, ``/gestion/cibles/``: the targets in force and where each comes
from (the profile's files or a change made here), the form to change or withdraw one, and the
history of the changes.

Only administrators change targets (they are the scheme's political commitments, voted by the
organisation: a steward's perimeter is data, not policy); stewards and readers read the page.
A change applies at the next build (``observatoire build`` or ``observatoire indicators``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from observatoire import formatting
from observatoire.indicators.compute import BASIS_LABELS
from observatoire.indicators.profile import COMPARATORS, Profile, load_profile
from observatoire.indicators.targets import apply_changes
from observatoire.stewardship import services
from observatoire.stewardship.models import Role, TargetChange, TargetChangeStatus
from observatoire.stewardship.views import (
    ALL_ROLES,
    _account,
    _settings,
    forbidden,
    require,
)

URL = "/gestion/cibles/"


def _as_row(c: TargetChange) -> dict[str, Any]:
    return {"id": c.pk, "indicator_id": c.indicator_id, "basis": c.basis,
            "target_date": c.target_date, "action": c.action, "value": c.value,
            "comparator": c.comparator, "from_date": c.from_date, "source": c.source,
            "label": c.label, "reason": c.reason, "created_at": c.created_at,
            "status": c.status}


def _targets_in_force(profile: Profile) -> list[dict[str, Any]]:
    """Every indicator (latest version) with its targets as the next build will apply them."""
    active = list(TargetChange.objects.filter(status=TargetChangeStatus.ACTIVE)
                  .order_by("created_at", "pk"))
    by_id = {c.pk: c for c in active}
    effective, _ = apply_changes(profile, [_as_row(c) for c in active])
    out = []
    for ind in effective.indicators:
        if effective.indicator(ind.id) is not ind:
            continue  # an older version
        withdrawn = [c for c in active if c.indicator_id == ind.id and c.action == "withdraw"]
        if not ind.targets and not withdrawn and ind.kind != "target":
            continue
        rows = []
        for t in ind.targets:
            change = by_id.get(t.change_id) if t.change_id else None
            rows.append({
                "basis": t.basis, "basis_label": BASIS_LABELS.get(t.basis, t.basis),
                "text": formatting.target(t.value, t.comparator, t.date, ind.unit),
                "from_date": t.from_date, "date": t.date, "label": t.label,
                "source": t.source, "change": change,
                "value_as_written": round(t.value * 100 if ind.unit == "percent" else t.value, 6),
                "comparator": t.comparator})
        out.append({"ind": ind, "targets": rows, "withdrawn": withdrawn})
    return out


def _based_on(value: str | None) -> int | None:
    """The change in force when the form was shown (empty: none)."""
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


def _date(value: str | None) -> date | None:
    """A date of a link's parameters (``AAAA-MM-JJ``); anything else pre-fills no change in
    force (« echeance=abc » was an internal error)."""
    try:
        return date.fromisoformat((value or "").strip())
    except ValueError:
        return None


@require(*ALL_ROLES)
def targets(request: HttpRequest) -> HttpResponse:
    """``/gestion/cibles/``: the targets in force; an administrator changes one (POST)."""
    account = _account(request)
    profile = load_profile(_settings().profile)
    context: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        if account.role != Role.ADMINISTRATOR:
            return forbidden(request, "Seul un administrateur change les cibles des "
                             "indicateurs.")
        post = request.POST
        try:
            change = services.change_target(
                request.user, profile, indicator_id=post.get("indicateur") or "",
                basis=post.get("base") or "", target_date=post.get("echeance") or "",
                action="withdraw" if post.get("action") == "retirer" else "set",
                value=post.get("valeur") or "", comparator=post.get("comparateur") or "",
                from_date=post.get("debut") or "", source=post.get("source") or "",
                label=post.get("libelle") or "", reason=post.get("motif") or "",
                based_on=_based_on(post.get("en_vigueur")))
        except services.Conflict as error:
            context.update(error=f"{error.message} {error.hint}".strip(), posted=post)
            status = 409
        except services.StewardshipError as error:
            context.update(error=f"{error.message} {error.hint}".strip(), posted=post)
            status = 400
        else:
            messages.success(request, f"Changement de cible {change.pk} enregistré : il "
                             "s'appliquera à la prochaine construction de l'entrepôt.")
            return HttpResponseRedirect(URL)
    # the form, pre-filled from a row's « Modifier » link (GET) or from what was posted
    prefill = context.get("posted") or request.GET
    in_force = None
    deadline = _date(prefill.get("echeance"))
    if request.method == "GET" and prefill.get("indicateur") and deadline:
        in_force = TargetChange.objects.filter(
            indicator_id=prefill.get("indicateur"), basis=prefill.get("base") or "",
            target_date=deadline, status=TargetChangeStatus.ACTIVE).first()
    latest = [i for i in profile.indicators if profile.indicator(i.id) is i]
    context.update(
        rows=_targets_in_force(profile),
        indicators=sorted(latest, key=lambda i: (i.code, i.id)),
        bases=BASIS_LABELS, comparators={k: formatting.COMPARATORS[k] for k in COMPARATORS},
        form=prefill, in_force=(in_force.pk if in_force else prefill.get("en_vigueur") or ""),
        history=[(c, services.describe_target(profile, c.indicator_id, c.value,
                                              c.comparator, None))
                 for c in TargetChange.objects.all().order_by("-created_at", "-pk")[:200]],
        may_change=account.role == Role.ADMINISTRATOR, organisation=profile.organisation,
    )
    return render(request, "stewardship/cibles.html", context, status=status)


@require(Role.ADMINISTRATOR)
@require_POST
def revert(request: HttpRequest, change_id: int) -> HttpResponse:
    """``/gestion/cibles/<id>/annuler/`` (POST, with a reason): the profile's target comes
    back at the next build."""
    change = get_object_or_404(TargetChange, pk=change_id)
    try:
        services.revert_target_change(request.user, load_profile(_settings().profile), change,
                                      request.POST.get("motif") or "")
    except services.StewardshipError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Changement de cible {change.pk} annulé : la cible du "
                         "profil s'appliquera de nouveau à la prochaine construction.")
    return HttpResponseRedirect(URL)
