"""`manage.py api_token_create USERNAME --name NAME [--write] [--expires-in DAYS]`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from balances.models import ApiToken
from balances.services import api_tokens


class Command(BaseCommand):
    help = (
        "Create an API token for a user and print it, alone on the last line. It is shown "
        "this once: only its hash is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What will use the token.")
        parser.add_argument(
            "--write",
            action="store_true",
            help="Read and write (may ask for a connection's refresh); read-only without.",
        )
        parser.add_argument(
            "--expires-in",
            type=int,
            metavar="DAYS",
            default=None,
            help="Days until the token expires (never, without).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        user = user_model.objects.filter(**{user_model.USERNAME_FIELD: options["username"]}).first()
        if user is None:
            raise CommandError(f"No user is called {options['username']!r}.")
        try:
            token, text = api_tokens.api_token_create(
                user=user,
                name=options["name"],
                scope=ApiToken.Scope.WRITE if options["write"] else ApiToken.Scope.READ,
                expires_in_days=options["expires_in"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        expiry = "no expiry"
        if token.expires_at:
            expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M %Z}"
        self.stdout.write(
            f"Created API token {token.name!r} for {options['username']} "
            f"({token.get_scope_display().lower()}, {expiry}). Shown this once:"
        )
        self.stdout.write(text)
