"""Changes people make: corrections, reverts and accounts, each written with its audit event.

Two stewards editing the same field: each save names the correction it was based on (none, or
the one in force when the form was shown). A save based on something that changed meanwhile is
refused with the other change (``Conflict``); the database's partial unique index
``one_current_correction`` stops two simultaneous first saves from both landing.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from observatoire import formatting
from observatoire.egalim.labels import normalise_label
from observatoire.errors import ObservatoireError
from observatoire.indicators.compute import BASIS_LABELS
from observatoire.indicators.profile import COMPARATORS, Profile, Target
from observatoire.stewardship.fields import FIELDS, InvalidValue, normalise
from observatoire.stewardship.models import (
    CURRENT,
    Account,
    Action,
    AuditEvent,
    Correction,
    Mapping,
    MappingKind,
    MappingStatus,
    Role,
    Scope,
    ScopeKind,
    Status,
    TargetAction,
    TargetChange,
    TargetChangeStatus,
)


class StewardshipError(ObservatoireError):
    """A change that cannot be made as asked (the message says why, in French)."""


class Conflict(StewardshipError):
    """Someone else changed the same thing since the form was shown."""

    other: Correction | None = None


def _reason(reason: str | None, message: str = "Le motif est obligatoire.",
            hint: str = "") -> str:
    """The reason given, stripped; every change says why, or is refused with ``message``."""
    reason = (reason or "").strip()
    if not reason:
        raise StewardshipError(message, hint=hint)
    return reason


def _close(model: Any, pk: int, statuses: Any, status: str, user: Any, reason: str) -> bool:
    """Close a correction or target change still in one of ``statuses`` (superseded, reverted).
    The check is in the UPDATE itself: of two people acting at once, only one closes it."""
    return bool(model.objects.filter(pk=pk, status__in=list(statuses)).update(
        status=status, closed_at=timezone.now(), closed_by_name=user.get_username(),
        closed_reason=reason))


def audit(actor: Any, event: str, object_type: str, object_id: str, summary: str,
          details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event to the audit trail (``actor``: a user, or a text such as
    « ligne de commande »)."""
    person = actor if getattr(actor, "pk", None) else None
    return AuditEvent.objects.create(
        actor=person, actor_name=person.get_username() if person else str(actor),
        action=event, object_type=object_type, object_id=object_id, summary=summary,
        details=details or {},
    )


def describe(c: Correction) -> str:
    """A correction in words (French), for messages and the audit trail."""
    when = timezone.localtime(c.created_at).strftime("%d/%m/%Y à %H:%M")
    if c.action == Action.SET_VALUE:
        what = f"« {c.field} » = « {c.new_value} » (publié : « {c.source_value or ''} »)"
    elif c.action == Action.EXCLUDE:
        what = "marché à exclure"
    else:
        what = f"constat {c.rule_id} sur « {c.field} » : pas un défaut"
    return f"{c.author_name}, le {when} : {what} — motif : {c.reason}"


