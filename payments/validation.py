"""What a bank or remittance file may bring into the database: checked here, in one place, for every format.

The parsers read formats; they do not know the columns. What they produce (statements, entries, remittance
advice and the lines of both) passes through `FileChecks` before it is deduplicated or stored, and the first
value the database could not hold exactly refuses the whole file: a BankFileError naming the line or element,
which `bank_file_import` turns into a refusal, rolling back whatever was stored.

- Amounts are finite, within a MoneyField (below 10**14) and have no more decimals than the currency's minor
  unit: 10.005 USD would be shown as 10.00 and 0.00001 stored as 0.0000, changing the money without a word.
- Currencies are ISO 4217 codes (`o2c.money.ISO_4217`). A statement or an advice may leave it empty (their
  columns allow that; the entries name it), an entry may not.
- No value is longer than its column (the limits are read from the models). A reference cut to its column
  can merge two payments under the unique key (tenant, bank reference, account): the second would be skipped
  as a "duplicate" and its money would vanish. A cut name, account or invoice reference no longer matches.
- No control characters (C0 and DEL): Postgres refuses NUL, and the others are debris in a name or a key.
  Multi-line free text (remittance text, a line's text, the raw entry) may hold tab, line feed and carriage
  return: banks wrap remittance text over lines (MT940 :86:, BAI2 88 records) and raw keeps the file's own
  layout. U+0080-U+009F pass: a Windows-1252 file read as Latin-1 (`parsers._common.decode`) has them in
  real remittance text, and they do no harm.
- A NUL byte refuses the file wherever it is: no bank format has one (a UTF-16 file is not recognised
  anyway), and a parser that drops it (MT940 drops control characters, for the SWIFT envelope's SOH and ETX)
  would change a value without a word.
- An MT940 statement has its opening (:60F:/:60M:) and closing (:62F:/:62M:) balance. Both are mandatory; a
  statement without its closing balance is a file cut short, and its entries cannot be reconciled.

Entries come a list at a time, in the import's reader thread (`_PaymentWriter.prepare`): each rule makes one
pass over the list in C (max, map, bytes.translate), so a 100k-entry file pays milliseconds; only a list
that breaks a rule is walked entry by entry, to name the first offender.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from itertools import chain, repeat
from operator import attrgetter, eq
from typing import NamedTuple

from django.db import models

from o2c.money import DECIMAL_PLACES, MAX_AMOUNT, MAX_DIGITS, exponent, is_currency, minor_unit

from .models import BankStatement, Payment, RemittanceAdvice, RemittanceLine
from .parsers.types import BankFileError, Entry, RemittanceItem, Statement
from .parsers.types import RemittanceAdvice as ParsedAdvice

_CONTROL_BYTES = bytes(range(0x20)) + b"\x7f"
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)
_LINE_BREAKS = b"\t\n\r"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AMOUNTS = ("amount_paid", "gross_amount", "discount", "adjustment")


class _Field(NamedTuple):
    name: str  # attribute of the parsed object
    label: str  # the column's verbose name
    limit: int | None  # the column's max_length; None for a text column
    multi_line: bool
    get: attrgetter


def _fields(model: type[models.Model], names: dict[str, str]) -> tuple[_Field, ...]:
    """attribute -> column, with the column's length and kind read from the model."""
    out = []
    for name, column in names.items():
        field = model._meta.get_field(column)
        text = isinstance(field, models.TextField)
        out.append(_Field(name, field.verbose_name, None if text else field.max_length, text, attrgetter(name)))
    return tuple(out)


_ENTRY = _fields(Payment, {"bank_reference": "bank_reference", "payer_name": "payer_name",
                           "payer_account": "payer_account", "end_to_end_id": "end_to_end_id",
                           "bank_code": "bank_code", "unstructured": "remittance_text", "raw": "raw"})
_LINE = _fields(RemittanceLine, {n: n for n in ("reference", "reference_type", "adjustment_reason", "text")})
_STATEMENT = _fields(BankStatement, {"statement_id": "statement_id", "account": "account"})
_ADVICE = _fields(RemittanceAdvice, {n: n for n in ("payment_reference", "payer_name", "payer_id", "payee_name",
                                                    "unstructured", "raw")})


# --- the rules, one value at a time (they word the refusal) -------------------------------------------

def amount_problem(value: Decimal | None, currency: str, label: str = "amount") -> str | None:
    if value is None:
        return None
    if not value.is_finite():
        return f"{label} {value} is not a number"
    if abs(value) >= MAX_AMOUNT:
        return f"{label} {value} is too large (at most {MAX_DIGITS - DECIMAL_PLACES} digits before the decimal point)"
    if is_currency(currency) and value != value.quantize(minor_unit(currency)):
        return (f"{label} {value} has more decimals than {currency} has ({exponent(currency)}); "
                "it is refused rather than rounded")
    return None


def currency_problem(code: str, *, empty_allowed: bool = False) -> str | None:
    if is_currency(code) or (empty_allowed and code == ""):
        return None
    return f"currency {_shown(code)} is not an ISO 4217 currency code"


