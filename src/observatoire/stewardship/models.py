"""Accounts, scopes, corrections and the audit trail, in the application database.

Table names are Django's defaults (``stewardship_correction``…): the build reads
``stewardship_correction`` with plain SQL (see :mod:`observatoire.stewardship.store`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from django.db.models.fields.related_descriptors import RelatedManager

# Field annotations are written out for mypy (the project runs it without the Django plugin).


class Role(models.TextChoices):
    ADMINISTRATOR = "administrateur", "Administrateur"
    STEWARD = "gestionnaire", "Gestionnaire de données"
    READER = "lecteur", "Lecteur"


class Account(models.Model):
    """The observatory's side of a Django user: its role."""

    user: models.OneToOneField[Any, Any] = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="account"
    )
    role: models.CharField[str, str] = models.CharField(max_length=20, choices=Role.choices)
    if TYPE_CHECKING:
        scopes: RelatedManager[Scope]

    @property
    def role_label(self) -> str:
        return str(Role(self.role).label)

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.role_label})"


class ScopeKind(models.TextChoices):
    BUYER = "acheteur", "Acheteur ou mandataire (SIRET ou SIREN)"
    CANTEEN = "cantine", "Cantine de lycée (SIRET de l'établissement)"
    DIRECTORATE = "direction", "Direction"


class Scope(models.Model):
    """What a data steward sees and corrects: buyers (by SIRET or SIREN), canteens, directorates."""

    account: models.ForeignKey[Any, Any] = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="scopes"
    )
    kind: models.CharField[str, str] = models.CharField(max_length=20, choices=ScopeKind.choices)
    value: models.CharField[str, str] = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "kind", "value"], name="one_scope_entry")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class Action(models.TextChoices):
    SET_VALUE = "set_value", "Valeur corrigée"
    EXCLUDE = "exclude", "Marché à exclure"
    NOT_A_DEFECT = "not_a_defect", "Pas un défaut"


class Status(models.TextChoices):
    ACTIVE = "active", "en vigueur"
    STALE = "stale", "à revoir (la source a changé)"
    SUPERSEDED = "superseded", "remplacée"
    REVERTED = "reverted", "annulée"


#: Statuses of the one correction in force for a (contract, action, field, rule).
CURRENT = (Status.ACTIVE, Status.STALE)


class Correction(models.Model):
    """A person's decision on a contract's field; applied at every build, never deleted."""

    uid: models.CharField[str, str] = models.CharField(max_length=300, db_index=True)
    buyer_siret: models.CharField[str, str] = models.CharField(max_length=14, db_index=True)
    #: The contract's directorate when the correction was made: an exclusion or a new CPV code
    #: can take the contract out of it, and its steward must still review and revert the
    #: correction.
    directorate_id: models.CharField[str, str] = models.CharField(
        max_length=100, blank=True, default="", db_index=True)
    action: models.CharField[str, str] = models.CharField(max_length=20, choices=Action.choices)
    field: models.CharField[str, str] = models.CharField(max_length=64, blank=True, default="")
    rule_id: models.CharField[str, str] = models.CharField(max_length=64, blank=True, default="")
    source_value: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    new_value: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    reason: models.TextField[str, str] = models.TextField()
    author: models.ForeignKey[Any, Any] = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="corrections"
    )
    author_name: models.CharField[str, str] = models.CharField(max_length=150)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )
    status: models.CharField[str, str] = models.CharField(
        max_length=20, choices=Status.choices, default=Status.ACTIVE
    )
    supersedes: models.OneToOneField[Any, Any] = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    closed_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    closed_by_name: models.CharField[str, str] = models.CharField(
        max_length=150, blank=True, default=""
    )
    closed_reason: models.TextField[str, str] = models.TextField(blank=True, default="")

    @property
    def status_label(self) -> str:
        return str(Status(self.status).label)

    class Meta:
        constraints = [
            # At most one correction in force per contract, action, field and rule: two stewards
            # saving at once cannot both win (the second save fails and is shown the first).
            models.UniqueConstraint(
                fields=["uid", "action", "field", "rule_id"],
                condition=Q(status__in=["active", "stale"]),
                name="one_current_correction",
            ),
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"correction {self.pk} ({self.action} {self.field} on {self.uid})"


class AuditEvent(models.Model):
    """One change made by a person (or a build acting on their corrections). Append-only:
    the application refuses to change or delete a row, and so does the database (triggers)."""

    at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now, db_index=True
    )
    actor: models.ForeignKey[Any, Any] = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name: models.CharField[str, str] = models.CharField(max_length=150)
    action: models.CharField[str, str] = models.CharField(max_length=40)
    object_type: models.CharField[str, str] = models.CharField(max_length=40)
    object_id: models.CharField[str, str] = models.CharField(max_length=300)
    summary: models.TextField[str, str] = models.TextField()
    details: models.JSONField[Any, Any] = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at", "-id"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("The audit trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("The audit trail is append-only.")


class SignInFailure(models.Model):
    """A failed sign-in, counted per username and address to throttle guessing."""

    username: models.CharField[str, str] = models.CharField(max_length=150)
    address: models.CharField[str, str] = models.CharField(max_length=64)
    at: models.DateTimeField[datetime, datetime] = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["username", "address", "at"])]