def correct(
    user: Any, *, uid: str, buyer_siret: str, action: str, field: str = "", rule_id: str = "",
    source_value: str | None = None, new_value: str | None = None, reason: str,
    based_on: int | None, directorate: str | None = None,
) -> Correction:
    """Record a correction in force, superseding the one it was based on."""
    reason = _reason(reason, hint="Dites pourquoi vous corrigez.")
    if action not in Action.values:
        raise StewardshipError("Action inconnue.")
    if action == Action.SET_VALUE:
        if field not in FIELDS:
            raise StewardshipError(f"Le champ « {field} » ne se corrige pas ici.")
        try:
            new_value = normalise(FIELDS[field], new_value or "")
        except InvalidValue as exc:
            raise StewardshipError(str(exc), where=FIELDS[field].label) from None
        if new_value == source_value:
            raise StewardshipError("La nouvelle valeur est celle que publie déjà la source.")
    elif action == Action.EXCLUDE:
        field, rule_id, source_value, new_value = "", "", None, None
    else:
        new_value = None
    key = {"uid": uid, "action": action, "field": field, "rule_id": rule_id}
    with transaction.atomic():
        current = (Correction.objects.select_for_update()
                   .filter(**key, status__in=CURRENT).first())
        if (current.pk if current else None) != based_on:
            raise _conflict(current, key)
        if current is not None and not _close(Correction, current.pk, CURRENT,
                                              Status.SUPERSEDED, user, reason):
            raise _conflict(None, key)
        try:
            with transaction.atomic():
                created = Correction.objects.create(
                    **key, buyer_siret=buyer_siret, directorate_id=directorate or "",
                    source_value=source_value,
                    new_value=new_value, reason=reason, author=user,
                    author_name=user.get_username(), supersedes=current)
        except IntegrityError:
            raise _conflict(Correction.objects.filter(**key, status__in=CURRENT).first(),
                            key) from None
        audit(user, "correction_created", "correction", str(created.pk),
              f"Correction {created.pk} sur le marché {uid} : {describe(created)}",
              {"uid": uid, "action": action, "field": field, "rule_id": rule_id,
               "source_value": source_value, "new_value": new_value, "reason": reason,
               "supersedes": current.pk if current else None})
    return created


def _conflict(current: Correction | None, key: dict[str, str]) -> Conflict:
    other = current or Correction.objects.filter(**key).order_by("-created_at", "-pk").first()
    if other is None:
        message = "Ce champ a changé depuis l'affichage de la page."
    elif other.status in CURRENT:
        message = f"Un autre changement a été enregistré entre-temps : {describe(other)}."
    else:
        message = (f"La correction sur laquelle vous vous appuyiez a été "
                   f"{other.status_label} entre-temps ({describe(other)}).")
    error = Conflict(message, hint="Votre modification n'a pas été enregistrée : relisez la "
                     "valeur en vigueur, puis recommencez si elle reste nécessaire.")
    error.other = other
    return error


def revert(user: Any, correction: Correction, reason: str) -> None:
    """Stop applying a correction: the source value comes back at the next build."""
    reason = _reason(reason, "Le motif est obligatoire pour annuler une correction.")
    with transaction.atomic():
        if not _close(Correction, correction.pk, CURRENT, Status.REVERTED, user, reason):
            correction.refresh_from_db()
            raise Conflict(f"Cette correction n'est plus en vigueur "
                           f"({correction.status_label}).")
        audit(user, "correction_reverted", "correction", str(correction.pk),
              f"Correction {correction.pk} annulée sur le marché {correction.uid} — motif : "
              f"{reason}", {"uid": correction.uid, "reason": reason})


def parse_scope(text: str, directorates: dict[str, str]) -> tuple[str, str]:
    """``acheteur:233500016`` → (kind, value), or a French error. ``directorates`` are the
    profile's (id → label): a ``direction:`` scope must name one of them."""
    kind, _, value = text.partition(":")
    if kind not in ScopeKind.values or not value.strip():
        raise StewardshipError(
            f"Périmètre invalide : « {text} ».",
            hint="Écrivez type:valeur, avec type parmi " + ", ".join(ScopeKind.values)
            + " (exemple : acheteur:233500016).")
    value = value.strip()
    if kind == ScopeKind.DIRECTORATE:
        if not directorates:
            raise StewardshipError(
                f"Périmètre « {text} » impossible : le profil de déploiement ne définit "
                "aucune direction, un périmètre direction ne correspondrait à aucun marché.",
                hint="Définissez les directions dans le fichier directorates.toml du profil, "
                "ou donnez un périmètre acheteur:SIREN ou cantine:SIRET.")
        if value not in directorates:
            raise StewardshipError(
                f"Direction inconnue du profil : « {value} ».",
                hint="Directions du profil : " + ", ".join(
                    f"{k} ({v})" for k, v in directorates.items()) + ".")
    elif not (value.isdigit() and len(value) in (9, 14)):
        raise StewardshipError(f"« {value} » n'est ni un SIREN (9 chiffres) ni un SIRET (14).")
    return kind, value


