"""Who may see and change what. Every view under /gestion/ asks here, on the server.

- administrator: everything, accounts and audit trail included;
- data steward: sees and corrects the contracts of its scope only: buyers or canteens (by SIRET
  or SIREN prefix of the buyer's SIRET) and directorates (the contract's ``directorate_id``,
  derived at build from the profile's ``directorates.toml``);
- reader: sees the internal pages, changes nothing.

A :class:`Perimeter` is the one description of a scope: Python checks one contract with
:meth:`Perimeter.covers`, the warehouse queries with :meth:`Perimeter.sql`, and the application
database's corrections with :func:`corrections_in`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from observatoire.stewardship.models import Account, Role, ScopeKind


@dataclass(frozen=True)
class Perimeter:
    """What an account sees: everything, or contracts whose buyer SIRET starts with one of
    ``buyers`` or whose directorate is one of ``directorates``."""

    everything: bool
    buyers: tuple[str, ...] = ()
    directorates: tuple[str, ...] = ()

    def covers(self, buyer_siret: str | None, directorate: str | None) -> bool:
        if self.everything:
            return True
        if buyer_siret and any(str(buyer_siret).startswith(p) for p in self.buyers):
            return True
        return bool(directorate) and directorate in self.directorates

    def covers_buyer(self, prefix: str) -> bool:
        """Every contract of the buyers starting with ``prefix`` is in the perimeter."""
        return self.everything or any(prefix.startswith(p) for p in self.buyers)

    def sql(self, buyer: str, directorate: str) -> tuple[str, list[Any]]:
        """A condition over the columns ``buyer`` and ``directorate`` (constants of the code,
        never input) and its bound parameters."""
        return (f"""(CAST(? AS BOOLEAN)
            OR len(list_filter(CAST(? AS VARCHAR[]), lambda p: starts_with({buyer}, p))) > 0
            OR list_contains(CAST(? AS VARCHAR[]), {directorate}))""",
                [self.everything, list(self.buyers), list(self.directorates)])

    @property
    def entries(self) -> list[tuple[str, str]]:
        """``(kind, value)`` of each entry, for the pages."""
        return ([(ScopeKind.BUYER.value, b) for b in self.buyers]
                + [(ScopeKind.DIRECTORATE.value, d) for d in self.directorates])


EVERYTHING = Perimeter(everything=True)


def account_of(user: Any) -> Account | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    try:
        account: Account = user.account
    except Account.DoesNotExist:
        return None
    return account


def perimeter(account: Account) -> Perimeter:
    """What an account sees: administrators and readers everything, a steward its scopes."""
    if account.role in (Role.ADMINISTRATOR, Role.READER):
        return EVERYTHING
    scopes = list(account.scopes.all())
    return Perimeter(
        everything=False,
        buyers=tuple(sorted({s.value for s in scopes if s.kind in (
            ScopeKind.BUYER, ScopeKind.CANTEEN) and s.value.isdigit()})),
        directorates=tuple(sorted({s.value for s in scopes if s.kind == ScopeKind.DIRECTORATE})),
    )


def sees(account: Account, buyer_siret: str | None, directorate: str | None) -> bool:
    return perimeter(account).covers(buyer_siret, directorate)


def may_correct(account: Account, buyer_siret: str | None, directorate: str | None) -> bool:
    if account.role == Role.ADMINISTRATOR:
        return True
    return account.role == Role.STEWARD and sees(account, buyer_siret, directorate)


def corrections_in(queryset: Any, scope: Perimeter, directorate_uids: Iterable[str]) -> Any:
    """The corrections (a ``Correction`` queryset) of a perimeter. The application database
    does not know directorates: ``directorate_uids`` are the contracts the warehouse in service
    gives to the perimeter's directorates."""
    if scope.everything:
        return queryset
    from django.db.models import Q

    condition = Q(pk__in=[])
    for prefix in scope.buyers:
        condition |= Q(buyer_siret__startswith=prefix)
    uids = list(directorate_uids)
    if uids:
        condition |= Q(uid__in=uids)
    if scope.directorates:  # made under one of its directorates, wherever the contract is now
        condition |= Q(directorate_id__in=list(scope.directorates))
    return queryset.filter(condition)
