"""`manage.py item_remove ITEM --yes`: remove an Item at Plaid, then delete it here."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from balances.services import operations
from balances.services.linking import LinkError

from ._item_arg import add_item_argument, describe, item_from


class Command(BaseCommand):
    help = (
        "Remove an Item at Plaid (access ends, billing stops), then delete it here with its "
        "accounts, balance history and call log. Needs --yes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_item_argument(parser)
        parser.add_argument("--yes", action="store_true", help="Confirm: this cannot be undone.")

    def handle(self, *args: Any, **options: Any) -> None:
        item = item_from(options["item"])
        if not options["yes"]:
            raise CommandError(
                f"Would remove at Plaid and delete:\n  {describe(item)}\n"
                "with its accounts and their balance history. Nothing was changed; "
                "run again with --yes to do it."
            )
        name = str(item)
        try:
            operations.item_remove(item=item)
        except LinkError as exc:
            raise CommandError(f"{name}: {exc}") from exc
        self.stdout.write(f"Removed {name} at Plaid and deleted it here.")
