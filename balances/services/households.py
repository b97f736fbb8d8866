"""Writes of household shares: invite, accept, decline, end, and choose what is shared.

A share lets its viewer see the owner's balances, view-only (`selectors/households.py`
decides what shows). Invitations name an existing user, by username or by the e-mail
address of their account (an unknown one is refused with a message). Each state
change is a compare-and-set on the row (`UPDATE ... WHERE state = ...`): two tabs
accepting and ending at once leave one outcome, never an ended share accepted again.
Bad input raises ValidationError with a message and saves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from balances.models import Account, HouseholdShare, ManualAccount
from balances.services.alerts.condition import Condition
from balances.services.alerts.record import alerts_record

# Django's username field holds at most 150 characters.
# A username (at most 150 characters) or an e-mail address (at most 254).
MAX_INVITEE = 254
State = HouseholdShare.State


def _clean_username(username: object) -> str:
    text = str(username or "").strip()
    if not text:
        raise ValidationError("Enter the username or e-mail address of the person to invite.")
    if "\x00" in text or len(text) > MAX_INVITEE:
        raise ValidationError("That is not a username or e-mail address of this app.")
    return text


def _invitee(name: str) -> User:
    """Return the active user called `name`, or whose e-mail address `name` is (any case)."""
    users = get_user_model().objects.filter(is_active=True)
    if "@" not in name:
        viewer = users.filter(username=name).first()
        if viewer is None:
            raise ValidationError(f"No user of this app is called {name}.")
        return viewer
    matches = list(users.filter(email__iexact=name)[:2])
    if not matches:
        raise ValidationError(f"No user of this app has the e-mail address {name}.")
    if len(matches) > 1:
        raise ValidationError(
            f"Several users of this app have the e-mail address {name}: invite by username."
        )
    return matches[0]


def _clean_ids(ids: Iterable[object], what: str) -> set[int]:
    clean: set[int] = set()
    for value in ids:
        text = str(value).strip()
        if not text.isdigit() or len(text) > 18:
            raise ValidationError(f"Unknown {what}: choose among your own.")
        clean.add(int(text))
    return clean


def share_invite(
    *,
    owner: User,
    username: str,
    all_accounts: bool = True,
    account_ids: Iterable[object] = (),
    manual_ids: Iterable[object] = (),
) -> HouseholdShare:
    """Invite the active user `username` (a username or an e-mail address) to see
    `owner`'s balances: all of them, or the chosen accounts (`account_ids`: linked,
    `manual_ids`: entered by hand); tell them through their alerts. Nothing shows until
    they accept. Raise ValidationError for an unknown or inactive user, oneself, or
    someone already invited or sharing with, or for accounts that are not `owner`'s."""
    viewer = _invitee(_clean_username(username))
    if viewer.pk == owner.pk:
        raise ValidationError("You see your own balances already: invite someone else.")
    accounts, manual = _owned(owner, all_accounts, account_ids, manual_ids)
    try:
        with transaction.atomic():
            share = HouseholdShare.objects.create(
                owner=owner, viewer=viewer, all_accounts=all_accounts
            )
            share.accounts.set(accounts)
            share.manual_accounts.set(manual)
            _invitation_record(share)
    except IntegrityError:
        # The one-open-share constraint: a concurrent or earlier invitation stands.
        raise ValidationError(
            f"You already share with {viewer.username}, or have invited them: change that "
            "share instead."
        ) from None
    return share


def _invitation_record(share: HouseholdShare) -> None:
    """Tell the invitee: an alert on their Notifications page, sent by e-mail and push
    as their alert channels say (delivered after the transaction commits)."""
    owner = share.owner.get_username()
    condition = Condition(
        key=f"share:{share.pk}:invited",
        holding=True,
        title=f"{owner} invites you to see their balances",
        text=(
            f"{owner} invites you to see their balances in this app, view-only. Nothing is "
            "shared until you accept; you can decline, or end the share at any time."
        ),
        link=reverse("household"),
        link_label="Answer the invitation",
    )
    alerts_record(user_id=share.viewer_id, fired=[condition], now=timezone.now())


def _owned(
    owner: User, all_accounts: bool, account_ids: Iterable[object], manual_ids: Iterable[object]
) -> tuple[list[Account], list[ManualAccount]]:
    """Return the chosen accounts, checked to be `owner`'s (none when sharing all)."""
    if all_accounts:
        return [], []
    wanted = _clean_ids(account_ids, "account")
    wanted_manual = _clean_ids(manual_ids, "account")
    if not wanted and not wanted_manual:
        raise ValidationError("Choose at least one account to share, or share all of them.")
    accounts = list(Account.objects.filter(pk__in=wanted, item__owner=owner))
    manual = list(ManualAccount.objects.filter(pk__in=wanted_manual, owner=owner))
    if len(accounts) != len(wanted) or len(manual) != len(wanted_manual):
        raise ValidationError("Unknown account: choose among your own.")
    return accounts, manual


def share_set_accounts(
    *,
    share: HouseholdShare,
    all_accounts: bool,
    account_ids: Iterable[object] = (),
    manual_ids: Iterable[object] = (),
) -> HouseholdShare:
    """Share all of the owner's accounts (including ones linked later), or exactly the
    chosen ones: the viewer sees the change on their next request. Raise ValidationError
    for accounts not the owner's, none chosen, or a share no longer open."""
    accounts, manual = _owned(share.owner, all_accounts, account_ids, manual_ids)
    with transaction.atomic():
        updated = HouseholdShare.objects.filter(
            pk=share.pk, state__in=HouseholdShare.OPEN_STATES
        ).update(all_accounts=all_accounts)
        if not updated:
            raise ValidationError("This share has ended.")
        share.all_accounts = all_accounts
        share.accounts.set(accounts)
        share.manual_accounts.set(manual)
    return share


def _move(share: HouseholdShare, *, from_states: Iterable[str], to: str, stamp: str) -> None:
    now = timezone.now()
    updated = HouseholdShare.objects.filter(pk=share.pk, state__in=list(from_states)).update(
        state=to, **{stamp: now}
    )
    if not updated:
        raise ValidationError("This invitation or share is no longer open.")
    share.state = to
    setattr(share, stamp, now)


def share_accept(*, share: HouseholdShare) -> HouseholdShare:
    """Accept an invitation: its owner's shared balances show in the viewer's household
    view from now on. Raise ValidationError if it is no longer an open invitation."""
    _move(share, from_states=[State.INVITED], to=State.ACCEPTED, stamp="responded_at")
    return share


def share_decline(*, share: HouseholdShare) -> HouseholdShare:
    """Decline an invitation (the owner may invite again later). Raise ValidationError if
    it is no longer an open invitation."""
    _move(share, from_states=[State.INVITED], to=State.DECLINED, stamp="responded_at")
    return share


def share_end(*, share: HouseholdShare) -> HouseholdShare:
    """End a share or withdraw an invitation (either side, or a superuser in the admin):
    everything it showed is hidden from the next request on. Raise ValidationError if it
    had already ended or been declined."""
    _move(share, from_states=HouseholdShare.OPEN_STATES, to=State.ENDED, stamp="ended_at")
    return share
