"""`manage.py item_list [--stale] [--erroring] [--login-required]`: Items, one per line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from balances.selectors.items import items_matching

from ._item_arg import describe


class Command(BaseCommand):
    help = (
        "List Items (id, Plaid item_id, owner, institution, status, last refresh). With "
        "filters, only Items matching any of them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stale",
            action="store_true",
            help="Last successful refresh older than BALANCE_STALE_AFTER (or never).",
        )
        parser.add_argument(
            "--erroring", action="store_true", help="In error, or with an error recorded."
        )
        parser.add_argument(
            "--login-required",
            action="store_true",
            help="Needs its owner to log in again, now or before consent expires.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        items = items_matching(
            stale=options["stale"],
            erroring=options["erroring"],
            login_required=options["login_required"],
        )
        count = 0
        for item in items.iterator(chunk_size=500):
            self.stdout.write(describe(item))
            count += 1
        self.stdout.write(f"{count} Item(s).")
