"""Money: Decimal only, one field definition, rounding in one helper."""

import re
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache

from django.db import models

from .errors import ApplicationError

# ISO 4217: every active currency code and its minor unit (decimal places). The one list o2c checks currency
# codes against (imports, forms) and takes decimals from; funds and precious-metal codes without a minor unit
# (XAU, XDR, ...) are left out, since nothing is invoiced or paid in them.
ISO_4217 = {
    **dict.fromkeys((
        "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF "
        "CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD "
        "HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT "
        "MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR "
        "SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU "
        "UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
    ).split(), 2),
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}
MAX_DIGITS = 18
DECIMAL_PLACES = 4  # storage precision; amounts are quantized to the currency's minor unit
MAX_AMOUNT = Decimal(10) ** (MAX_DIGITS - DECIMAL_PLACES)  # the first amount a MoneyField cannot hold


def MoneyField(**kwargs):  # noqa: N802 - reads like a field class at the call site
    kwargs.setdefault("max_digits", MAX_DIGITS)
    kwargs.setdefault("decimal_places", DECIMAL_PLACES)
    return models.DecimalField(**kwargs)


def CurrencyField(**kwargs):  # noqa: N802
    kwargs.setdefault("max_length", 3)
    return models.CharField(**kwargs)


def is_currency(code: str) -> bool:
    """An ISO 4217 code as written: three capital letters of a currency in `ISO_4217`."""
    return code in ISO_4217


def exponent(currency: str) -> int:
    return ISO_4217.get(currency.upper(), 2)


@cache
def minor_unit(currency: str) -> Decimal:
    """Decimal('0.01') for USD, Decimal('1') for JPY, Decimal('0.001') for BHD."""
    return Decimal(1).scaleb(-exponent(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_EVEN)


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,7})?", re.ASCII)  # ASCII: \d would take other scripts


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
    if abs(value) >= MAX_AMOUNT:
        raise ApplicationError(f"{label} {text!r} is too large")
    return value


def parse_number(text: str, *, label: str = "amount") -> Decimal:
    """A plain number that fits the money column, for amounts whose currency is checked later."""
    value = _plain_number(text, label)
    if value != value.quantize(Decimal(1).scaleb(-DECIMAL_PLACES)):
        raise ApplicationError(f"{label} {text!r} has more than {DECIMAL_PLACES} decimals")
    return value


def fmt(amount: Decimal | str | None, currency: str = "") -> str:
    """The number a person reads: '1,525.50' for EUR, '1,526' for JPY, '1.525' for KWD; empty for None.
    The template filter `money` is this; the code goes beside it (`money_display`)."""
    if amount is None:
        return ""
    q = quantize(Decimal(amount), currency or "USD")
    return f"{q:,}"


def money_display(amount: Decimal | str | None, currency: str) -> str:
    """'1,525.50 EUR': an amount with its code, in the currency's minor unit, wherever a person reads it
    (receipts, e-mails, messages, error and audit text, chart titles). Machine amounts (API, CSV, JSON,
    form values) stay exact strings and never go through this."""
    if amount is None:
        return ""
    return f"{fmt(amount, currency)} {currency.upper()}"


# An amount as str(Decimal) writes a money column's value: storage precision, no grouping. Not inside a word
# or a longer number ("INV-2024.0001", "1.00005"), so invoice numbers and references are left alone.
_STORED_AMOUNT = re.compile(rf"(?<![\w.,-])-?\d+\.\d{{{DECIMAL_PLACES}}}(?![\w.])", re.ASCII)


def money_in_text(text: str, currency: str) -> str:
    """Text written earlier (explanations, audit values) shows amounts at storage precision: 'short by
    10.0000'. Shown now in the currency's minor unit ('short by 10.00'), without rewriting the stored text.
    Lossless: only zeros beyond the minor unit go; an amount with more digits than that is left as written,
    so the display never hides a difference. Without a known currency the text is returned as it is."""
    if not text or not isinstance(text, str) or not is_currency((currency or "").upper()):
        return text

    def one(m: re.Match) -> str:
        value = Decimal(m.group())
        shown = quantize(value, currency)
        return str(shown) if shown == value else m.group()

    return _STORED_AMOUNT.sub(one, text)
