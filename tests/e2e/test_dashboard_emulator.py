"""The issue's "Done when", through the real app and the emulator (no browser)."""

from __future__ import annotations

import pytest

from balances.domain import periods, totals
from balances.models import Account
from balances.selectors import accounts, history
from tests.e2e.dashboard_data import (
    PLATYPUS_ASSETS,
    PLATYPUS_LIABILITIES,
    PLATYPUS_NET_WORTH,
    platypus_user,
)
from tests.helpers import tight_text

pytestmark = pytest.mark.django_db


def test_first_platypus_bank_dashboard(client, emulator, monkeypatch):
    user, _items = platypus_user(monkeypatch, emulator, history_days=4)
    client.force_login(user)
    page = tight_text(client.get("/?range=30d"))

    # Twelve USD accounts plus four CAD ones, each in its group.
    assert Account.objects.filter(item__owner=user, iso_currency_code="USD").count() == 12
    assert page.count('class="account"') == 16
    groups = {
        key: page[page.index(f'id="group-{key}"') :].split("</section>")[0]
        for key in ("depository", "investment", "credit", "loan")
    }
    for mask in ("0000", "1111", "2222", "4444", "9001", "9002"):
        assert f'data-mask="{mask}"' in groups["depository"]
    for mask in ("5555", "6666"):
        assert f'data-mask="{mask}"' in groups["investment"]
    for mask in ("3333", "9999"):
        assert f'data-mask="{mask}"' in groups["credit"]
    for mask in ("7777", "8888"):
        assert f'data-mask="{mask}"' in groups["loan"]
    assert "First Platypus Bank" in groups["credit"]
    assert "Tartan-Dominion Bank of Canada" in groups["credit"]

    # Net worth per currency, USD matching PLATYPUS_NET_WORTH; never a total across currencies.
    assert f'class="net-worth negative" data-currency="USD">{PLATYPUS_NET_WORTH}<' in page
    assert f'class="assets" data-currency="USD">{PLATYPUS_ASSETS}<' in page
    assert f'class="liabilities" data-currency="USD">{PLATYPUS_LIABILITIES}<' in page
    cad = [
        t
        for t in totals.totals_by_currency(accounts.accounts_for_user(user=user))
        if t.currency == "CAD"
    ]
    assert len(cad) == 1
    assert page.count('class="net-worth') == 2  # one line per currency, no combined line

    # Two credit cards with utilization: 410 / 2,000 and 5,020 / 10,000.
    assert "21% used" in groups["credit"] and "50% used" in groups["credit"]
    assert "$1,590.00 available credit" in groups["credit"]
    assert "$4,980.00 available credit" in groups["credit"]

    # History: five daily points per currency (4 past days and today), in chart and table.
    assert 'id="chart-data"' in page
    histories = history.net_worth_history(
        accounts=history.history_accounts(user=user),
        start=periods.range_start("30d"),
    )
    assert [h.currency for h in histories] == ["USD", "CAD"]
    # The chart reads the daily totals the refreshes kept: the same figures, per day.
    series = history.net_worth_series(user=user, start=periods.range_start("30d"))
    assert [(h.currency, h.points) for h in series] == [(h.currency, h.points) for h in histories]
    usd = histories[0].points
    assert len(usd) == 5
    assert len({p.net_worth for p in usd}) > 1  # balances drifted on past days
    assert f"{usd[-1].net_worth:.2f}" == "-40452.32"
