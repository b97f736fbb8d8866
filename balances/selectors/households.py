"""Households: which accounts a user may see, and the shares behind it.

The one answer to "which accounts and manual accounts can user U see, and whose are
they": `account_q` and `manual_q`. Every page, export and API endpoint that lists or opens
an account asks them (through `selectors/accounts.py`, `exports.py`, `history.py`), so
nothing shows unless its owner shared it, and an ended share hides everything on the next
request (no cache: the shares are read by the same query as the accounts).

Two views: "mine" (`household=False`) is the user's own accounts; "household"
(`household=True`) adds what accepted shares show them: every account of an owner who
shares all (including accounts linked later), or the accounts the owner chose. Each
account is one row whatever the number of shares naming it, so totals count it once; a
joint account two members linked is two rows, and the household view counts one of them
(`selectors.accounts.HouseholdCopy`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import Exists, F, Q, QuerySet

from balances.models import Account, HouseholdShare, ManualAccount

ACCEPTED = HouseholdShare.State.ACCEPTED


def _accepted_to(user: User) -> QuerySet[HouseholdShare]:
    return HouseholdShare.objects.filter(viewer=user, state=ACCEPTED)


def _whole_owners(user: User) -> QuerySet[HouseholdShare, Any]:
    """The owners sharing all their accounts with `user` (a subquery)."""
    return _accepted_to(user).filter(all_accounts=True).values("owner_id")


def whole_users_q(*, user: User, field: str = "user") -> Q:
    """The condition "`field` is a user all of whose accounts `user` sees in the household
    view": `user` and every owner sharing all with them (for per-user rows such as the
    daily totals, which then stand for every account of theirs)."""
    return Q(**{field: user}) | Q(**{f"{field}__in": _whole_owners(user)})


def chosen_account_q(*, user: User, prefix: str = "") -> Q:
    """The condition "this Account is one an owner chose to share with `user`" (owners
    sharing only chosen accounts)."""
    chosen = HouseholdShare.accounts.through.objects.filter(
        householdshare__viewer=user,
        householdshare__state=ACCEPTED,
        householdshare__all_accounts=False,
        # Belt and braces: only an account of the share's owner is ever shown.
        account__item__owner=F("householdshare__owner"),
    ).values("account_id")
    return Q(**{f"{prefix}pk__in": chosen})


def account_q(*, user: User, household: bool, prefix: str = "") -> Q:
    """The condition "this Account is visible to `user`" (on a path to an Account:
    `prefix` "account__" for a snapshot). Subqueries, not a query: no extra round trip."""
    own = Q(**{f"{prefix}item__owner": user})
    if not household:
        return own
    return (
        own
        | Q(**{f"{prefix}item__owner__in": _whole_owners(user)})
        | chosen_account_q(user=user, prefix=prefix)
    )


def chosen_manual_q(*, user: User, prefix: str = "") -> Q:
    """The condition "this ManualAccount is one an owner chose to share with `user`"."""
    chosen = HouseholdShare.manual_accounts.through.objects.filter(
        householdshare__viewer=user,
        householdshare__state=ACCEPTED,
        householdshare__all_accounts=False,
        manualaccount__owner=F("householdshare__owner"),
    ).values("manualaccount_id")
    return Q(**{f"{prefix}pk__in": chosen})


def manual_q(*, user: User, household: bool, prefix: str = "") -> Q:
    """The condition "this ManualAccount is visible to `user`" (`prefix` "account__" for
    a ManualValue)."""
    own = Q(**{f"{prefix}owner": user})
    if not household:
        return own
    return (
        own
        | Q(**{f"{prefix}owner__in": _whole_owners(user)})
        | chosen_manual_q(user=user, prefix=prefix)
    )


def visible_account(*, user: User, pk: int) -> Account | None:
    """Return account `pk` (closed ones too) with its Item and owner if `user` owns it or
    an accepted share shows it to them, else None (the caller answers 404)."""
    return (
        Account.objects.select_related("item", "item__owner")
        .filter(account_q(user=user, household=True), pk=pk)
        .first()
    )


def visible_manual_account(*, user: User, pk: int) -> ManualAccount | None:
    """Return manual account `pk` with its owner if `user` may see it, else None."""
    return (
        ManualAccount.objects.select_related("owner")
        .filter(manual_q(user=user, household=True), pk=pk)
        .first()
    )


def has_household(*, user: User) -> bool:
    """Return whether someone shares their balances with `user` (an accepted share)."""
    return _accepted_to(user).exists()


def has_household_expression(*, user: User) -> Exists:
    """`has_household` as an expression, to read in a query that reads something else."""
    return Exists(_accepted_to(user))


def shares_given(*, user: User) -> QuerySet[HouseholdShare]:
    """Return `user`'s open shares (invited or accepted), with viewers, newest first."""
    return (
        HouseholdShare.objects.filter(owner=user, state__in=HouseholdShare.OPEN_STATES)
        .select_related("viewer")
        .prefetch_related("accounts", "manual_accounts")
        .order_by("-created_at", "-pk")
    )


def shares_received(*, user: User) -> QuerySet[HouseholdShare]:
    """Return the open shares to `user` (invitations and accepted), with owners."""
    return (
        HouseholdShare.objects.filter(viewer=user, state__in=HouseholdShare.OPEN_STATES)
        .select_related("owner")
        .order_by("-created_at", "-pk")
    )


def share_for_owner(*, user: User, pk: int) -> HouseholdShare | None:
    """Return `user`'s open share `pk` as its owner, or None."""
    return HouseholdShare.objects.filter(
        pk=pk, owner=user, state__in=HouseholdShare.OPEN_STATES
    ).first()


def share_for_viewer(*, user: User, pk: int) -> HouseholdShare | None:
    """Return the open share `pk` to `user`, or None."""
    return HouseholdShare.objects.filter(
        pk=pk, viewer=user, state__in=HouseholdShare.OPEN_STATES
    ).first()


def share_for_party(*, user: User, pk: int) -> HouseholdShare | None:
    """Return the open share `pk` that `user` owns or receives, or None."""
    return (
        HouseholdShare.objects.filter(pk=pk, state__in=HouseholdShare.OPEN_STATES)
        .filter(Q(owner=user) | Q(viewer=user))
        .first()
    )
