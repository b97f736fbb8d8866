"""Linked Plaid Items, their Accounts, the append-only balance history and its daily totals;
accounts and assets entered by hand with their dated values; the read API's personal
access tokens (stored as hashes); households: one user's balances shared with another,
view-only.

Also the rules that belong to one row and must read the same in SQL and in Python: which
Items are active, stale or pending a refresh (`PlaidItemQuerySet`, `PlaidItem`'s
properties), and an Item's display name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from balances import crypto

# Plaid amounts: up to 4 decimals for fiat (401k 23631.9805), 8+ for crypto. NULL means
# "not reported" (a CD has no available balance), never zero.
MAX_DIGITS, DECIMAL_PLACES = 28, 10


def stale_cutoff(now: datetime | None = None) -> datetime:
    """Return the instant before which a last refresh makes an Item stale
    (BALANCE_STALE_AFTER seconds before `now`)."""
    return (now or timezone.now()) - timedelta(seconds=settings.BALANCE_STALE_AFTER)


def pending_cutoff(now: datetime | None = None) -> datetime:
    """Return the instant before which a refresh request no longer counts as pending
    (BALANCE_REFRESH_PENDING_TTL seconds before `now`): a task lost with its queue stops
    showing as pending instead of spinning until the next refresh."""
    return (now or timezone.now()) - timedelta(seconds=settings.BALANCE_REFRESH_PENDING_TTL)


def refresh_pending(
    *,
    requested_at: datetime | None,
    status: str,
    last_refreshed_at: datetime | None,
    error_at: datetime | None,
    cutoff: datetime,
) -> bool:
    """The rule of `PlaidItem.is_refresh_pending`, on an Item's plain values: a refresh of
    an active Item was requested after `cutoff` (`pending_cutoff`) and has neither
    finished nor failed since. In SQL: `PlaidItemQuerySet.not_refresh_pending`."""
    if requested_at is None or status not in PlaidItem.ACTIVE_STATUSES:
        return False
    if requested_at < cutoff:
        return False
    done = [t for t in (last_refreshed_at, error_at) if t is not None]
    return not any(t >= requested_at for t in done)


class PlaidItemQuerySet(models.QuerySet["PlaidItem"]):
    def active(self) -> PlaidItemQuerySet:
        """Items scheduled refreshes call Plaid for (see `PlaidItem.is_active`)."""
        return self.filter(status__in=PlaidItem.ACTIVE_STATUSES)

    def stale(self, now: datetime | None = None) -> PlaidItemQuerySet:
        """Items whose last successful refresh is older than BALANCE_STALE_AFTER (or never)."""
        return self.filter(stale_q(now))

    def fresh(self, now: datetime | None = None) -> PlaidItemQuerySet:
        """Items refreshed within BALANCE_STALE_AFTER (the complement of `stale`)."""
        return self.exclude(stale_q(now))

    def not_refresh_pending(self, now: datetime | None = None) -> PlaidItemQuerySet:
        """Items with no refresh pending: `PlaidItem.is_refresh_pending` in SQL (less its
        `is_active`, which `active()` adds)."""
        requested = F("refresh_requested_at")
        return self.filter(
            Q(refresh_requested_at__isnull=True)
            | Q(refresh_requested_at__lt=pending_cutoff(now))
            | Q(last_refreshed_at__gte=requested)
            | Q(error_at__gte=requested)
        )

    def erroring(self) -> PlaidItemQuerySet:
        """Items in error, or healthy but with an error recorded (e.g. old balances kept)."""
        return self.filter(erroring_q())

    def login_required(self) -> PlaidItemQuerySet:
        """Items that need their owner to log in again now, or before consent runs out."""
        return self.filter(login_required_q())


def stale_q(now: datetime | None = None) -> Q:
    """The condition of `PlaidItemQuerySet.stale`, to combine with others."""
    return Q(last_refreshed_at__isnull=True) | Q(last_refreshed_at__lt=stale_cutoff(now))


def erroring_q() -> Q:
    """The condition of `PlaidItemQuerySet.erroring`, to combine with others."""
    return Q(status=PlaidItem.Status.ERROR) | (
        Q(status=PlaidItem.Status.HEALTHY) & ~Q(error_code="")
    )


def login_required_q() -> Q:
    """The condition of `PlaidItemQuerySet.login_required`, to combine with others."""
    return Q(status=PlaidItem.Status.LOGIN_REQUIRED) | ~Q(warning_code="")


class PlaidItem(models.Model):
    """One login at one institution, linked through Plaid by one user."""

    class Status(models.TextChoices):
        HEALTHY = "healthy", "Healthy"
        LOGIN_REQUIRED = "login_required", "Needs re-login"
        ERROR = "error", "Error"
        REVOKED = "revoked", "Revoked"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="plaid_items"
    )
    plaid_item_id = models.CharField("Plaid item_id", max_length=100, unique=True)
    # Fernet ciphertext; read and write the plaintext through `access_token`.
    access_token_encrypted = models.TextField(editable=False)
    institution_id = models.CharField(max_length=50, blank=True)
    institution_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.HEALTHY)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    error_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(
        null=True, blank=True, help_text="Last successful balance refresh."
    )
    # Refreshes from Plaid's cache (/accounts/get) set only `last_refreshed_at`.
    last_realtime_at = models.DateTimeField(
        null=True, blank=True, help_text="Last successful real-time (billed) balance refresh."
    )
    # The one record of a pending refresh (services/pending.py writes it).
    refresh_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="When a refresh was last queued (pending until done)."
    )
    # PENDING_EXPIRATION / PENDING_DISCONNECT: the Item works until `expires_at`.
    warning_code = models.CharField(max_length=50, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    new_accounts_available = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PlaidItemQuerySet.as_manager()

    ACTIVE_STATUSES = (Status.HEALTHY, Status.ERROR)

    class Meta:
        verbose_name = "Plaid Item"
        ordering = ["institution_name", "pk"]
        indexes = [
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["status"]),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.owner})"

    @property
    def display_name(self) -> str:
        """The bank's name as users see it: its name, else Plaid's institution id."""
        return self.institution_name or self.institution_id or "Your bank"

    @property
    def access_token(self) -> str:
        """Return the decrypted access token. Never log, render or queue it."""
        return crypto.decrypt(self.access_token_encrypted)

    @access_token.setter
    def access_token(self, value: str) -> None:
        self.access_token_encrypted = crypto.encrypt(value)

    def clear_error(self, *, warning: bool = False) -> list[str]:
        """Mark the Item healthy and forget its last error (with `warning`, also its expiry
        warning). Return the changed fields, for `save(update_fields=...)`; do not save."""
        self.status = self.Status.HEALTHY
        self.error_code = self.error_message = ""
        self.error_at = None
        fields = ["status", "error_code", "error_message", "error_at", "updated_at"]
        if warning:
            self.warning_code = ""
            self.expires_at = None
            fields += ["warning_code", "expires_at"]
        return fields

    @property
    def is_active(self) -> bool:
        """Whether scheduled refreshes should call Plaid for this Item."""
        return self.status in self.ACTIVE_STATUSES

    @property
    def is_stale(self) -> bool:
        """Whether the balances are older than BALANCE_STALE_AFTER (or were never fetched)."""
        return self.last_refreshed_at is None or self.last_refreshed_at < stale_cutoff()

    @property
    def is_refresh_pending(self) -> bool:
        """Whether a refresh was queued and has neither finished nor failed since.

        Bounded by BALANCE_REFRESH_PENDING_TTL (`pending_cutoff`). The same rule in SQL:
        `PlaidItemQuerySet.not_refresh_pending`.
        """
        return refresh_pending(
            requested_at=self.refresh_requested_at,
            status=self.status,
            last_refreshed_at=self.last_refreshed_at,
            error_at=self.error_at,
            cutoff=pending_cutoff(),
        )


class AccountQuerySet(models.QuerySet["Account"]):
    def counted(self) -> AccountQuerySet:
        """The accounts every total counts: open, and not a copy of an account another
        connection already holds (`Account.duplicate_of`, set by services/duplicates.py)."""
        return self.filter(closed_at__isnull=True, duplicate_of__isnull=True)

    def in_history(self) -> AccountQuerySet:
        """The accounts history counts, closed ones too: none that is a copy."""
        return self.filter(duplicate_of__isnull=True)


class Account(models.Model):
    """One account of an Item, with its latest balances."""

    class Type(models.TextChoices):
        DEPOSITORY = "depository", "Cash"
        CREDIT = "credit", "Credit"
        LOAN = "loan", "Loans"
        INVESTMENT = "investment", "Investments"
        BROKERAGE = "brokerage", "Brokerage"
        OTHER = "other", "Other"

    # Plaid reports `current` of these as the positive amount owed.
    LIABILITY_TYPES = frozenset({Type.CREDIT, Type.LOAN})

    item = models.ForeignKey(PlaidItem, on_delete=models.CASCADE, related_name="accounts")
    plaid_account_id = models.CharField("Plaid account_id", max_length=100)
    name = models.CharField(max_length=200)
    official_name = models.CharField(max_length=300, blank=True)
    mask = models.CharField(max_length=10, blank=True)
    type = models.CharField(max_length=20)
    subtype = models.CharField(max_length=50, blank=True)
    iso_currency_code = models.CharField(max_length=3, blank=True)
    unofficial_currency_code = models.CharField(max_length=20, blank=True)
    available = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, null=True, blank=True
    )
    current = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, null=True, blank=True
    )
    limit = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, null=True, blank=True
    )
    balances_updated_at = models.DateTimeField(
        null=True, blank=True, help_text="When these balances were fetched from Plaid."
    )
    closed_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when Plaid stopped reporting the account."
    )
    # The same account under an older connection at the same institution (the bank was
    # linked twice): this copy is shown as "also in ..." and counted in no total.
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="duplicates",
        help_text="Set when another connection holds this account: this copy counts nowhere.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["item", "type", "name", "mask"]
        indexes = [models.Index(fields=["item", "closed_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "plaid_account_id"], name="account_unique_per_item"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ••{self.mask}" if self.mask else self.name

    @property
    def currency(self) -> str:
        """Return the ISO code, or the unofficial one (e.g. a crypto ticker)."""
        return self.iso_currency_code or self.unofficial_currency_code

    @property
    def currency_is_official(self) -> bool:
        return bool(self.iso_currency_code)

    @property
    def is_liability(self) -> bool:
        return self.type in self.LIABILITY_TYPES

    @property
    def balances(self) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        return (self.available, self.current, self.limit)

    @property
    def is_counted(self) -> bool:
        """Whether totals count this account (the rule of `AccountQuerySet.counted`)."""
        return self.closed_at is None and self.duplicate_of_id is None


class BalanceSnapshotQuerySet(models.QuerySet["BalanceSnapshot"]):
    def update(self, **kwargs: Any) -> int:
        raise TypeError("Balance snapshots are append-only.")


class BalanceSnapshot(models.Model):
    """An account's balances at one moment. Append-only: the source of history.

    Written when a balance changes, and at least once per account per day.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="snapshots")
    taken_at = models.DateTimeField()
    available = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, null=True, blank=True
    )
    current = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, null=True, blank=True
    )
    limit = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, null=True, blank=True
    )

    objects = BalanceSnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["account", "taken_at"]
        get_latest_by = "taken_at"
        indexes = [models.Index(fields=["account", "taken_at"])]

    def __str__(self) -> str:
        return f"{self.account} @ {self.taken_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Insert the snapshot; refuse to change one that exists."""
        if self.pk is not None:
            raise TypeError("Balance snapshots are append-only.")
        super().save(*args, **kwargs)


