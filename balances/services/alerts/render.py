"""A message's words: subject, plain text and HTML, with absolute links (SITE_URL).

Never holds an access token or an Apprise URL: it renders only alerts' titles, texts and
links, which name banks, accounts, figures and thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from balances.models import Alert


@dataclass(frozen=True, slots=True)
class Content:
    subject: str
    text: str
    html: str


def absolute(path: str) -> str:
    """Return `path` of this site as an absolute URL (SITE_URL in front)."""
    return f"{settings.SITE_URL}{path}"


def money(amount: Decimal, currency: str) -> str:
    """An amount as messages show it: "1,234.56 USD" (two decimals, grouped)."""
    value = amount.quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{value:,.2f} {currency}".strip()


def percent(value: Decimal) -> str:
    """A percentage as messages show it: "12.5%" (one decimal, none if whole)."""
    rounded = value.quantize(Decimal("0.1"), ROUND_HALF_UP)
    text = f"{rounded:f}".removesuffix(".0")
    return f"{text}%"


def message_content(*, alerts: Sequence[Alert], test: bool = False) -> Content:
    """Return the message of `alerts` (of one user): one line each, in plain text and HTML."""
    settings_url = absolute(reverse("alert_settings"))
    notifications_url = absolute(reverse("notifications"))
    if test:
        subject = "Balances: test alert"
    elif len(alerts) == 1:
        subject = f"Balances: {alerts[0].title}"
    else:
        subject = f"Balances: {len(alerts)} alerts"
    entries = [
        {"title": a.title, "text": a.text, "url": absolute(a.link), "label": a.link_label}
        for a in alerts
    ]
    context = {
        "entries": entries,
        "test": test,
        "settings_url": settings_url,
        "notifications_url": notifications_url,
    }
    return Content(
        subject=subject,
        text=render_to_string("balances/email/alerts.txt", context),
        html=render_to_string("balances/email/alerts.html", context),
    )
