"""`manage.py demo_setup`: a demo user, its password made once, and, in sandbox, a linked Item."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from balances.models import PlaidItem


class Command(BaseCommand):
    help = (
        "Create a demo user with a fresh password (printed once, when it is created; an "
        "existing user's password and sessions are kept) and link a sandbox Item for it if "
        "it has none. Used by `make run`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--institution", default="ins_3")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(**{user_model.USERNAME_FIELD: username})
        password = ""
        if created or not user.has_usable_password():
            # Only a new user gets a password: resetting it on every run would lock out a
            # user who adopted the demo account and sign out each of its sessions.
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.save()
        if settings.PLAID_ENV != "production" and not PlaidItem.objects.filter(owner=user).exists():
            call_command(
                "link_sandbox_item",
                username,
                institution=options["institution"],
                stdout=self.stdout,
            )
        change = f"`.venv/bin/python manage.py changepassword {username}`"
        if password:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo user created: username {username!r}, password {password!r}. It is "
                    f"shown this once and kept on later runs; change it in the app (Change "
                    f"password) or with {change}."
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo user {username!r} ready, with the password it already had (printed "
                    f"when it was created; forgotten? set a new one with {change})."
                )
            )