class NetWorthDay(models.Model):
    """A user's assets and liabilities in one currency at the end of one day.

    Derived, not a source: kept from Accounts whenever their balances change
    (`net_worth.net_worth_add`) and rebuilt from BalanceSnapshots when history is
    removed (`net_worth.net_worth_rebuild`), so the dashboard's history reads days x
    currencies rows instead of accounts x days. Days are local days (TIME_ZONE). A row
    holds until the user's next row in its currency; `accounts` 0 marks the currency gone
    that day (no open account in it with a balance).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=20)
    currency_is_official = models.BooleanField()
    day = models.DateField()
    # Sums of many accounts: room for 10,000 accounts at the largest single balance.
    assets = models.DecimalField(max_digits=MAX_DIGITS + 4, decimal_places=DECIMAL_PLACES)
    liabilities = models.DecimalField(max_digits=MAX_DIGITS + 4, decimal_places=DECIMAL_PLACES)
    accounts = models.PositiveIntegerField(help_text="Open accounts with a balance that day.")

    class Meta:
        ordering = ["user", "currency", "day"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "currency", "day"], name="net_worth_day_unique"
            ),
        ]
        indexes = [models.Index(fields=["user", "day"])]

    def __str__(self) -> str:
        return f"{self.user} {self.currency} {self.day:%Y-%m-%d}"

    @property
    def net_worth(self) -> Decimal:
        return self.assets - self.liabilities


class ManualAccount(models.Model):
    """An account or asset the user enters by hand (a house, a car loan, a wallet).

    Its value is the latest of its ManualValues (by date, then entry): kept here too
    (`value`, `value_as_of`) so the dashboard reads one row per account. Counts in totals
    like an Account: a liability's value is the positive amount owed.
    """

    class Kind(models.TextChoices):
        ASSET = "asset", "Asset"
        LIABILITY = "liability", "Liability"

    class Category(models.TextChoices):
        CASH = "cash", "Cash"
        PROPERTY = "property", "Property"
        VEHICLE = "vehicle", "Vehicle"
        INVESTMENT = "investment", "Investment"
        CRYPTO = "crypto", "Crypto"
        LOAN = "loan", "Loan"
        OTHER = "other", "Other"

    # The dashboard group (an Account type, see domain/groups.py) of an asset's category;
    # liabilities are all in "loan".
    ASSET_TYPES = {
        Category.CASH: Account.Type.DEPOSITORY,
        Category.INVESTMENT: Account.Type.INVESTMENT,
        Category.CRYPTO: Account.Type.INVESTMENT,
    }

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="manual_accounts"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    category = models.CharField(max_length=20, choices=Category.choices)
    # One of the two is set, as on Account: an ISO 4217 code, or an unofficial one (BTC).
    iso_currency_code = models.CharField(max_length=3, blank=True)
    unofficial_currency_code = models.CharField(max_length=20, blank=True)
    note = models.TextField(blank=True)
    # The latest ManualValue, denormalised (written with it, by services/manual_accounts).
    value = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
    value_as_of = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["owner", "name", "pk"]
        indexes = [models.Index(fields=["owner", "name"])]

    def __str__(self) -> str:
        return self.name

    @property
    def currency(self) -> str:
        """Return the ISO code, or the unofficial one (e.g. a crypto ticker)."""
        return self.iso_currency_code or self.unofficial_currency_code

    @property
    def currency_is_official(self) -> bool:
        return bool(self.iso_currency_code)

    @property
    def is_liability(self) -> bool:
        return self.kind == self.Kind.LIABILITY

    @property
    def type(self) -> str:
        """The Account type whose dashboard group this account shows in."""
        return self.type_of(self.kind, self.category)

    @classmethod
    def type_of(cls, kind: str, category: str) -> str:
        """The Account type of a manual account of `kind` and `category` (`type_q` in SQL)."""
        if kind == cls.Kind.LIABILITY:
            return Account.Type.LOAN
        return cls.ASSET_TYPES.get(category, Account.Type.OTHER)  # type: ignore[call-overload]

    @classmethod
    def type_q(cls, types: Iterable[str]) -> Q:
        """The condition "its `type` is one of `types`", in SQL (the same rule as `type`)."""
        wanted = set(types)
        condition = Q(pk__in=[])
        if Account.Type.LOAN in wanted:
            condition |= Q(kind=cls.Kind.LIABILITY)
        asset = Q(kind=cls.Kind.ASSET)
        mapped = [c for c, t in cls.ASSET_TYPES.items() if t in wanted]
        if mapped:
            condition |= asset & Q(category__in=mapped)
        if Account.Type.OTHER in wanted:
            condition |= asset & ~Q(category__in=list(cls.ASSET_TYPES))
        return condition

    @property
    def current(self) -> Decimal:
        """The value counted in totals now (totals read `current`, as of an Account)."""
        return self.value

    @property
    def api_id(self) -> str:
        """Its id in lists that hold Plaid accounts too ("m12"): never an Account's id."""
        return f"m{self.pk}"


