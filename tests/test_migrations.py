"""Migrations are complete (models and migrations agree) and reversible."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:  # makemigrations --check exits 1 when one is missing
        pytest.fail(f"missing migration:\n{out.getvalue()} (exit {exit_.code})")


@pytest.mark.django_db(transaction=True)
def test_balances_migrations_reverse_to_zero_and_apply_again():
    call_command("migrate", "balances", "zero", verbosity=0)
    call_command("migrate", verbosity=0)
    from balances.models import PlaidItem

    assert PlaidItem.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_from_before_the_daily_totals_fills_them_counting_manual_accounts():
    """0004 added the daily totals; their first fill runs in the last migration (0007), as
    the app's rebuild reads what later migrations add (manual accounts, `duplicate_of`)."""
    from datetime import UTC, datetime

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("balances", "0003_beat_run")])
    old = executor.loader.project_state([("balances", "0003_beat_run")]).apps
    user = old.get_model("auth", "User").objects.create(username="upgrader")
    item = old.get_model("balances", "PlaidItem").objects.create(
        owner_id=user.pk, plaid_item_id="item-upgrade", access_token_encrypted="x"
    )
    account = old.get_model("balances", "Account").objects.create(
        item=item,
        plaid_account_id="a",
        name="Checking",
        type="depository",
        iso_currency_code="USD",
        current=110,
    )
    old.get_model("balances", "BalanceSnapshot").objects.create(
        account=account, taken_at=datetime(2026, 1, 1, 12, tzinfo=UTC), current=110
    )
    call_command("migrate", verbosity=0)
    from balances.models import NetWorthDay

    (row,) = NetWorthDay.objects.filter(user_id=user.pk)
    assert (row.currency, row.assets, row.accounts) == ("USD", 110, 1)