def clean_email(email: str, *, other_than: Any = None) -> str:
    """An account's e-mail address, checked and unique (the provider's sign-in matches on
    it, case-insensitively); "" for none."""
    email = (email or "").strip()
    if not email:
        return ""
    try:
        validate_email(email)
    except ValidationError:
        raise StewardshipError(f"Adresse électronique invalide : « {email} ».") from None
    taken = User.objects.filter(email__iexact=email)
    if other_than is not None:
        taken = taken.exclude(pk=other_than.pk)
    if taken.exists():
        raise StewardshipError(
            f"L'adresse « {email} » est déjà celle d'un autre compte.",
            hint="Chaque compte a sa propre adresse : la connexion par le fournisseur "
            "d'identité retrouve le compte par elle.")
    return email


#: A user name: 1 to 150 letters, digits and . @ + - _ (Django's own rule, and the length
#: of its column: a longer name or a NUL character would fail in the database, PostgreSQL's
#: included, instead of being refused with a reason).
USERNAME = re.compile(r"[\w.@+-]{1,150}")


def valid_username(username: str) -> bool:
    return USERNAME.fullmatch(username) is not None


def clean_username(username: str) -> str:
    """A new account's user name, checked; else why not, in French."""
    username = (username or "").strip()
    if not username:
        raise StewardshipError("L'identifiant est obligatoire.")
    if not valid_username(username):
        shown = username.replace("\x00", "\\0")
        raise StewardshipError(
            f"Identifiant invalide : « {shown[:60]}{'…' if len(shown) > 60 else ''} »"
            + (f" ({len(username)} caractères)." if len(username) > 150 else "."),
            hint="De 1 à 150 caractères : lettres, chiffres et . @ + - _ (sans espace), "
            "par exemple « anne.martin ».")
    return username


def create_account(actor: Any, username: str, password: str | None, role: str,
                   scopes: list[str], directorates: dict[str, str] | None = None,
                   email: str = "") -> Account:
    """A new account with its role and scopes (a steward needs at least one scope);
    ``directorates``: the profile's (id → label), which ``direction:`` scopes must name.
    Without a password (None), the account signs in only through the organisation's
    provider, matched by its e-mail address, which it then needs."""
    if role not in Role.values:
        raise StewardshipError(f"Rôle inconnu : « {role} ».",
                               hint="Rôles : " + ", ".join(Role.values) + ".")
    parsed = [parse_scope(s, directorates or {}) for s in scopes]
    if role == Role.STEWARD and not parsed:
        raise StewardshipError(
            "Un gestionnaire de données a besoin d'un périmètre.",
            hint="Ajoutez un périmètre acheteur:SIREN (option --scope, plusieurs possibles).")
    username = clean_username(username)
    if User.objects.filter(username=username).exists():
        raise StewardshipError(f"Le compte « {username} » existe déjà.")
    email = clean_email(email)
    if password is None and not email:
        raise StewardshipError(
            "Un compte sans mot de passe a besoin d'une adresse électronique.",
            hint="Il se connecte par le fournisseur d'identité de l'organisation, qui le "
            "retrouve par cette adresse (option --email).")
    if password is not None:
        candidate = User(username=username, email=email)
        try:
            validate_password(password, candidate)
        except ValidationError as exc:
            raise StewardshipError("Mot de passe refusé : " + " ".join(exc.messages)) from None
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        account = Account.objects.create(user=user, role=role)
        for kind, value in parsed:
            Scope.objects.create(account=account, kind=kind, value=value)
        audit(actor, "account_created", "account", username,
              f"Compte « {username} » créé : {account.role_label}"
              + (f", périmètre {', '.join(scopes)}" if scopes else "")
              + (f", adresse {email}" if email else "")
              + ("" if password is not None else ", sans mot de passe"),
              {"role": role, "scopes": scopes, "email": email,
               "password": password is not None})
    return account


