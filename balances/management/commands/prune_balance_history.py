"""`manage.py prune_balance_history [--days N] [--dry-run]`: thin old balance history."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from balances.services import history


class Command(BaseCommand):
    help = (
        "Delete intra-day balance snapshots older than BALANCE_HISTORY_DETAIL_DAYS, keeping "
        "each account's last snapshot of every day, and older Plaid call-log rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            help="Keep full detail for this many days (default BALANCE_HISTORY_DETAIL_DAYS).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = history.snapshots_prune(days=options["days"], dry_run=options["dry_run"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(
            f"{verb} {result.snapshots_deleted} snapshot(s) and {result.calls_deleted} "
            f"call-log row(s) from before {result.cutoff:%Y-%m-%d %H:%M %Z}."
        )
