"""`{{ item.error_code|error_help }}`: what an Item's error means and what to do."""

from django import template

from balances.plaid.errors import help_for_error

register = template.Library()


@register.filter
def error_help(code: str) -> str:
    return help_for_error(code) if code else ""