def describe_mapping(kind: str, key: str, value: str, label: str = "") -> str:
    """A mapping in words (French), for messages and the audit trail."""
    if kind == MappingKind.EGALIM_ARTICLE:
        return (f"description « {label or key} » → "
                + (f"article {value}" if value else "aucun article"))
    if kind == MappingKind.EGALIM_LABEL:
        return (f"libellé « {label or key} » → "
                + (f"label {value}" if value else "pas un label"))
    return f"CPV {key}… → {value}"


def _describe(m: Mapping) -> str:
    return describe_mapping(m.kind, m.key, m.value, m.label)


def _mapping_details(m: Mapping, reason: str, **more: Any) -> dict[str, Any]:
    return {"kind": m.kind, "key": m.key, "label": m.label, "value": m.value,
            "reason": reason, **more}


def mapping_key(kind: str, text: str) -> tuple[str, str]:
    """(key, label) of a mapping from what a person typed or chose: a CPV prefix is its key;
    a description or a raw label is decided on its normalised form, and kept as written."""
    if kind == MappingKind.CPV_DOMAIN:
        return text.strip().replace(" ", ""), ""
    label = " ".join(text.split())
    return normalise_label(label), label


def propose_mapping(user: Any, kind: str, key: str, value: str, reason: str,
                    allowed_values: dict[str, str], *,
                    details: dict[str, Any] | None = None) -> Mapping:
    """A steward proposes a mapping: a CPV prefix → a purchase domain, a description → an
    article (or ``""``: none fits), a raw matrix label → a label (or ``""``: not a label).
    ``allowed_values`` are the values the kind may take (the profile's domains, the
    nomenclature's articles, the label codes)."""
    if kind not in MappingKind.values:
        raise StewardshipError("Type de correspondance inconnu.")
    key, label = mapping_key(kind, key)
    reason = _reason(reason)
    if kind == MappingKind.CPV_DOMAIN:
        if not (key.isdigit() and 2 <= len(key) <= 8):
            raise StewardshipError(f"« {key} » n'est pas un début de code CPV (2 à 8 chiffres).")
        if value not in allowed_values:
            raise StewardshipError(f"Domaine d'achat inconnu du profil : « {value} ».")
        what = f"le CPV {key}"
    else:
        if not key:
            raise StewardshipError("La description ou le libellé est vide.")
        if len(key) > 300 or len(label) > 300:
            raise StewardshipError("Texte trop long (300 caractères au plus).")
        value = (value or "").strip()
        if value and value not in allowed_values:
            raise StewardshipError(
                f"« {value} » n'est pas "
                + ("un article de la nomenclature." if kind == MappingKind.EGALIM_ARTICLE
                   else "un label connu."))
        what = f"« {label} »"
    try:
        with transaction.atomic():
            mapping = Mapping.objects.create(kind=kind, key=key, label=label, value=value,
                                             reason=reason, details=details or {},
                                             proposed_by_name=user.get_username())
            audit(user, "mapping_proposed", "mapping", str(mapping.pk),
                  f"Proposition {mapping.pk} : {_describe(mapping)} — motif : {reason}",
                  _mapping_details(mapping, reason, **(details or {})))
    except IntegrityError:
        raise StewardshipError(f"Une proposition pour {what} attend déjà une décision.",
                               hint="Faites-la décider ou retirer d'abord.") from None
    return mapping


def _supersede(mapping: Mapping) -> Mapping | None:
    """The mapping in force for the same kind and key, now superseded (its decision date
    stays; the audit trail says when it was replaced)."""
    current = (Mapping.objects.select_for_update()
               .filter(kind=mapping.kind, key=mapping.key, status=MappingStatus.ACCEPTED)
               .exclude(pk=mapping.pk).first())
    if current is not None:
        Mapping.objects.filter(pk=current.pk).update(status=MappingStatus.SUPERSEDED)
    return current


def decide_mapping(user: Any, mapping: Mapping, accept: bool, reason: str) -> None:
    """An administrator accepts (it then applies at every build, replacing the mapping in
    force for the same key) or rejects a proposal."""
    reason = _reason(reason, "Le motif de la décision est obligatoire.")
    now = timezone.now()
    try:
        with transaction.atomic():
            _decide(user, mapping, accept, reason, now)
    except IntegrityError:
        # another mapping for the key was put in force at the same moment (the command line)
        raise Conflict("Une autre correspondance pour ce code ou ce texte vient d'être mise "
                       "en vigueur.", hint="Rechargez la page et décidez de nouveau.") from None