class ManualValue(models.Model):
    """One value of a ManualAccount, from `as_of` until its next value (history)."""

    account = models.ForeignKey(ManualAccount, on_delete=models.CASCADE, related_name="values")
    value = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
    as_of = models.DateField()
    entered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Of two values of one day, the one entered last counts.
        ordering = ["account", "as_of", "entered_at", "pk"]
        indexes = [models.Index(fields=["account", "as_of"])]

    def __str__(self) -> str:
        return f"{self.account} {self.value} @ {self.as_of:%Y-%m-%d}"


class PlaidCall(models.Model):
    """One call to Plaid for an Item: the per-Item call log. Never holds a token."""

    item = models.ForeignKey(PlaidItem, on_delete=models.CASCADE, related_name="calls")
    called_at = models.DateTimeField(db_index=True)
    endpoint = models.CharField(max_length=100)
    request_id = models.CharField(max_length=100, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-called_at"]
        indexes = [models.Index(fields=["item", "-called_at"])]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.error_code or 'ok'} @ {self.called_at:%Y-%m-%d %H:%M:%S}"


class Profile(models.Model):
    """Per-user preferences and the stable, non-guessable id Plaid knows the user by."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="balances_profile"
    )
    # Sent to Plaid as `client_user_id`: never the username or email.
    plaid_user_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    main_currency = models.CharField(
        max_length=3, default="USD", help_text="Shown first wherever totals are per currency."
    )
    # An IANA name ("Europe/Paris"); blank: the site's TIME_ZONE, until the user chooses.
    time_zone = models.CharField(
        max_length=64, blank=True, default="", help_text="Times are shown in this zone."
    )

    def __str__(self) -> str:
        return f"Profile of {self.user}"


class BeatRun(models.Model):
    """When a scheduled (beat) task last ran to the end: what `/healthz` reports.

    One row per task name, updated in place (one UPDATE per run, no history).
    """

    # `task` of beat's fan-out, and of beat's own start (see finance/celery.py).
    FANOUT = "balances.tasks.refresh_all_items"
    BEAT_STARTED = "celery beat started"

    task = models.CharField(max_length=200, unique=True)
    ran_at = models.DateTimeField()
    items_queued = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "beat run"

    def __str__(self) -> str:
        return f"{self.task} @ {self.ran_at:%Y-%m-%d %H:%M:%S}"


class BalanceBudgetMonth(models.Model):
    """The month's reservation counter of PLAID_BALANCE_MONTHLY_BUDGET (one row a month).

    `reserved` counts the real-time calls the budget allowed this month (taken before each
    call by one conditional UPDATE, so two workers cannot both take the last one);
    `spent_at` is when it first refused one. See `services/budget.py`.
    """

    # The first day of the month, in TIME_ZONE.
    month = models.DateField(unique=True)
    reserved = models.PositiveIntegerField(default=0)
    spent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Plaid balance budget month"

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.reserved} reserved"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self, now: datetime | None = None) -> ApiTokenQuerySet:
        """Tokens that authenticate now: not revoked, not expired (`ApiToken.is_usable`)."""
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now or timezone.now())
        )


class ApiToken(models.Model):
    """A personal access token of the read API (`Authorization: Bearer <token>`).

    Only the SHA-256 of the token is stored: the token itself is shown once, when it is
    created, and can never be read back. `prefix` (its first characters) tells tokens apart
    in lists; it cannot authenticate.
    """

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    # Hex SHA-256 of the token: what a request's token is looked up by.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        ordering = ["user", "-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        """Whether the token authenticates now (the same rule as `ApiTokenQuerySet.usable`)."""
        return not self.is_revoked and not self.is_expired

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE


class HouseholdShare(models.Model):
    """One user (`owner`) letting another (`viewer`) see their balances, view-only.

    Invited, then accepted or declined by the viewer; either side ends it. Only an
    accepted share shows anything: all the owner's accounts (`all_accounts`, including
    ones linked later) or only the chosen `accounts` and `manual_accounts`. What a user
    may see is answered in one place, `selectors/households.py`; writes are in
    `services/households.py`. Ended and declined shares are kept as a record.
    """

    class State(models.TextChoices):
        INVITED = "invited", "Invited"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        ENDED = "ended", "Ended"

    # The states in which a share is current (at most one per owner and viewer).
    OPEN_STATES = (State.INVITED, State.ACCEPTED)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares_given"
    )
    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="shares_received"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.INVITED)
    all_accounts = models.BooleanField(
        default=True, help_text="Every account of the owner, including ones linked later."
    )
    accounts = models.ManyToManyField(Account, blank=True, related_name="+")
    manual_accounts = models.ManyToManyField(ManualAccount, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "household share"
        ordering = ["owner", "viewer", "-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "viewer"],
                condition=Q(state__in=["invited", "accepted"]),
                name="household_share_one_open",
            ),
            models.CheckConstraint(
                condition=~Q(owner=F("viewer")), name="household_share_not_to_self"
            ),
        ]
        indexes = [models.Index(fields=["viewer", "state"])]

    def __str__(self) -> str:
        return f"{self.owner} → {self.viewer} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES


class AlertSettings(models.Model):
    """A user's choice of alerts about their connections, and whether they get e-mail.

    Every alert is on by default: a user without a row gets all of them (the row is
    created the first time it is needed). Its row is also the lock that serializes two
    evaluations of one user's alerts (services/alerts/evaluate.py).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_settings"
    )
    login_required = models.BooleanField("A bank needs me to log in again", default=True)
    revoked = models.BooleanField("Access to a bank was revoked", default=True)
    expiring = models.BooleanField("A bank's consent expires within 7 days", default=True)
    new_accounts = models.BooleanField("A bank has new accounts to add", default=True)
    not_refreshed = models.BooleanField("A bank has not refreshed for too long", default=True)
    email = models.BooleanField("Send alerts to my e-mail address", default=True)

    class Meta:
        verbose_name = "alert settings"
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return f"Alert settings of {self.user}"


