"""`manage.py link_sandbox_item USERNAME [--institution ID]`: link a sandbox Item, no browser."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from balances.plaid.errors import PlaidError
from balances.selectors.items import items_sharing_accounts
from balances.services import linking, store

from ._plaid_config import raise_if_operator_error, require_plaid_configured


class Command(BaseCommand):
    help = (
        "Link a sandbox Item for a user through /sandbox/public_token/create and the same "
        "exchange-and-store service as the web flow, then refresh it once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--institution",
            default="ins_109508",
            help="Sandbox institution id (default: ins_109508, First Platypus Bank).",
        )
        parser.add_argument(
            "--no-refresh", action="store_true", help="Do not fetch balances right away."
        )
        parser.add_argument(
            "--override-username",
            help="Sandbox test user (e.g. user_custom; default: Plaid's user_good).",
        )
        parser.add_argument(
            "--override-password",
            help="Its password (for user_custom: a JSON override_accounts configuration).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PLAID_ENV == "production":
            raise CommandError("PLAID_ENV is production: sandbox Items cannot be linked there.")
        require_plaid_configured()
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: options["username"]})
        except user_model.DoesNotExist as exc:
            raise CommandError(f"No user {options['username']!r}.") from exc
        try:
            item = linking.item_link_sandbox(
                user=user,
                institution_id=options["institution"],
                products=settings.PLAID_PRODUCTS,
                queue_refresh=False,
                override_username=options["override_username"],
                override_password=options["override_password"],
            )
        except linking.LinkError as exc:
            # The duplicate guard: the new Item is removed at Plaid already.
            raise CommandError(str(exc)) from exc
        except PlaidError as error:
            raise_if_operator_error(error)
            raise CommandError(f"Plaid refused: {error.code} {error.message}") from error
        self.stdout.write(f"Linked {item} (item {item.plaid_item_id}).")
        for other in items_sharing_accounts(item=item):
            self.stdout.write(
                f"It shares accounts with {other} (item {other.plaid_item_id}): each shared "
                "account counts once until one connection is kept (the connections page)."
            )
        if options["no_refresh"]:
            return
        try:
            result = store.item_refresh_balances(item=item)
        except PlaidError as error:
            raise_if_operator_error(error)
            raise CommandError(
                f"Linked, but the first refresh failed: {error.code} {error.message}"
            ) from error
        fetched = result.accounts_created + result.accounts_updated
        self.stdout.write(f"Fetched balances of {fetched} account(s).")