def _decide(user: Any, mapping: Mapping, accept: bool, reason: str, now: Any) -> None:
    replaced = _supersede(mapping) if accept else None
    status = MappingStatus.ACCEPTED if accept else MappingStatus.REJECTED
    done = Mapping.objects.filter(pk=mapping.pk, status=MappingStatus.PROPOSED).update(
        status=status, decided_by_name=user.get_username(), decided_at=now,
        decision_reason=reason)
    if not done:
        raise Conflict("Cette proposition a déjà été décidée ou retirée.")
    audit(user, "mapping_accepted" if accept else "mapping_rejected", "mapping",
          str(mapping.pk),
          f"Proposition {mapping.pk} ({_describe(mapping)}) "
          f"{'acceptée' if accept else 'refusée'} — motif : {reason}"
          + (f" ; remplace la correspondance {replaced.pk}" if replaced else ""),
          _mapping_details(mapping, reason, supersedes=replaced.pk if replaced else None))


def withdraw_mapping(user: Any, mapping: Mapping, reason: str, *,
                     administrator: bool) -> None:
    """Withdraw an open proposal (its author or an administrator) or a mapping in force (an
    administrator: it no longer applies from the next build). The row stays. The statuses
    allowed are checked in the UPDATE itself: a proposal accepted meanwhile is not withdrawn
    by its author."""
    reason = _reason(reason, "Le motif est obligatoire pour retirer une correspondance.")
    statuses = ((MappingStatus.PROPOSED, MappingStatus.ACCEPTED) if administrator
                else (MappingStatus.PROPOSED,))
    allowed = Mapping.objects.filter(pk=mapping.pk, status__in=statuses)
    if not administrator:
        allowed = allowed.filter(proposed_by_name=user.get_username())
    with transaction.atomic():
        done = allowed.update(status=MappingStatus.WITHDRAWN,
                              decided_by_name=user.get_username(),
                              decided_at=timezone.now(), decision_reason=reason)
        if not done:
            mapping.refresh_from_db()
            raise Conflict(f"Cette correspondance est déjà {mapping.status_label}.")
        audit(user, "mapping_withdrawn", "mapping", str(mapping.pk),
              f"Correspondance {mapping.pk} ({_describe(mapping)}, {mapping.status_label}) "
              f"retirée — motif : {reason}",
              _mapping_details(mapping, reason, was=mapping.status))


def record_decision(actor_name: str, kind: str, text: str, value: str, reason: str,
                    details: dict[str, Any] | None = None, *, at: Any = None,
                    event: str = "mapping_decided") -> Mapping | None:
    """A mapping decided at once by an administrator outside the pages (the command line, the
    import of the legacy decisions file): proposed and accepted in one step, replacing the
    mapping in force for the key. An open proposal of the same value is accepted instead; one
    of another value stays open. Nothing is written (None) when the mapping in force already
    says the same."""
    key, label = mapping_key(kind, text)
    when = at or timezone.now()
    details = details or {}
    with transaction.atomic():
        current = (Mapping.objects.select_for_update()
                   .filter(kind=kind, key=key, status=MappingStatus.ACCEPTED).first())
        if current is not None and current.value == value:
            return None
        proposal = Mapping.objects.filter(kind=kind, key=key, status=MappingStatus.PROPOSED,
                                          value=value).first()
        replaced = _supersede(proposal or Mapping(kind=kind, key=key))
        # The open proposal is accepted only if it is still open (the UPDATE checks it: an
        # administrator may have decided it on the site meanwhile); else a mapping of its own.
        if proposal is not None and Mapping.objects.filter(
                pk=proposal.pk, status=MappingStatus.PROPOSED).update(
                    status=MappingStatus.ACCEPTED, decided_by_name=actor_name,
                    decided_at=when, decision_reason=reason):
            mapping = proposal
        else:
            mapping = Mapping.objects.create(
                kind=kind, key=key, label=label, value=value, reason=reason, details=details,
                proposed_by_name=actor_name, proposed_at=when, status=MappingStatus.ACCEPTED,
                decided_by_name=actor_name, decided_at=when, decision_reason=reason)
        audit(actor_name, event, "mapping", str(mapping.pk),
              f"Correspondance {mapping.pk} décidée par {actor_name} "
              f"({details.get('via', 'hors du site')}) : {_describe(mapping)} — motif : "
              f"{reason}" + (f" ; remplace la correspondance {replaced.pk}" if replaced else ""),
              _mapping_details(mapping, reason, supersedes=replaced.pk if replaced else None,
                               decided_at=when.isoformat(), **details))
    return mapping


