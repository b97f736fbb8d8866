"""The ITEM argument of the `item_*` commands: a primary key or a Plaid item_id."""

from __future__ import annotations

from django.core.management.base import CommandError, CommandParser

from balances.models import PlaidItem
from balances.selectors.items import ItemNotFound, item_by_reference


def add_item_argument(parser: CommandParser) -> None:
    parser.add_argument("item", metavar="ITEM", help="The Item's id (pk) or Plaid item_id.")


def item_from(reference: str) -> PlaidItem:
    """Return the Item `reference` names, or stop the command with a clear error."""
    try:
        return item_by_reference(reference)
    except ItemNotFound as exc:
        raise CommandError(str(exc)) from exc


def describe(item: PlaidItem) -> str:
    """One line about an Item for a shell: never its token."""
    refreshed = item.last_refreshed_at.isoformat() if item.last_refreshed_at else "never"
    error = f" {item.error_code}" if item.error_code else ""
    warning = f" {item.warning_code} until {item.expires_at:%Y-%m-%d}" if item.expires_at else ""
    return (
        f"{item.pk}\t{item.plaid_item_id}\t{item.owner}\t"
        f"{item.display_name}\t"
        f"{item.status}{error}{warning}\trefreshed {refreshed}"
    )
