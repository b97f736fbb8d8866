"""`manage.py demo_setup`: a demo user with a fresh password and, in sandbox, a linked Item."""

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
        "Create (or reset the password of) a demo user, print its credentials, and link a "
        "sandbox Item for it if it has none. Used by `make run`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="demo")
        parser.add_argument("--institution", default="ins_3")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(**{user_model.USERNAME_FIELD: username})
        user.set_password(password)
        user.save()
        if settings.PLAID_ENV != "production" and not PlaidItem.objects.filter(owner=user).exists():
            call_command(
                "link_sandbox_item",
                username,
                institution=options["institution"],
                stdout=self.stdout,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo user {'created' if created else 'ready'}: username {username!r}, "
                f"password {password!r} (a new one on every `make run`)."
            )
        )