def end_sessions(user: Any) -> int:
    """End every session of ``user`` (a deactivated account): Django would refuse them while
    the account is inactive, but they would come back to life if it were reactivated. Sessions
    are stored signed, not by user: each live one is read (a few hundred at most)."""
    from django.contrib.sessions.models import Session

    ended = [s.pk for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
             if s.get_decoded().get("_auth_user_id") == str(user.pk)]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)


def update_account(actor: Any, account: Account, role: str, scopes: list[str],
                   active: bool, directorates: dict[str, str] | None = None,
                   email: str | None = None) -> None:
    """Change an account's role, scopes, activity or e-mail address (None: unchanged); an
    account is never deleted."""
    if role not in Role.values:
        raise StewardshipError(f"Rôle inconnu : « {role} ».")
    parsed = sorted({parse_scope(s, directorates or {}) for s in scopes})
    if role == Role.STEWARD and not parsed:
        raise StewardshipError("Un gestionnaire de données a besoin d'un périmètre.")
    if account.user.pk == getattr(actor, "pk", None) and (
            not active or role != Role.ADMINISTRATOR):
        raise StewardshipError("Vous ne pouvez ni désactiver votre propre compte ni retirer "
                               "votre propre rôle d'administrateur.",
                               hint="Demandez-le à un autre administrateur.")
    before = {"role": account.role, "active": account.user.is_active,
              "scopes": sorted(f"{s.kind}:{s.value}" for s in account.scopes.all()),
              "email": account.user.email}
    new_email = account.user.email if email is None else clean_email(
        email, other_than=account.user)
    if not new_email and not account.user.has_usable_password():
        raise StewardshipError("Ce compte n'a pas de mot de passe : il garde son adresse "
                               "électronique, par laquelle il se connecte.")
    new_scopes = [f"{k}:{v}" for k, v in parsed]
    after = {"role": role, "active": active, "scopes": new_scopes, "email": new_email}
    if before == after:
        return
    with transaction.atomic():
        account.role = role
        account.save(update_fields=["role"])
        account.user.is_active = active
        account.user.email = new_email
        account.user.save(update_fields=["is_active", "email"])
        account.scopes.all().delete()
        for kind, value in parsed:
            Scope.objects.create(account=account, kind=kind, value=value)
        if before["active"] and not active:
            end_sessions(account.user)
        name = account.user.get_username()
        audit(actor, "account_changed", "account", name,
              f"Compte « {name} » modifié : rôle {Role(role).label}, "
              f"{'actif' if active else 'désactivé'}, périmètre "
              f"{', '.join(new_scopes) or '—'}, adresse {new_email or '—'}",
              {"before": before, "after": after})


# --- Indicator targets changed in the application ------------------------------------------
#
# Targets are the scheme's political commitments: only administrators change them (no
# proposal by stewards). The profile's files stay the default; a change in force wins for its
# indicator, basis and deadline at every build; reverting it brings the profile's target back.


def _day(value: Any, what: str, *, required: bool = True) -> date | None:
    if isinstance(value, date):
        return value
    text = (value or "").strip() if isinstance(value, str) else ""
    if not text:
        if required:
            raise StewardshipError(f"La date {what} est obligatoire.")
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise StewardshipError(f"Date {what} invalide : « {text} ».",
                               hint="Écrivez-la AAAA-MM-JJ, par exemple 2025-12-31.") from None


