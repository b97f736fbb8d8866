"""A user's alert rules and alert choices: checked, then saved, or nothing changes."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from balances.models import Account, AlertRule, AlertSettings

MAX_RULES = 100
MAX_PERCENT = Decimal(1000)


def alert_rule_create(
    *,
    user: User,
    kind: str,
    scope: str,
    threshold: Decimal,
    account_id: int | None = None,
    account_type: str = "",
    balance: str = AlertRule.Balance.AVAILABLE,
    currency: str = "",
    cooldown_hours: int = 24,
) -> AlertRule:
    """Create a rule; raise ValidationError (a dict of field errors; nothing saved) for an
    unknown kind, scope or account, a negative or absurd threshold, or an amount in a
    currency the account does not have."""
    errors: dict[str, str] = {}
    if kind not in AlertRule.Kind.values:
        errors["kind"] = "Choose what the alert watches."
    if scope not in AlertRule.Scope.values:
        errors["scope"] = "Choose which accounts it watches."
    if balance not in AlertRule.Balance.values:
        errors["balance"] = "Choose the available or the current balance."
    percent = kind in AlertRule.PERCENT_KINDS
    if threshold < 0:
        errors["threshold"] = (
            "A percentage cannot be negative." if percent else "The amount cannot be negative."
        )
    elif percent and threshold > MAX_PERCENT:
        errors["threshold"] = f"A percentage of at most {MAX_PERCENT} is expected."
    if cooldown_hours < 0 or cooldown_hours > 24 * 365:
        errors["cooldown_hours"] = "The quiet time is 0 to 8,760 hours."
    account = None
    if scope == AlertRule.Scope.ACCOUNT:
        if account_id is None:
            errors["account"] = "Choose the account."
        else:
            account = Account.objects.counted().filter(pk=account_id, item__owner=user).first()
            if account is None:
                errors["account"] = "There is no such account among yours."
        if kind in (AlertRule.Kind.NET_WORTH_CHANGE, AlertRule.Kind.UTILIZATION_TOTAL):
            errors["scope"] = "This alert is about all your accounts together."
        elif kind == AlertRule.Kind.UTILIZATION and account and account.type != Account.Type.CREDIT:
            errors["account"] = f"{account} is not a credit card."
    elif scope == AlertRule.Scope.TYPE:
        if account_type not in Account.Type.values:
            errors["account_type"] = "Choose the type of account."
        if kind in (AlertRule.Kind.NET_WORTH_CHANGE, AlertRule.Kind.UTILIZATION_TOTAL):
            errors["scope"] = "This alert is about all your accounts together."
    currency = currency.strip().upper()
    if percent:
        currency = ""
    elif not currency and account is not None:
        currency = account.currency
    elif not currency:
        errors["currency"] = "Say which currency the amount is in."
    elif account is not None and account.currency != currency:
        errors["currency"] = (
            f"{account} is in {account.currency or 'no currency'}, not {currency}: an amount "
            f"in {currency} cannot be compared with it."
        )
    elif len(currency) > 20:
        errors["currency"] = "That is not a currency code."
    if AlertRule.objects.filter(owner=user).count() >= MAX_RULES:
        errors["__all__"] = f"You can have at most {MAX_RULES} rules."
    if errors:
        raise ValidationError(errors)
    return AlertRule.objects.create(
        owner=user,
        kind=kind,
        scope=scope,
        account=account,
        account_type=account_type if scope == AlertRule.Scope.TYPE else "",
        balance=balance,
        threshold=threshold,
        currency=currency,
        cooldown_hours=cooldown_hours,
    )


def alert_rule_delete(*, user: User, rule_id: int) -> AlertRule | None:
    """Delete one of the user's rules; None if it is not theirs."""
    rule = AlertRule.objects.filter(owner=user, pk=rule_id).first()
    if rule is not None:
        rule.delete()
    return rule


def alert_settings_update(*, user: User, **choices: bool) -> AlertSettings:
    """Save the user's alert choices (fields of AlertSettings)."""
    allowed = {"login_required", "revoked", "expiring", "new_accounts", "not_refreshed", "email"}
    unknown = set(choices) - allowed
    if unknown:
        raise ValidationError(f"Unknown alert settings: {', '.join(sorted(unknown))}")
    prefs, _ = AlertSettings.objects.update_or_create(user=user, defaults=choices)
    return prefs
