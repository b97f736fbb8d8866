"""Re-encrypt every stored Plaid access token with the first key of FIELD_ENCRYPTION_KEY."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from balances.services.encryption import item_tokens_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored Plaid access token with the first key in "
        "FIELD_ENCRYPTION_KEY, in batches, while the app keeps running. Run it after "
        "putting the new key first; remove the old key only once this reports none left."
    )
    # Runs without the start-up key check: it reports undecryptable tokens itself.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Items read per query (default 500)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be rotated; change nothing."
        )

    def handle(self, *args: Any, batch_size: int, dry_run: bool, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        result = item_tokens_rotate(batch_size=batch_size, dry_run=dry_run)
        verb = "Would re-encrypt" if dry_run else "Re-encrypted"
        self.stdout.write(
            f"{verb} {result.rotated} token(s); {result.already_current} already used the "
            "first key."
        )
        if result.changed_meanwhile:
            self.stdout.write(
                f"{result.changed_meanwhile} token(s) changed while rotating (an Item was "
                "relinked meanwhile): run the command again."
            )
        if result.undecryptable:
            ids = ", ".join(str(pk) for pk in result.undecryptable)
            raise CommandError(
                f"{len(result.undecryptable)} token(s) cannot be decrypted with any key in "
                f"FIELD_ENCRYPTION_KEY (PlaidItem ids {ids}). They were left unchanged: add "
                "the key they were encrypted with, or relink those Items."
            )
        if not dry_run and not result.changed_meanwhile:
            self.stdout.write(
                self.style.SUCCESS(
                    "Every stored token uses the first key: the other keys can be removed."
                )
            )
