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
