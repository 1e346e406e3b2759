"""Small helpers shared by the format modules: decoding, money, dates, reference uniqueness, reconciliation."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from itertools import repeat

from o2c.money import exponent

from .types import CREDIT, BankFileError, Statement

# More digits than any amount, count or total a bank writes. It keeps int() within its 4,300-digit limit and
# the Decimal arithmetic of totals and reconciliation exact and cheap.
MAX_DIGITS = 30
# Plain decimal notation only: Decimal() also reads "NaN", "Infinity", "1e999999" (whose sums overflow),
# "1_000", and digits of other scripts ("١٢"), none of which a bank file means as an amount.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)


# The lists a lazy parser yields (stored one by one while the next is read): the first is small, so that storing
# begins after 1,000 entries rather than after a whole list; the last list's worth is cut in four, so that
# little is left to store once reading has ended. 100k payments in lists of 10,000 spent 0.3-0.4 s reading
# before the first INSERT and as long storing the last list after the reading was done.
FIRST_LIST = 1000
LAST_LISTS = 4


def list_sizes(size: int, total: int | None = None) -> Iterator[int]:
    """The sizes of the lists of entries to yield when lists of `size` are asked for and the file holds `total`
    entries (None: not known). Endless: past the total (a camt batch booking is several entries) they are size."""
    first = min(FIRST_LIST, size)
    yield first
    if total is not None:
        left = total - first
        last = min(size, max(left, 0))
        while left > last:
            step = min(size, left - last)
            yield step
            left -= step
        piece = max(-(-last // LAST_LISTS), 1)
        while left > 0:
            step = min(piece, left)
            yield step
            left -= step
    yield from repeat(size)


def is_digits(text: str) -> bool:
    """ASCII digits only, at most MAX_DIGITS of them: str.isdigit() also accepts "²" (which int() refuses) and
    "١" (which int() reads), and int() refuses more than 4,300 digits."""
    return 0 < len(text) <= MAX_DIGITS and text.isascii() and text.isdigit()


def to_int(text: str) -> int | None:
    """A signed integer in ASCII digits (see is_digits), or None."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    return int(text) if is_digits(digits) else None


def shown(text: str, limit: int = 60) -> str:
    """text for an error message: repr, cut to limit characters (a field can be 10,000 characters long)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def minor_units(currency: str) -> int:
    """Formats with implied decimals (BAI2, NACHA, lockbox) need them: one ISO 4217 table for all of o2c."""
    return exponent(currency)


def decode(data: bytes) -> str:
    """Bank files are mostly ASCII; a few carry Latin-1 or Windows-1252 bytes. Never fail on decoding."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def implied_amount(text: str, currency: str, *, what: str, line: int | None = None, element: str | None = None,
                   signed: bool = False) -> Decimal:
    """An integer amount in minor units ("1250" = 12.50 USD), as BAI2, NACHA and lockbox write them."""
    raw = text.strip()
    digits = raw[1:] if signed and raw[:1] in ("+", "-") else raw
    if not is_digits(digits):
        raise BankFileError(f"{what} {shown(text)} is not a number", line=line, element=element)
    return Decimal(raw).scaleb(-minor_units(currency))


def decimal_amount(text: str, *, what: str, line: int | None = None, element: str | None = None,
                   comma: bool = False) -> Decimal:
    raw = text.strip()
    if comma:
        raw = raw.replace(",", ".")
    if len(raw) > 2 * MAX_DIGITS or not _DECIMAL.fullmatch(raw):
        raise BankFileError(f"{what} {shown(text)} is not a number", line=line, element=element)
    return Decimal(raw)


_date_cache: dict[tuple[str, str], date] = {}


def parse_date(text: str, fmt: str, *, what: str, line: int | None = None, element: str | None = None) -> date:
    """Dates repeat thousands of times in a statement, so parsed values are cached by their text."""
    key = (text, fmt)
    hit = _date_cache.get(key)
    if hit is not None:
        return hit
    try:
        if fmt != "ISO" and not is_digits(text):
            raise ValueError
        if fmt == "YYMMDD":
            value = date(2000 + int(text[0:2]) if int(text[0:2]) < 80 else 1900 + int(text[0:2]),
                         int(text[2:4]), int(text[4:6]))
            if len(text) != 6:
                raise ValueError
        elif fmt == "CCYYMMDD":
            if len(text) != 8:
                raise ValueError
            value = date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
        elif fmt == "ISO":
            value = date.fromisoformat(text.strip()[:10])
        else:  # pragma: no cover - programming error
            raise AssertionError(fmt)
    except (ValueError, IndexError):
        raise BankFileError(f"{what} {shown(text)} is not a valid date", line=line, element=element) from None
    if len(_date_cache) < 50_000:
        _date_cache[key] = value
    return value


def warn_repeated(references: Counter, statement_ids: Counter, warnings: list[str]) -> None:
    """The warnings for bank references and statement ids a file repeats (numbered #2, #3 ...)."""
    for ref, n in sorted(references.items()):
        if n > 1:
            warnings.append(f"bank reference {ref!r} appears {n} times; later ones are numbered {ref}#2 ...")
    for sid, n in sorted(statement_ids.items()):
        if n > 1:
            warnings.append(f"statement id {sid!r} appears {n} times; later ones are numbered {sid}#2 ...")


def unique_references(statements: list[Statement], warnings: list[str]) -> list[Statement]:
    """The bank reference is the import's exactly-once key, so it must be unique within a file. Some banks
    repeat a reference (or write NONREF) for different entries; the second and later get "#2", "#3" and a
    warning, so nothing is silently merged and the result is still deterministic."""
    counts = Counter(e.bank_reference for s in statements for e in s.entries)
    ids = Counter(s.statement_id for s in statements)
    if all(n == 1 for n in counts.values()) and all(n == 1 for n in ids.values()):
        return statements
    warn_repeated(counts, ids, warnings)
    seen: Counter[str] = Counter()
    seen_ids: Counter[str] = Counter()
    out = []
    for s in statements:
        entries = []
        for e in s.entries:
            if counts[e.bank_reference] > 1:
                seen[e.bank_reference] += 1
                if seen[e.bank_reference] > 1:
                    e = replace(e, bank_reference=f"{e.bank_reference}#{seen[e.bank_reference]}")
            entries.append(e)
        seen_ids[s.statement_id] += 1
        sid = s.statement_id if seen_ids[s.statement_id] == 1 else f"{s.statement_id}#{seen_ids[s.statement_id]}"
        out.append(replace(s, statement_id=sid, entries=tuple(entries)))
    return out


def reconcile(statement: Statement, warnings: list[str]) -> None:
    """Opening balance plus the entries should give the closing balance. When it does not (a partial
    intraday report, or entries the bank left out) that is worth a warning, not a refusal."""
    net = sum((e.amount if e.direction == CREDIT else -e.amount for e in statement.entries), Decimal(0))
    reconcile_net(statement, net, warnings)


def reconcile_net(statement: Statement, net: Decimal, warnings: list[str]) -> None:
    """`reconcile` for a statement read in parts: net is its credits less its debits."""
    if statement.opening_balance is None or statement.closing_balance is None:
        return
    if statement.opening_balance + net != statement.closing_balance:
        warnings.append(
            f"statement {statement.statement_id}: opening {statement.opening_balance} + entries {net} "
            f"!= closing {statement.closing_balance}"
        )
