"""`rules` and `channels`: bad input gets a clear error and saves nothing; Apprise URLs are
kept encrypted and never shown."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from balances.models import AlertChannel, AlertRule
from balances.services.alerts import channels, rules
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def test_a_negative_percentage_is_refused():
    user = UserFactory()
    with pytest.raises(ValidationError) as exc:
        rules.alert_rule_create(
            user=user, kind=AlertRule.Kind.DROP_PERCENT, scope="all", threshold=Decimal("-5")
        )
    assert errors_of(exc)["threshold"] == ["A percentage cannot be negative."]
    assert not AlertRule.objects.exists()


def test_another_users_account_is_unknown():
    other = AccountFactory()
    with pytest.raises(ValidationError) as exc:
        rules.alert_rule_create(
            user=UserFactory(),
            kind=AlertRule.Kind.BALANCE_BELOW,
            scope="account",
            account_id=other.pk,
            threshold=Decimal(10),
        )
    assert errors_of(exc)["account"] == ["There is no such account among yours."]
    assert not AlertRule.objects.exists()


def test_an_amount_in_a_currency_the_account_does_not_have_is_refused():
    account = AccountFactory(iso_currency_code="EUR")
    with pytest.raises(ValidationError) as exc:
        rules.alert_rule_create(
            user=account.item.owner,
            kind=AlertRule.Kind.BALANCE_BELOW,
            scope="account",
            account_id=account.pk,
            threshold=Decimal(10),
            currency="USD",
        )
    assert "is in EUR, not USD" in errors_of(exc)["currency"][0]
    assert not AlertRule.objects.exists()


def test_a_rule_on_an_account_takes_its_currency():
    account = AccountFactory(iso_currency_code="EUR")
    rule = rules.alert_rule_create(
        user=account.item.owner,
        kind=AlertRule.Kind.BALANCE_BELOW,
        scope="account",
        account_id=account.pk,
        threshold=Decimal(10),
    )
    assert rule.currency == "EUR" and rule.account == account


def test_utilization_of_a_non_card_and_net_worth_per_account_are_refused():
    account = AccountFactory(type="depository")
    with pytest.raises(ValidationError) as exc:
        rules.alert_rule_create(
            user=account.item.owner,
            kind=AlertRule.Kind.UTILIZATION,
            scope="account",
            account_id=account.pk,
            threshold=Decimal(30),
        )
    assert "is not a credit card" in errors_of(exc)["account"][0]
    with pytest.raises(ValidationError) as exc:
        rules.alert_rule_create(
            user=account.item.owner,
            kind=AlertRule.Kind.NET_WORTH_CHANGE,
            scope="account",
            account_id=account.pk,
            threshold=Decimal(5),
        )
    assert "all your accounts together" in errors_of(exc)["scope"][0]


@pytest.mark.parametrize("url", ["", "not a url", "nosuchservice://x/y", "tgram://"])
def test_an_apprise_url_that_does_not_parse_is_refused_without_echoing_it(url):
    with pytest.raises(ValidationError) as exc:
        channels.alert_channel_add(user=UserFactory(), name="phone", url=url)
    text = " ".join(exc.value.messages)
    assert "Apprise" in text
    if len(url) > 12:
        assert url not in text
    assert not AlertChannel.objects.exists()


def test_a_channel_url_is_encrypted_at_rest_and_named_by_its_service():
    url = "ntfys://ntfy.sh/very-secret-topic-123"
    channel = channels.alert_channel_add(user=UserFactory(), name="", url=url)
    channel.refresh_from_db()
    assert channel.hint == "ntfy" and channel.name == "ntfy"
    assert "very-secret-topic" not in channel.url_encrypted
    assert channel.url == url


def test_a_channel_of_another_user_cannot_be_deleted_or_tested():
    channel = channels.alert_channel_add(user=UserFactory(), name="x", url="json://localhost/a")
    intruder = UserFactory()
    assert channels.alert_channel_delete(user=intruder, channel_id=channel.pk) is None
    assert channels.alert_test_send(user=intruder, channel_id=channel.pk) is None
    assert AlertChannel.objects.filter(pk=channel.pk).exists()


def test_item_less_user_without_email_gets_no_email_test():
    user = UserFactory(email="")
    PlaidItemFactory(owner=user)
    assert channels.alert_test_send(user=user, channel_id=None) is None


@given(
    kind=st.sampled_from([*AlertRule.Kind.values, "bogus", ""]),
    scope=st.sampled_from([*AlertRule.Scope.values, "x"]),
    threshold=st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False),
    currency=st.sampled_from(["", "USD", "EUR", "usd", "X" * 25]),
    account_type=st.sampled_from(["", "credit", "depository", "nope"]),
    own_account=st.booleans(),
)
@hyp_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_rule_input_is_saved_consistently_or_refused_with_nothing_saved(
    kind, scope, threshold, currency, account_type, own_account
):
    """Property: every input either saves a rule that obeys the rules (non-negative
    threshold, an own account's currency, percentages without a currency) or raises a
    ValidationError and saves nothing."""
    user = UserFactory()
    mine = AccountFactory(item=PlaidItemFactory(owner=user), iso_currency_code="USD")
    other = AccountFactory()
    before = AlertRule.objects.count()
    try:
        rule = rules.alert_rule_create(
            user=user,
            kind=kind,
            scope=scope,
            threshold=threshold,
            account_id=(mine if own_account else other).pk,
            account_type=account_type,
            currency=currency,
        )
    except ValidationError:
        assert AlertRule.objects.count() == before
        return
    assert rule.threshold >= 0
    assert rule.kind in AlertRule.Kind.values and rule.scope in AlertRule.Scope.values
    if rule.scope == AlertRule.Scope.ACCOUNT:
        assert rule.account_id == mine.pk
        if rule.kind not in AlertRule.PERCENT_KINDS:
            assert rule.currency == "USD"
    if rule.kind in AlertRule.PERCENT_KINDS:
        assert rule.currency == ""
    else:
        assert rule.currency
