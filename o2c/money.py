"""Money: Decimal only, one field definition, rounding in one helper."""

import re
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache

from django.db import models

from .errors import ApplicationError

# Minor units per ISO 4217 where they differ from 2.
_CURRENCY_EXPONENT = {
    "JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "XOF": 0, "XAF": 0, "HUF": 2,
    "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}
MAX_DIGITS = 18
DECIMAL_PLACES = 4  # storage precision; amounts are quantized to the currency's minor unit


def MoneyField(**kwargs):  # noqa: N802 - reads like a field class at the call site
    kwargs.setdefault("max_digits", MAX_DIGITS)
    kwargs.setdefault("decimal_places", DECIMAL_PLACES)
    return models.DecimalField(**kwargs)


def CurrencyField(**kwargs):  # noqa: N802
    kwargs.setdefault("max_length", 3)
    return models.CharField(**kwargs)


def exponent(currency: str) -> int:
    return _CURRENCY_EXPONENT.get(currency.upper(), 2)


@cache
def minor_unit(currency: str) -> Decimal:
    """Decimal('0.01') for USD, Decimal('1') for JPY, Decimal('0.001') for BHD."""
    return Decimal(1).scaleb(-exponent(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_EVEN)


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,7})?")


def parse_amount(text: str, currency: str, *, label: str = "amount") -> Decimal:
    """Parse an amount exactly; refuse more decimals than the currency has instead of rounding.

    Only plain numbers pass: Decimal would also take NaN, sNaN, Infinity and "1_000". The size is
    checked before quantizing, because quantizing 1e999999 raises InvalidOperation (a 500)."""
    value = _plain_number(text, label)
    if quantize(value, currency) != value:
        raise ApplicationError(
            f"{label} {text!r} has more decimals than {currency.upper()} allows ({exponent(currency)})"
        )
    return quantize(value, currency)


def _plain_number(text: str, label: str) -> Decimal:
    raw = (text or "").strip().replace(",", "")
    if not _NUMBER.fullmatch(raw):
        raise ApplicationError(f"{label} {text!r} is not a number")
    value = Decimal(raw)
    if abs(value) >= Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES):
        raise ApplicationError(f"{label} {text!r} is too large")
    return value


def parse_number(text: str, *, label: str = "amount") -> Decimal:
    """A plain number that fits the money column, for amounts whose currency is checked later."""
    value = _plain_number(text, label)
    if value != value.quantize(Decimal(1).scaleb(-DECIMAL_PLACES)):
        raise ApplicationError(f"{label} {text!r} has more than {DECIMAL_PLACES} decimals")
    return value


def fmt(amount: Decimal | None, currency: str = "") -> str:
    if amount is None:
        return ""
    q = quantize(Decimal(amount), currency or "USD")
    return f"{q:,}"
