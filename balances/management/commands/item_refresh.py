"""`manage.py item_refresh ITEM [--sync]`: refresh one Item now (queued, or in this process)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from kombu.exceptions import OperationalError

from balances.plaid.errors import PlaidError
from balances.services import queueing, refresh
from balances.shared_state.api import SharedStateUnavailable

from ._item_arg import add_item_argument, item_from
from ._plaid_config import raise_if_operator_error, require_plaid_configured


class Command(BaseCommand):
    help = "Refresh one Item's balances in real time: queue a task, or with --sync call Plaid now."

    def add_arguments(self, parser: CommandParser) -> None:
        add_item_argument(parser)
        parser.add_argument(
            "--sync", action="store_true", help="Refresh in this process instead of queueing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        item = item_from(options["item"])
        if not item.is_active:
            raise CommandError(
                f"{item} is {item.get_status_display().lower()}: it cannot be refreshed "
                "(its owner must log in again, or `item_clear_error` to retry anyway)."
            )
        if options["sync"]:
            require_plaid_configured()
            try:
                result = refresh.item_refresh_in_process(item=item)
            except PlaidError as error:
                raise_if_operator_error(error)
                raise CommandError(f"{item}: Plaid said {error.code}: {error.message}") from error
            except refresh.ItemBusy as exc:
                raise CommandError(f"{item}: not refreshed: {exc}.") from exc
            except SharedStateUnavailable as exc:
                raise CommandError(f"Cannot reach the shared throttle state: {exc}") from exc
            self.stdout.write(
                f"Refreshed {item}: {result.accounts_created + result.accounts_updated} "
                f"account(s), {result.snapshots_written} snapshot(s)."
            )
            return
        try:
            queued = queueing.item_queue_refresh(item=item, realtime=True)
        except OperationalError as exc:
            raise CommandError(f"Cannot reach the task queue: {exc}") from exc
        if queued:
            self.stdout.write(f"Queued a refresh of {item}.")
        else:
            self.stdout.write(f"A refresh of {item} is already queued or running.")
