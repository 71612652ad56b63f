"""Changes people make: corrections, reverts and accounts, each written with its audit event.

Two stewards editing the same field: each save names the correction it was based on (none, or
the one in force when the form was shown). A save based on something that changed meanwhile is
refused with the other change (``Conflict``); the database's partial unique index
``one_current_correction`` stops two simultaneous first saves from both landing.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from observatoire.errors import ObservatoireError
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
)


class StewardshipError(ObservatoireError):
    """A change that cannot be made as asked (the message says why, in French)."""


class Conflict(StewardshipError):
    """Someone else changed the same thing since the form was shown."""

    other: Correction | None = None


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
    based_on: int | None,
) -> Correction:
    """Record a correction in force, superseding the one it was based on."""
    reason = (reason or "").strip()
    if not reason:
        raise StewardshipError("Le motif est obligatoire.", hint="Dites pourquoi vous corrigez.")
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
        if current is not None:
            replaced = Correction.objects.filter(pk=current.pk, status__in=CURRENT).update(
                status=Status.SUPERSEDED, closed_at=timezone.now(),
                closed_by_name=user.get_username(), closed_reason=reason)
            if not replaced:
                raise _conflict(None, key)
        try:
            with transaction.atomic():
                created = Correction.objects.create(
                    **key, buyer_siret=buyer_siret, source_value=source_value,
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
    reason = (reason or "").strip()
    if not reason:
        raise StewardshipError("Le motif est obligatoire pour annuler une correction.")
    with transaction.atomic():
        done = Correction.objects.filter(pk=correction.pk, status__in=CURRENT).update(
            status=Status.REVERTED, closed_at=timezone.now(),
            closed_by_name=user.get_username(), closed_reason=reason)
        if not done:
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


def create_account(actor: Any, username: str, password: str, role: str,
                   scopes: list[str], directorates: dict[str, str] | None = None) -> Account:
    """A new account with its role and scopes (a steward needs at least one scope);
    ``directorates``: the profile's (id → label), which ``direction:`` scopes must name."""
    if role not in Role.values:
        raise StewardshipError(f"Rôle inconnu : « {role} ».",
                               hint="Rôles : " + ", ".join(Role.values) + ".")
    parsed = [parse_scope(s, directorates or {}) for s in scopes]
    if role == Role.STEWARD and not parsed:
        raise StewardshipError(
            "Un gestionnaire de données a besoin d'un périmètre.",
            hint="Ajoutez un périmètre acheteur:SIREN (option --scope, plusieurs possibles).")
    if User.objects.filter(username=username).exists():
        raise StewardshipError(f"Le compte « {username} » existe déjà.")
    candidate = User(username=username)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise StewardshipError("Mot de passe refusé : " + " ".join(exc.messages)) from None
    with transaction.atomic():
        user = User.objects.create_user(username=username, password=password)
        account = Account.objects.create(user=user, role=role)
        for kind, value in parsed:
            Scope.objects.create(account=account, kind=kind, value=value)
        audit(actor, "account_created", "account", username,
              f"Compte « {username} » créé : {account.role_label}"
              + (f", périmètre {', '.join(scopes)}" if scopes else ""),
              {"role": role, "scopes": scopes})
    return account


def propose_mapping(user: Any, kind: str, key: str, value: str, reason: str,
                    allowed_values: dict[str, str]) -> Mapping:
    """A steward proposes a mapping (first kind: a CPV prefix → a purchase domain)."""
    key, reason = key.strip().replace(" ", ""), (reason or "").strip()
    if kind != MappingKind.CPV_DOMAIN:
        raise StewardshipError("Type de correspondance inconnu.")
    if not reason:
        raise StewardshipError("Le motif est obligatoire.")
    if not (key.isdigit() and 2 <= len(key) <= 8):
        raise StewardshipError(f"« {key} » n'est pas un début de code CPV (2 à 8 chiffres).")
    if value not in allowed_values:
        raise StewardshipError(f"Domaine d'achat inconnu du profil : « {value} ».")
    try:
        with transaction.atomic():
            mapping = Mapping.objects.create(kind=kind, key=key, value=value, reason=reason,
                                             proposed_by_name=user.get_username())
            audit(user, "mapping_proposed", "mapping", str(mapping.pk),
                  f"Proposition {mapping.pk} : CPV {key}… → {allowed_values[value]} — motif : "
                  f"{reason}", {"kind": kind, "key": key, "value": value, "reason": reason})
    except IntegrityError:
        raise StewardshipError(f"Une proposition pour le CPV {key} attend déjà une décision.",
                               hint="Faites-la décider ou retirer d'abord.") from None
    return mapping


def decide_mapping(user: Any, mapping: Mapping, accept: bool, reason: str) -> None:
    """An administrator accepts (it then applies at every build) or rejects a proposal."""
    reason = (reason or "").strip()
    if not reason:
        raise StewardshipError("Le motif de la décision est obligatoire.")
    now = timezone.now()
    with transaction.atomic():
        if accept:
            Mapping.objects.filter(kind=mapping.kind, key=mapping.key,
                                   status=MappingStatus.ACCEPTED).update(
                status=MappingStatus.SUPERSEDED, decided_at=now)
        status = MappingStatus.ACCEPTED if accept else MappingStatus.REJECTED
        done = Mapping.objects.filter(pk=mapping.pk, status=MappingStatus.PROPOSED).update(
            status=status, decided_by_name=user.get_username(), decided_at=now,
            decision_reason=reason)
        if not done:
            raise Conflict("Cette proposition a déjà été décidée ou retirée.")
        audit(user, "mapping_accepted" if accept else "mapping_rejected", "mapping",
              str(mapping.pk),
              f"Proposition {mapping.pk} (CPV {mapping.key}… → {mapping.value}) "
              f"{'acceptée' if accept else 'refusée'} — motif : {reason}",
              {"kind": mapping.kind, "key": mapping.key, "value": mapping.value,
               "reason": reason})


def update_account(actor: Any, account: Account, role: str, scopes: list[str],
                   active: bool, directorates: dict[str, str] | None = None) -> None:
    """Change an account's role, scopes or activity (an account is never deleted)."""
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
              "scopes": sorted(f"{s.kind}:{s.value}" for s in account.scopes.all())}
    new_scopes = [f"{k}:{v}" for k, v in parsed]
    after = {"role": role, "active": active, "scopes": new_scopes}
    if before == after:
        return
    with transaction.atomic():
        account.role = role
        account.save(update_fields=["role"])
        account.user.is_active = active
        account.user.save(update_fields=["is_active"])
        account.scopes.all().delete()
        for kind, value in parsed:
            Scope.objects.create(account=account, kind=kind, value=value)
        name = account.user.get_username()
        audit(actor, "account_changed", "account", name,
              f"Compte « {name} » modifié : rôle {Role(role).label}, "
              f"{'actif' if active else 'désactivé'}, périmètre "
              f"{', '.join(new_scopes) or '—'}", {"before": before, "after": after})
