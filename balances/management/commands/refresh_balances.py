"""`manage.py refresh_balances [--user USERNAME] [--sync]`: refresh linked Items."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from kombu.exceptions import OperationalError

from balances.models import PlaidItem
from balances.plaid.errors import PlaidError
from balances.services import queueing, refresh
from balances.shared_state.api import SharedStateUnavailable

from ._plaid_config import raise_if_operator_error, require_plaid_configured


class Command(BaseCommand):
    help = "Refresh balances of active Items: queue tasks, or with --sync call Plaid now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="Only this user's Items (username).")
        parser.add_argument(
            "--sync", action="store_true", help="Refresh in this process instead of queueing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        items = PlaidItem.objects.active().select_related("owner")
        if options["user"]:
            user_model = get_user_model()
            try:
                user = user_model.objects.get(**{user_model.USERNAME_FIELD: options["user"]})
            except user_model.DoesNotExist as exc:
                raise CommandError(f"No user {options['user']!r}.") from exc
            items = items.filter(owner=user)

        if not options["sync"]:
            try:
                queued = queueing.items_queue_refresh(items=items)
            except OperationalError as exc:
                raise CommandError(f"Cannot reach the task queue: {exc}") from exc
            self.stdout.write(f"Queued {queued} refresh task(s).")
            return

        require_plaid_configured()
        failures = 0
        for item in items:
            try:
                result = refresh.item_refresh_in_process(item=item)
            except PlaidError as error:
                raise_if_operator_error(error)  # every other Item would fail the same way
                failures += 1
                self.stderr.write(f"{item}: {error.code} {error.message}")
                continue
            except refresh.ItemBusy as exc:
                failures += 1
                self.stderr.write(f"{item}: not refreshed: {exc}")
                continue
            except SharedStateUnavailable as exc:
                raise CommandError(f"Cannot reach the shared throttle state: {exc}") from exc
            self.stdout.write(
                f"{item}: {result.accounts_created + result.accounts_updated} accounts, "
                f"{result.snapshots_written} snapshot(s)"
            )
        if failures:
            raise CommandError(f"{failures} Item(s) failed to refresh.")