class MappingKind(models.TextChoices):
    CPV_DOMAIN = "cpv_domain", "Code CPV → domaine d'achat"
    EGALIM_ARTICLE = "egalim_article", "Description d'achat → article (Egalim)"
    EGALIM_LABEL = "egalim_label", "Libellé de matrice fournisseur → label (Egalim)"


class MappingStatus(models.TextChoices):
    PROPOSED = "proposed", "proposée"
    ACCEPTED = "accepted", "en vigueur"
    REJECTED = "rejected", "refusée"
    SUPERSEDED = "superseded", "remplacée"
    WITHDRAWN = "withdrawn", "retirée"


class Mapping(models.Model):
    """A mapping that needs a person's decision. Proposed by a steward, decided by an
    administrator, applied at every build once accepted; never deleted. Kinds:

    - ``cpv_domain``: a CPV prefix (``key``) → a purchase domain of the profile (``value``);
    - ``egalim_article``: a purchase-line description, normalised (``key``; as written in
      ``label``) → an article code of the nomenclature, or ``""``: no article fits;
    - ``egalim_label``: a raw label string of a supplier matrix the normaliser does not know,
      normalised (``key``; as written in ``label``) → a characteristic code, or ``""``: not a
      label (it does not count and is no longer reported).
    """

    kind: models.CharField[str, str] = models.CharField(max_length=20, choices=MappingKind.choices)
    key: models.CharField[str, str] = models.CharField(max_length=300)
    value: models.CharField[str, str] = models.CharField(max_length=100, blank=True)
    #: The key as people wrote it (a description, a raw label); empty for CPV prefixes.
    label: models.CharField[str, str] = models.CharField(max_length=300, blank=True, default="")
    #: What helped the decision and where it came from: suggestion score, proposed article,
    #: ``via`` (site, ligne de commande, reprise), file names.
    details: models.JSONField[Any, Any] = models.JSONField(default=dict, blank=True)
    reason: models.TextField[str, str] = models.TextField()
    proposed_by_name: models.CharField[str, str] = models.CharField(max_length=150)
    proposed_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )
    status: models.CharField[str, str] = models.CharField(
        max_length=20, choices=MappingStatus.choices, default=MappingStatus.PROPOSED
    )
    decided_by_name: models.CharField[str, str] = models.CharField(
        max_length=150, blank=True, default=""
    )
    decided_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    decision_reason: models.TextField[str, str] = models.TextField(blank=True, default="")

    @property
    def status_label(self) -> str:
        return str(MappingStatus(self.status).label)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"], condition=Q(status="proposed"), name="one_open_proposal"
            ),
            models.UniqueConstraint(
                fields=["kind", "key"], condition=Q(status="accepted"), name="one_mapping_in_force"
            ),
        ]


class TargetAction(models.TextChoices):
    SET = "set", "Cible fixée"
    WITHDRAW = "withdraw", "Cible du profil retirée"


class TargetChangeStatus(models.TextChoices):
    ACTIVE = "active", "en vigueur"
    SUPERSEDED = "superseded", "remplacée"
    REVERTED = "reverted", "annulée"


class TargetChange(models.Model):
    """An administrator's decision on an indicator's target, applied at every build on top of
    the profile's targets; never deleted (superseded by the next change of the same key, or
    reverted: the profile's target comes back).

    The key is the indicator, its basis and the target's deadline (``target_date``): ``set``
    replaces the profile's target of that deadline (or adds one), ``withdraw`` removes it.
    ``value`` is written as in the profile's files: in percent (30 = 30 %) for a percentage.
    """

    indicator_id: models.CharField[str, str] = models.CharField(max_length=100)
    basis: models.CharField[str, str] = models.CharField(max_length=20)
    target_date: models.DateField[Any, Any] = models.DateField()
    action: models.CharField[str, str] = models.CharField(
        max_length=20, choices=TargetAction.choices)
    value: models.FloatField[float | None, float | None] = models.FloatField(
        null=True, blank=True)
    comparator: models.CharField[str, str] = models.CharField(
        max_length=2, blank=True, default="")
    from_date: models.DateField[Any, Any] = models.DateField(null=True, blank=True)
    #: The document that sets the new target (a deliberation…), as the profile's ``source``.
    source: models.TextField[str, str] = models.TextField(blank=True, default="")
    label: models.CharField[str, str] = models.CharField(max_length=100, blank=True, default="")
    reason: models.TextField[str, str] = models.TextField()
    author: models.ForeignKey[Any, Any] = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="target_changes")
    author_name: models.CharField[str, str] = models.CharField(max_length=150)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now)
    status: models.CharField[str, str] = models.CharField(
        max_length=20, choices=TargetChangeStatus.choices, default=TargetChangeStatus.ACTIVE)
    supersedes: models.OneToOneField[Any, Any] = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by")
    closed_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True)
    closed_by_name: models.CharField[str, str] = models.CharField(
        max_length=150, blank=True, default="")
    closed_reason: models.TextField[str, str] = models.TextField(blank=True, default="")

    @property
    def status_label(self) -> str:
        return str(TargetChangeStatus(self.status).label)

    class Meta:
        constraints = [
            # one change in force per indicator, basis and deadline: two administrators
            # saving at once cannot both win
            models.UniqueConstraint(
                fields=["indicator_id", "basis", "target_date"],
                condition=Q(status="active"), name="one_target_change_in_force"),
        ]

    def __str__(self) -> str:
        return f"target change {self.pk} ({self.action} {self.indicator_id}/{self.basis})"
