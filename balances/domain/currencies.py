"""Currency codes a user may type: ISO 4217, or an unofficial ticker (crypto).

Kept apart like Plaid's `iso_currency_code` / `unofficial_currency_code`: an official code
is one of ISO 4217's active codes; an unofficial one is a ticker such as BTC.
"""

from __future__ import annotations

import re

# ISO 4217 active currency codes (funds and precious metals left out).
ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG
    """.split()  # noqa: SIM905 (a list of codes reads as a table)
)

# A crypto ticker: letters and digits, 2 to 10 (BTC, ETH, USDC, 1INCH).
TICKER_RE = re.compile(r"^[A-Z0-9]{2,10}$")


def is_official(code: str) -> bool:
    """Return whether `code` (upper case) is an active ISO 4217 currency."""
    return code in ISO_4217


def is_ticker(code: str) -> bool:
    """Return whether `code` (upper case) reads as an unofficial ticker (crypto)."""
    return bool(TICKER_RE.match(code))
