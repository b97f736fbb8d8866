"""End to end: command → Redis → real Celery worker → plaid-python → emulator over HTTP → DB."""

import pytest

from balances.models import Account, BalanceSnapshot
from balances.services import linking
from tests.e2e.conftest import ROOT, manage, wait_for
from tests.factories import UserFactory
from tests.helpers import text

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_worker_refreshes_a_linked_item_through_redis_and_the_emulator(
    emulator, process_env, start_worker, client
):
    user = UserFactory(username="alice")
    item = linking.item_link_sandbox(user=user, institution_id="ins_3", queue_refresh=False)
    assert item.institution_name == "Chase"
    # Linking registers the accounts (the duplicate guard compares them); balances wait
    # for the first refresh.
    assert Account.objects.filter(item=item).count() == 5
    assert not Account.objects.filter(current__isnull=False).exists()

    worker = start_worker()
    queued = manage(process_env, "refresh_balances", "--user", "alice")
    assert queued.returncode == 0, queued.stderr
    assert "Queued 1 refresh task(s)." in queued.stdout

    stored = Account.objects.filter(item=item, current__isnull=False)
    assert wait_for(lambda: stored.count() == 5), "the worker did not store the balances"
    assert worker.poll() is None
    assert BalanceSnapshot.objects.filter(account__item=item).count() == 5
    client.force_login(user)
    page = text(client.get("/"))
    assert 'data-currency="USD">$44,110.00<' in page
    assert page.count('<tr class="account"') == 5


def test_link_sandbox_item_command_links_and_refreshes(emulator, process_env):
    UserFactory(username="bob")
    result = manage(process_env, "link_sandbox_item", "bob", "--institution", "ins_109508")
    assert result.returncode == 0, result.stderr
    assert "Fetched balances of 12 account(s)." in result.stdout
    assert Account.objects.filter(item__owner__username="bob").count() == 12


def test_link_sandbox_item_refuses_production(process_env):
    UserFactory(username="carol")
    result = manage({**process_env, "PLAID_ENV": "production"}, "link_sandbox_item", "carol")
    assert result.returncode != 0
    assert "production" in result.stderr


def test_without_redis_the_file_broker_carries_the_refresh(
    emulator, process_env, start_worker, tmp_path
):
    """What `make run` falls back to when Redis is unreachable: a broker in files."""
    user = UserFactory(username="dora")
    item = linking.item_link_sandbox(user=user, institution_id="ins_3", queue_refresh=False)
    env = {**process_env, "CELERY_BROKER_URL": "filesystem://", "DATA_DIR": str(tmp_path)}
    env.pop("THROTTLE_REDIS_URL", None)
    start_worker(pool="threads", concurrency=8, env=env)  # as `make run` starts it
    queued = manage(env, "refresh_balances", "--user", "dora")
    assert queued.returncode == 0, queued.stderr
    assert wait_for(lambda: Account.objects.filter(item=item, current__isnull=False).count() == 5)
    assert (tmp_path / "celery-broker" / "control").is_dir()
    assert not (ROOT / "control").exists(), "the file broker wrote into the checkout"
