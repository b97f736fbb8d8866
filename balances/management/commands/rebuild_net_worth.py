"""`manage.py rebuild_net_worth [--user USERNAME]`: recompute the daily net-worth totals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from balances.services import net_worth


class Command(BaseCommand):
    help = (
        "Recompute the daily net-worth totals the dashboard charts from the balance "
        "snapshots: after TIME_ZONE changed or snapshots were restored by hand."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="Only this username (default: every user).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user named {options['user']!r}.")
            rows = net_worth.net_worth_rebuild(user_id=user.pk)
            self.stdout.write(f"Rebuilt {user.get_username()}: {rows} daily row(s).")
            return
        users, rows = net_worth.net_worth_rebuild_all()
        self.stdout.write(f"Rebuilt {users} user(s): {rows} daily row(s).")
