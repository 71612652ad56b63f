"""Who may see and change what. Every view under /gestion/ asks here, on the server.

- administrator: everything, accounts and audit trail included;
- data steward: sees and corrects the contracts of its scope only (buyers or canteens by SIRET
  or SIREN; a directorate scope matches no DECP contract until the data carry the directorate);
- reader: sees the internal pages, changes nothing.
"""

from __future__ import annotations

from typing import Any

from observatoire.stewardship.models import Account, Role, ScopeKind


def account_of(user: Any) -> Account | None:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    try:
        account: Account = user.account
    except Account.DoesNotExist:
        return None
    return account


def buyer_prefixes(account: Account) -> list[str] | None:
    """SIRET/SIREN prefixes of the buyers an account sees; None means every buyer."""
    if account.role in (Role.ADMINISTRATOR, Role.READER):
        return None
    return sorted(
        s.value for s in account.scopes.all()
        if s.kind in (ScopeKind.BUYER, ScopeKind.CANTEEN) and s.value.isdigit()
    )


def sees(account: Account, buyer_siret: str | None) -> bool:
    prefixes = buyer_prefixes(account)
    if prefixes is None:
        return True
    return bool(buyer_siret) and any(str(buyer_siret).startswith(p) for p in prefixes)


def may_correct(account: Account, buyer_siret: str | None) -> bool:
    if account.role == Role.ADMINISTRATOR:
        return True
    return account.role == Role.STEWARD and sees(account, buyer_siret)