def text_problem(value: str, field: _Field) -> str | None:
    if field.limit is not None and len(value) > field.limit:
        return f"{field.label} is {len(value)} characters; at most {field.limit} fit"
    found = (_CONTROL_IN_TEXT if field.multi_line else _CONTROL).search(value)
    if found:
        return f"{field.label} contains the control character U+{ord(found.group()):04X}"
    return None


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _any_control(text: str, multi_line: bool) -> bool:
    """The rule of `text_problem` for many values joined: in UTF-8, a byte below 0x80 is that character."""
    found = text.encode("utf-8", "surrogatepass").translate(None, _NOT_CONTROL)
    return bool(found.translate(None, _LINE_BREAKS) if multi_line else found)


def _where(source_line: str) -> dict:
    if source_line.isdigit():
        return {"line": int(source_line)}
    return {"element": source_line or None}


# --- a file's statements, entries and advice ------------------------------------------------------------

class FileChecks:
    """The checks of one file (its format and bytes): `statement`, `entries` and `advices` raise BankFileError
    for the first value that breaks a rule; creating it refuses a file with a NUL byte."""

    def __init__(self, fmt: str, data: bytes):
        self.format = fmt
        nul = data.find(b"\x00")
        if nul >= 0:
            raise BankFileError("NUL byte: a bank file has none (the file is damaged, or not text)",
                                line=data.count(b"\n", 0, nul) + 1)
        # An entry's raw text is cut from the file: when the bytes hold no control character but tab and line
        # breaks, neither does any raw, and the largest field need not be scanned again (68 MB for 100k camt).
        self._fields = _ENTRY
        if not data.translate(None, _NOT_CONTROL).translate(None, _LINE_BREAKS):
            self._fields = tuple(f for f in _ENTRY if f.name != "raw")

    def statement(self, s: Statement) -> None:
        problem = (next(filter(None, (text_problem(f.get(s), f) for f in _STATEMENT)), None)
                   or currency_problem(s.currency, empty_allowed=True)
                   or amount_problem(s.opening_balance, s.currency, "opening balance")
                   or amount_problem(s.closing_balance, s.currency, "closing balance")
                   or self._missing_balance(s))
        if problem:
            raise BankFileError(f"statement {_shown(s.statement_id)}: {problem}")

    def _missing_balance(self, s: Statement) -> str | None:
        if self.format != "mt940" or (s.opening_balance is not None and s.closing_balance is not None):
            return None
        missing = ":60F: opening" if s.opening_balance is None else ":62F: closing"
        return (f"has no {missing} balance; the file looks cut short, and its entries cannot be reconciled "
                "with the balances")

    def entries(self, entries: list[Entry]) -> None:
        """Refuses the list's first entry (or remittance line) that breaks a rule."""
        if entries and not self._entries_pass(entries):
            for entry in entries:
                problem = self._entry_problem(entry)
                if problem:
                    raise BankFileError(problem, **_where(entry.source_line))

    def _entries_pass(self, entries: list[Entry]) -> bool:
        currencies = set(map(attrgetter("currency"), entries))
        if len(currencies) != 1 or not is_currency(currency := currencies.pop()):
            return False  # several currencies (rare): entry by entry
        lines = list(chain.from_iterable(map(attrgetter("remittance"), entries)))
        amounts = list(map(attrgetter("amount"), entries))
        amounts += [a for name in _AMOUNTS for a in map(attrgetter(name), lines) if a is not None]
        return (_amounts_pass(amounts, currency) and _texts_pass(entries, self._fields)
                and _texts_pass(lines, _LINE))

    def _entry_problem(self, e: Entry) -> str | None:
        problem = (currency_problem(e.currency) or amount_problem(e.amount, e.currency)
                   or next(filter(None, (text_problem(f.get(e), f) for f in self._fields)), None))
        if problem:
            return problem
        for n, item in enumerate(e.remittance, start=1):
            problem = _line_problem(item, e.currency)
            if problem:
                return f"remittance line {n}: {problem}"
        return None

    def advices(self, advices: Iterable[ParsedAdvice]) -> None:
        for advice in advices:
            problem = (currency_problem(advice.currency, empty_allowed=True)
                       or amount_problem(advice.payment_amount, advice.currency, "payment amount")
                       or next(filter(None, (text_problem(f.get(advice), f) for f in _ADVICE)), None)
                       or next((f"remittance line {n}: {p}" for n, item in enumerate(advice.items, start=1)
                                if (p := _line_problem(item, advice.currency))), None))
            if problem:
                raise BankFileError(problem, **_where(advice.source_line))


def _line_problem(item: RemittanceItem, currency: str) -> str | None:
    return (next(filter(None, (amount_problem(getattr(item, name), currency, name.replace("_", " "))
                               for name in _AMOUNTS)), None)
            or next(filter(None, (text_problem(f.get(item), f) for f in _LINE)), None))


def _amounts_pass(amounts: list[Decimal], currency: str) -> bool:
    if not amounts:
        return True
    if not all(map(Decimal.is_finite, amounts)) or max(amounts) >= MAX_AMOUNT or min(amounts) <= -MAX_AMOUNT:
        return False
    return all(map(eq, amounts, map(Decimal.quantize, amounts, repeat(minor_unit(currency)))))


def _texts_pass(rows: list, fields: tuple[_Field, ...]) -> bool:
    if not rows:
        return True
    for f in fields:
        values = list(map(f.get, rows))
        if f.limit is not None and max(map(len, values)) > f.limit:
            return False
        if _any_control("".join(values), f.multi_line):
            return False
    return True