class AlertRule(models.Model):
    """A condition on balances its owner wants to hear about (see services/alerts)."""

    class Kind(models.TextChoices):
        BALANCE_BELOW = "balance_below", "Balance below an amount"
        DROP_AMOUNT = "drop_amount", "Balance fell by more than an amount since the day before"
        DROP_PERCENT = "drop_percent", "Balance fell by more than a percentage since the day before"
        UTILIZATION = "utilization", "Credit utilization above a percentage (each card)"
        UTILIZATION_TOTAL = "utilization_total", "Credit utilization above a percentage (all cards)"
        NET_WORTH_CHANGE = (
            "net_worth_change",
            "Net worth changed by more than a percentage in a day",
        )

    class Scope(models.TextChoices):
        ALL = "all", "All accounts"
        TYPE = "type", "Accounts of one type"
        ACCOUNT = "account", "One account"

    class Balance(models.TextChoices):
        AVAILABLE = "available", "Available balance"
        CURRENT = "current", "Current balance"

    PERCENT_KINDS = frozenset(
        {Kind.DROP_PERCENT, Kind.UTILIZATION, Kind.UTILIZATION_TOTAL, Kind.NET_WORTH_CHANGE}
    )
    # Kinds that look at one account at a time (the others: at a user's totals).
    ACCOUNT_KINDS = frozenset(
        {Kind.BALANCE_BELOW, Kind.DROP_AMOUNT, Kind.DROP_PERCENT, Kind.UTILIZATION}
    )

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_rules"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.ALL)
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, null=True, blank=True, related_name="alert_rules"
    )
    account_type = models.CharField(max_length=20, blank=True)
    balance = models.CharField(max_length=10, choices=Balance.choices, default=Balance.AVAILABLE)
    # An amount (in `currency`) or a percentage, by `kind`.
    threshold = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
    # For amounts: the currency the amount is in (accounts in other currencies are not
    # compared with it); blank for percentages.
    currency = models.CharField(max_length=20, blank=True)
    cooldown_hours = models.PositiveIntegerField(
        default=24, help_text="After firing, stay quiet at least this long."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["owner", "created_at", "pk"]
        indexes = [models.Index(fields=["owner", "enabled"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.owner})"


class AlertChannel(models.Model):
    """A user's push destination: an Apprise URL (ntfy, Gotify, Pushover, Telegram, ...).

    The URL holds the service's secrets: Fernet-encrypted at rest like access tokens, read
    through `url`, never rendered, logged, queued or shown in the admin; `hint` (its
    service, e.g. "ntfy") is what pages show.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_channels"
    )
    name = models.CharField(max_length=100)
    url_encrypted = models.TextField(editable=False)
    hint = models.CharField(max_length=50, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["owner", "name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint})"

    @property
    def url(self) -> str:
        """Return the decrypted Apprise URL. Never log, render or queue it."""
        return crypto.decrypt(self.url_encrypted)

    @url.setter
    def url(self, value: str) -> None:
        self.url_encrypted = crypto.encrypt(value)


class AlertState(models.Model):
    """Whether one alert condition held when last evaluated, and when it last fired.

    `key` names the condition and its subject ("rule:3:account:12", "item:7:login").
    An alert fires when its condition starts to hold (not again until it has stopped
    holding), and no sooner than its cooldown after it last fired.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    holding = models.BooleanField(default=False)
    fired_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="alert_state_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {'holds' if self.holding else 'clear'}"


class AlertMessage(models.Model):
    """The alerts of one user gathered into one message (one refresh cycle's alerts).

    Open while alerts may still join it (ALERT_GROUP_SECONDS after its first); closed by
    its first delivery, which then sends what it holds.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_messages"
    )
    created_at = models.DateTimeField()
    is_open = models.BooleanField(default=True)
    # A test message ("Send a test alert"): no alert of it is listed on the Notifications page.
    is_test = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["owner", "is_open"])]

    def __str__(self) -> str:
        return f"Message to {self.owner} @ {self.created_at:%Y-%m-%d %H:%M}"


class Alert(models.Model):
    """One alert that fired: what the Notifications page lists (read or unread)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts"
    )
    message = models.ForeignKey(AlertMessage, on_delete=models.CASCADE, related_name="alerts")
    rule = models.ForeignKey(
        AlertRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    item = models.ForeignKey(
        PlaidItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    account = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    key = models.CharField(max_length=100)
    title = models.CharField(max_length=200)
    text = models.TextField()
    # Where the user acts, as a path of this site (messages make it absolute: SITE_URL).
    link = models.CharField(max_length=200)
    link_label = models.CharField(max_length=100)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["owner", "read_at"]),
            models.Index(fields=["owner", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.title


class AlertDelivery(models.Model):
    """Sending one AlertMessage through one channel: e-mail (`email` set) or push (`channel`;
    empty once the channel is removed, which fails the delivery).

    Recorded with the message, before anything is sent; the delivery task sends it
    (retrying with backoff) and records the outcome. `claimed_until`: a worker is sending
    it until then (a compare-and-set claim: two tasks never send it at once; a worker
    killed while sending lets it go when the claim runs out).
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    message = models.ForeignKey(AlertMessage, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(
        AlertChannel, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries"
    )
    # The address of an e-mail delivery (blank for push).
    email = models.EmailField(blank=True)
    # What it goes to, as shown: "e-mail to a@b.c" or the channel's name and service.
    target = models.CharField(max_length=300)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    UNSENT_STATES = (State.PENDING, State.RETRYING)

    class Meta:
        verbose_name_plural = "alert deliveries"
        ordering = ["-pk"]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.target}: {self.get_state_display()}"
