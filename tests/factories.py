"""factory_boy factories for the balances models."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from balances.models import Account, BalanceSnapshot, ManualAccount, NetWorthDay, PlaidItem


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class PlaidItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlaidItem

    owner = factory.SubFactory(UserFactory)
    plaid_item_id = factory.Sequence(lambda n: f"item-{n:06d}")
    access_token = factory.Sequence(lambda n: f"access-sandbox-{n:08d}-secret")
    institution_id = "ins_3"
    institution_name = "Chase"


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    item = factory.SubFactory(PlaidItemFactory)
    plaid_account_id = factory.Sequence(lambda n: f"acct-{n:06d}")
    name = "Plaid Checking"
    mask = factory.Sequence(lambda n: f"{n % 10000:04d}")
    type = "depository"
    subtype = "checking"
    iso_currency_code = "USD"
    available = Decimal("100")
    current = Decimal("110")
    limit = None


class BalanceSnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BalanceSnapshot

    account = factory.SubFactory(AccountFactory)
    taken_at = factory.Faker("date_time_this_year", tzinfo=__import__("datetime").UTC)
    available = Decimal("100")
    current = Decimal("110")


class ManualAccountFactory(factory.django.DjangoModelFactory):
    """An account entered by hand: a house worth 1,000 USD as of today unless told."""

    class Meta:
        model = ManualAccount

    owner = factory.SubFactory(UserFactory)
    name = "House"
    kind = ManualAccount.Kind.ASSET
    category = ManualAccount.Category.PROPERTY
    iso_currency_code = "USD"
    value = Decimal(1000)
    value_as_of = factory.LazyFunction(timezone.localdate)


class NetWorthDayFactory(factory.django.DjangoModelFactory):
    """One user's daily totals in one currency (what a refresh keeps)."""

    class Meta:
        model = NetWorthDay

    user = factory.SubFactory(UserFactory)
    currency = "USD"
    currency_is_official = True
    day = factory.LazyFunction(timezone.localdate)
    assets = Decimal(0)
    liabilities = Decimal(0)
    accounts = 1
