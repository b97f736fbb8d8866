"""`manage.py item_clear_error ITEM`: mark an Item healthy again and retry its refresh."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from kombu.exceptions import OperationalError

from balances.services import operations

from ._item_arg import add_item_argument, item_from


class Command(BaseCommand):
    help = "Clear an Item's error (status back to healthy) and queue a real-time refresh."

    def add_arguments(self, parser: CommandParser) -> None:
        add_item_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        item = item_from(options["item"])
        previous = item.error_code or item.status
        try:
            queued = operations.item_clear_error(item=item)
        except OperationalError as exc:
            raise CommandError(
                f"Cleared {previous} on {item}, but the task queue is unreachable ({exc}); "
                "the next scheduled run refreshes it."
            ) from exc
        retry = "queued a refresh" if queued else "a refresh was already queued or running"
        self.stdout.write(f"Cleared {previous} on {item}; {retry}.")
