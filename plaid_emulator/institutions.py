"""Hold the emulated institutions and the account templates each one yields.

Pure data plus small lookup helpers; no state. A template is the base (initial)
balance of an account; drift is applied on read (see ``drift.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AccountTemplate:
    """Describe one account an institution yields at link time."""

    name: str
    official_name: str | None
    mask: str | None
    type: str
    subtype: str | None
    available: float | None
    current: float | None
    limit: float | None = None
    iso_currency_code: str | None = "USD"
    unofficial_currency_code: str | None = None


@dataclass(frozen=True)
class Institution:
    """Describe one institution (Plaid's ``Institution`` schema plus its accounts)."""

    institution_id: str
    name: str
    country_codes: tuple[str, ...]
    accounts: tuple[AccountTemplate, ...]
    oauth: bool = False
    # Capital One's behaviour when set: no real-time balance for non-depository accounts
    # (cards): each was last updated this many hours before a balance call, and
    # /accounts/balance/get asking for one needs options.min_last_updated_datetime.
    card_balance_lag_hours: float | None = None
    routing_numbers: tuple[str, ...] = ()
    url: str | None = None
    primary_color: str | None = None
    products: tuple[str, ...] = field(
        default=(
            "assets",
            "auth",
            "balance",
            "identity",
            "investments",
            "liabilities",
            "transactions",
        )
    )

    def to_plaid(self, *, optional_metadata: bool = False) -> dict[str, Any]:
        """Return the institution as Plaid's JSON ``Institution`` object."""
        out: dict[str, Any] = {
            "institution_id": self.institution_id,
            "name": self.name,
            "products": list(self.products),
            "country_codes": list(self.country_codes),
            "routing_numbers": list(self.routing_numbers),
            "dtc_numbers": [],
            "oauth": self.oauth,
            "connection_availability": "SUPPORTED",
        }
        if optional_metadata:
            out["url"] = self.url
            out["primary_color"] = self.primary_color
            out["logo"] = None
        return out


# The five accounts of Plaid's /accounts/balance/get example (older sandbox Items).
CLASSIC_FIVE: tuple[AccountTemplate, ...] = (
    AccountTemplate(
        "Plaid Checking",
        "Plaid Gold Standard 0% Interest Checking",
        "0000",
        "depository",
        "checking",
        100,
        110,
    ),
    AccountTemplate(
        "Plaid Saving",
        "Plaid Silver Standard 0.1% Interest Saving",
        "1111",
        "depository",
        "savings",
        200,
        210,
    ),
    AccountTemplate(
        "Plaid CD", "Plaid Bronze Standard 0.2% Interest CD", "2222", "depository", "cd", None, 1000
    ),
    AccountTemplate(
        "Plaid Credit Card",
        "Plaid Diamond 12.5% APR Interest Credit Card",
        "3333",
        "credit",
        "credit card",
        None,
        410,
        2000,
    ),
    AccountTemplate(
        "Plaid Money Market",
        "Plaid Platinum Standard 1.85% Interest Money Market",
        "4444",
        "depository",
        "money market",
        43200,
        43200,
    ),
)

# Today's twelve default sandbox accounts.
DEFAULT_TWELVE: tuple[AccountTemplate, ...] = (
    *CLASSIC_FIVE,
    AccountTemplate(
        "Plaid IRA",
        "Plaid Individual Retirement Account",
        "5555",
        "investment",
        "ira",
        None,
        320.76,
    ),
    AccountTemplate(
        "Plaid 401k",
        "Plaid 401k Retirement Savings Plan",
        "6666",
        "investment",
        "401k",
        None,
        23631.9805,
    ),
    AccountTemplate(
        "Plaid Student Loan",
        "Plaid Federal Direct 4.5% Interest Student Loan",
        "7777",
        "loan",
        "student",
        None,
        65262,
    ),
    AccountTemplate(
        "Plaid Mortgage",
        "Plaid 30-Year Fixed 3.75% Interest Mortgage",
        "8888",
        "loan",
        "mortgage",
        None,
        56302.06,
    ),
    AccountTemplate(
        "Plaid HSA", "Plaid Cares Health Savings Account", "9001", "depository", "hsa", 6009, 6009
    ),
    AccountTemplate(
        "Plaid Cash Management",
        "Plaid Growth Cash Management",
        "9002",
        "depository",
        "cash management",
        12060,
        12060,
    ),
    AccountTemplate(
        "Plaid Business Credit Card",
        "Plaid Platinum Small Business Credit Card",
        "9999",
        "credit",
        "credit card",
        4980,
        5020,
        10000,
    ),
)

CANADIAN: tuple[AccountTemplate, ...] = (
    AccountTemplate(
        "Plaid Chequing",
        "Plaid Gold Standard 0% Interest Chequing",
        "0000",
        "depository",
        "checking",
        100,
        110,
        iso_currency_code="CAD",
    ),
    AccountTemplate(
        "Plaid Savings",
        "Plaid Silver Standard 0.1% Interest Savings",
        "1111",
        "depository",
        "savings",
        200,
        210,
        iso_currency_code="CAD",
    ),
    AccountTemplate(
        "Plaid Credit Card",
        "Plaid Diamond 19.99% APR Interest Credit Card",
        "3333",
        "credit",
        "credit card",
        None,
        410,
        2000,
        iso_currency_code="CAD",
    ),
    AccountTemplate(
        "Plaid TFSA",
        "Plaid Tax-Free Savings Account",
        "5555",
        "investment",
        "tfsa",
        None,
        5320.5,
        iso_currency_code="CAD",
    ),
)

CRYPTO: tuple[AccountTemplate, ...] = (
    AccountTemplate(
        "Plaid Cash Wallet",
        "Plaid Exchange USD Wallet",
        "0001",
        "depository",
        "checking",
        1500,
        1500,
    ),
    AccountTemplate(
        "Plaid Bitcoin Wallet",
        "Plaid Exchange BTC Wallet",
        "0002",
        "other",
        "crypto exchange",
        0.25,
        0.25,
        iso_currency_code=None,
        unofficial_currency_code="BTC",
    ),
    AccountTemplate(
        "Plaid Ether Wallet",
        "Plaid Exchange ETH Wallet",
        "0003",
        "other",
        "crypto exchange",
        3.5,
        3.5,
        iso_currency_code=None,
        unofficial_currency_code="ETH",
    ),
)

# Capital One (ins_128026): a checking account (real-time balances) and a card with a limit
# (balances only as of its last update, CAPITAL_ONE_CARD_LAG_HOURS before each call).
CAPITAL_ONE_ACCOUNTS: tuple[AccountTemplate, ...] = (
    AccountTemplate(
        "360 Checking", "Capital One 360 Checking", "4321", "depository", "checking", 2450, 2450
    ),
    AccountTemplate(
        "Quicksilver",
        "Capital One Quicksilver Rewards",
        "8765",
        "credit",
        "credit card",
        4270,
        730,
        5000,
    ),
)
CAPITAL_ONE = "ins_128026"
CAPITAL_ONE_CARD_LAG_HOURS = 6.0

# Offered to an Item as "new accounts" after NEW_ACCOUNTS_AVAILABLE (update mode
# with account selection lets the user add it).
NEW_ACCOUNT_OFFER: AccountTemplate = AccountTemplate(
    "Plaid New Checking",
    "Plaid Gold Standard 0% Interest Checking",
    "0101",
    "depository",
    "checking",
    250,
    250,
)

_US = ("US",)
INSTITUTIONS: dict[str, Institution] = {
    i.institution_id: i
    for i in (
        Institution(
            "ins_3",
            "Chase",
            _US,
            CLASSIC_FIVE,
            oauth=True,
            routing_numbers=("021000021",),
            url="https://www.chase.com",
            primary_color="#095aa6",
        ),
        Institution(
            "ins_109508", "First Platypus Bank", _US, DEFAULT_TWELVE, routing_numbers=("011000138",)
        ),
        Institution(
            "ins_109509",
            "First Gingham Credit Union",
            _US,
            DEFAULT_TWELVE,
            routing_numbers=("011000015",),
        ),
        Institution(
            "ins_109510",
            "Tattersall Federal Credit Union",
            _US,
            DEFAULT_TWELVE,
            routing_numbers=("011000028",),
        ),
        Institution(
            "ins_109511", "Tartan Bank", _US, DEFAULT_TWELVE, routing_numbers=("011000390",)
        ),
        Institution(
            "ins_109512", "Houndstooth Bank", _US, CLASSIC_FIVE, routing_numbers=("011001234",)
        ),
        Institution("ins_127287", "Platypus OAuth Bank", _US, DEFAULT_TWELVE, oauth=True),
        Institution(
            CAPITAL_ONE,
            "Capital One",
            _US,
            CAPITAL_ONE_ACCOUNTS,
            card_balance_lag_hours=CAPITAL_ONE_CARD_LAG_HOURS,
            routing_numbers=("056073502",),
            url="https://www.capitalone.com",
            primary_color="#004878",
        ),
        Institution(
            "ins_43",
            "Tartan-Dominion Bank of Canada",
            ("CA",),
            CANADIAN,
            routing_numbers=("000100002",),
        ),
        Institution(
            "ins_900001",
            "Platypus Crypto Exchange",
            _US,
            CRYPTO,
            products=("balance", "investments"),
        ),
    )
}


def get_institution(institution_id: str) -> Institution | None:
    """Return the institution with ``institution_id`` or None."""
    return INSTITUTIONS.get(institution_id)


def search(
    query: str, country_codes: list[str] | None = None, products: list[str] | None = None
) -> list[Institution]:
    """Return institutions whose name contains ``query`` (case-insensitive), filtered."""
    q = query.strip().lower()
    out = []
    for inst in INSTITUTIONS.values():
        if q and q not in inst.name.lower() and q != inst.institution_id:
            continue
        if country_codes and not set(country_codes) & set(inst.country_codes):
            continue
        if products and not set(products) <= set(inst.products):
            continue
        out.append(inst)
    return out