def profile_target(profile: Profile, indicator_id: str, basis: str,
                   deadline: date | None) -> Target | None:
    """The profile's own target of an indicator, basis and deadline (latest version)."""
    ind = profile.indicator(indicator_id)
    if ind is None:
        return None
    return next((t for t in ind.targets if t.basis == basis and t.date == deadline), None)


def describe_target(profile: Profile, indicator_id: str, value: float | None,
                    comparator: str, deadline: date | None) -> str:
    """``≥ 50,0 % au 31/12/2023``: a value as written (percent for a percentage)."""
    ind = profile.indicator(indicator_id)
    unit = ind.unit if ind else "number"
    if value is None:
        return "aucune"
    return formatting.target(value / 100 if unit == "percent" else value, comparator,
                             deadline, unit)


def _target_key(profile: Profile, indicator_id: str, basis: str, target_date: Any
                ) -> tuple[str, str, date]:
    ind = profile.indicator(indicator_id)
    if ind is None:
        raise StewardshipError(f"Indicateur inconnu du profil : « {indicator_id} ».")
    if basis not in ind.bases:
        raise StewardshipError(
            f"Base inconnue pour cet indicateur : « {basis} ».",
            hint="Bases possibles : " + ", ".join(
                f"{b} ({BASIS_LABELS.get(b, b)})" for b in ind.bases) + ".")
    deadline = _day(target_date, "d'échéance")
    assert deadline is not None
    return indicator_id, basis, deadline


def _in_force(key: tuple[str, str, date]) -> TargetChange | None:
    return (TargetChange.objects.select_for_update()
            .filter(indicator_id=key[0], basis=key[1], target_date=key[2],
                    status=TargetChangeStatus.ACTIVE).first())


def describe_change(profile: Profile, c: TargetChange) -> str:
    """A target change in words (French), for messages and the audit trail."""
    when = timezone.localtime(c.created_at).strftime("%d/%m/%Y à %H:%M")
    if c.action == TargetAction.SET:
        what = "cible " + describe_target(profile, c.indicator_id, c.value, c.comparator,
                                          c.target_date)
    else:
        what = f"cible du profil au {formatting.french_date(c.target_date)} retirée"
    return (f"{c.author_name}, le {when} : « {c.indicator_id} » "
            f"({BASIS_LABELS.get(c.basis, c.basis)}) : {what} — motif : {c.reason}")


def _target_conflict(profile: Profile, current: TargetChange | None) -> Conflict:
    message = ("La cible a changé depuis l'affichage de la page"
               + (f" : {describe_change(profile, current)}." if current else "."))
    return Conflict(message, hint="Votre modification n'a pas été enregistrée : relisez la "
                    "cible en vigueur, puis recommencez si elle reste nécessaire.")


def _previous_words(profile: Profile, unit: str, current: TargetChange | None,
                    previous: Target | None) -> str:
    """The target that was in force before a change, in words."""
    if current is not None:
        if current.action != TargetAction.SET:
            return f"aucune (cible du profil retirée par le changement {current.pk})"
        return (describe_target(profile, current.indicator_id, current.value,
                                current.comparator, current.target_date)
                + f" (changement {current.pk})")
    if previous is None:
        return "aucune"
    return formatting.target(previous.value, previous.comparator, previous.date,
                             unit) + " (profil)"


