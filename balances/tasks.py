"""Celery tasks: thin wrappers that call services. Arguments are ids, never tokens."""

from __future__ import annotations

import logging
import random

from celery import shared_task
from celery.app.task import Task
from django.conf import settings

from . import services
from .models import PlaidItem
from .plaid_client import PlaidError

logger = logging.getLogger(__name__)

# Backoff for transient Plaid failures: 30 s, 60 s, 120 s, ... capped, with full jitter.
RETRY_BASE_SECONDS = 30
RETRY_CAP_SECONDS = 30 * 60


def retry_delay(retries: int) -> float:
    """Return the seconds to wait before retry number `retries` + 1."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**retries)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not security)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def refresh_item_balances(self: Task, item_id: int) -> str:
    """Refresh one Item's balances (`item_id` is PlaidItem's primary key)."""
    item = PlaidItem.objects.filter(pk=item_id).first()
    if item is None or not item.is_active:
        return "skipped"
    try:
        result = services.item_refresh_balances(item=item)
    except PlaidError as error:
        if error.retryable and self.request.retries < settings.BALANCE_REFRESH_MAX_RETRIES:
            raise self.retry(countdown=retry_delay(self.request.retries), exc=error) from error
        return f"failed: {error.code}"
    return f"ok: {result.accounts_created + result.accounts_updated} accounts"


@shared_task
def refresh_all_items() -> int:
    """Queue a refresh of every active Item (run by beat every BALANCE_REFRESH_INTERVAL)."""
    items = PlaidItem.objects.filter(status__in=[PlaidItem.Status.HEALTHY, PlaidItem.Status.ERROR])
    return services.items_queue_refresh(items=items.only("pk", "status"))