def change_target(user: Any, profile: Profile, *, indicator_id: str, basis: str,
                  target_date: Any, action: str, value: Any = None, comparator: str = "",
                  from_date: Any = None, source: str = "", label: str = "", reason: str,
                  based_on: int | None) -> TargetChange:
    """An administrator sets a target (``set``: value as written in the profile's files,
    percent for a percentage) or withdraws the profile's target (``withdraw``) for an
    indicator, basis and deadline; it supersedes the change in force it was based on."""
    reason = _reason(reason, hint="Dites pourquoi la cible change (délibération, décision…).")
    key = _target_key(profile, indicator_id, basis, target_date)
    ind = profile.indicator(indicator_id)
    assert ind is not None
    number: float | None = None
    start: date | None = None
    source = (source or "").strip()
    label = (label or "").strip()[:100]
    if action == TargetAction.SET:
        try:
            number = float(str(value).strip().replace(",", ".").replace("%", "").strip())
        except ValueError:
            raise StewardshipError(f"Valeur de cible invalide : « {value} ».",
                                   hint="Écrivez un nombre, par exemple 50.") from None
        if not math.isfinite(number):
            raise StewardshipError(f"Valeur de cible invalide : « {value} ».")
        if ind.unit == "percent" and not 0 <= number <= 100:
            raise StewardshipError("Une cible en pourcentage est entre 0 et 100.")
        if comparator not in COMPARATORS:
            raise StewardshipError(f"Comparateur inconnu : « {comparator} ».")
        start = _day(from_date, "de début", required=False)
        if start is not None and start > key[2]:
            raise StewardshipError("La date de début est postérieure à l'échéance.")
    elif action == TargetAction.WITHDRAW:
        if profile_target(profile, *key) is None:
            raise StewardshipError(
                "Le profil n'a pas de cible à cette échéance pour cet indicateur et cette base.",
                hint="Pour annuler une cible ajoutée dans l'application, annulez son "
                "changement.")
        comparator, source, label = "", "", ""
    else:
        raise StewardshipError("Action inconnue.")
    previous = profile_target(profile, *key)
    with transaction.atomic():
        current = _in_force(key)
        if (current.pk if current else None) != based_on:
            raise _target_conflict(profile, current)
        if current is not None and not _close(TargetChange, current.pk,
                                              [TargetChangeStatus.ACTIVE],
                                              TargetChangeStatus.SUPERSEDED, user, reason):
            raise _target_conflict(profile, None)
        try:
            with transaction.atomic():
                created = TargetChange.objects.create(
                    indicator_id=key[0], basis=key[1], target_date=key[2], action=action,
                    value=number, comparator=comparator, from_date=start, source=source,
                    label=label, reason=reason, author=user,
                    author_name=user.get_username(), supersedes=current)
        except IntegrityError:
            raise _target_conflict(profile, TargetChange.objects.filter(
                indicator_id=key[0], basis=key[1], target_date=key[2],
                status=TargetChangeStatus.ACTIVE).first()) from None
        was = _previous_words(profile, ind.unit, current, previous)
        audit(user, "target_set" if action == TargetAction.SET else "target_withdrawn",
              "target_change", str(created.pk),
              f"Changement de cible {created.pk} : {describe_change(profile, created)} ; "
              f"cible précédente : {was}",
              {"indicator_id": key[0], "basis": key[1], "target_date": key[2].isoformat(),
               "action": action, "value": number, "comparator": comparator,
               "from_date": start.isoformat() if start else None, "source": source,
               "label": label, "reason": reason,
               "supersedes": current.pk if current else None, "previous": was})
    return created


def revert_target_change(user: Any, profile: Profile, change: TargetChange,
                         reason: str) -> None:
    """Stop applying a target change: the profile's target (if any) comes back at the next
    build."""
    reason = _reason(reason, "Le motif est obligatoire pour annuler un changement de cible.")
    with transaction.atomic():
        if not _close(TargetChange, change.pk, [TargetChangeStatus.ACTIVE],
                      TargetChangeStatus.REVERTED, user, reason):
            change.refresh_from_db()
            raise Conflict(f"Ce changement de cible n'est plus en vigueur "
                           f"({change.status_label}).")
        audit(user, "target_reverted", "target_change", str(change.pk),
              f"Changement de cible {change.pk} annulé ({describe_change(profile, change)}) : "
              f"la cible du profil s'applique de nouveau — motif : {reason}",
              {"indicator_id": change.indicator_id, "basis": change.basis,
               "target_date": change.target_date.isoformat(), "reason": reason})
