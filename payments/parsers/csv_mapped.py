"""CSV bank exports with a column mapping saved per bank (the mapping is data, stored by the caller).

Rules:
- The mapping names the header of each column we read; amount is either one signed column or a pair of
  credit/debit columns. Dates use the mapping's strptime format; decimal and thousands separators are
  configurable because European exports write 1.234,56.
- bank_reference is the mapped reference column. Without one it is "CSV:" + the first 20 hex digits of
  the SHA-256 of (account, date, amount, payer, text, occurrence), so the same row in two overlapping
  exports gets the same reference and identical rows within one file stay distinct.
- Errors name the line (header = line 1) and the column.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal

from o2c.money import is_currency

from ._common import decimal_amount, decode
from .types import CHANNELS, CREDIT, DEBIT, BankFileError, Entry, RemittanceItem, Statement


@dataclass(frozen=True)
class CsvMapping:
    date: str
    amount: str = ""  # signed: positive = money in
    credit: str = ""  # or a pair of unsigned columns
    debit: str = ""
    reference: str = ""
    value_date: str = ""
    payer_name: str = ""
    payer_account: str = ""
    text: str = ""
    invoice: str = ""
    currency: str = ""
    end_to_end_id: str = ""
    date_format: str = "%Y-%m-%d"
    decimal_separator: str = "."
    thousands_separator: str = ""
    delimiter: str = ","
    default_currency: str = "USD"
    account: str = ""
    bank: str = "csv"
    channel: str = "other"

    @classmethod
    def from_dict(cls, data: dict) -> CsvMapping:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise BankFileError(f"CSV mapping has unknown keys: {', '.join(sorted(unknown))}")
        return cls(**data)


def parse(data: bytes, mapping: CsvMapping | dict, warnings: list[str]) -> list[Statement]:
    if isinstance(mapping, dict):
        mapping = CsvMapping.from_dict(mapping)
    if not mapping.amount and not (mapping.credit or mapping.debit):
        raise BankFileError("CSV mapping needs an amount column or credit/debit columns")
    if mapping.channel not in CHANNELS:
        raise BankFileError(f"CSV mapping channel {mapping.channel!r} is not one of {', '.join(CHANNELS)}")
    if not isinstance(mapping.delimiter, str) or len(mapping.delimiter) != 1 or mapping.delimiter in "\r\n\"":
        raise BankFileError(f"CSV mapping delimiter {mapping.delimiter!r} is not one character")
    text = decode(data)
    reader = _rows(csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise BankFileError("CSV file is empty", line=1) from None
    wanted = {f.name: getattr(mapping, f.name) for f in fields(mapping)
              if f.name in ("date", "amount", "credit", "debit", "reference", "value_date", "payer_name",
                            "payer_account", "text", "invoice", "currency", "end_to_end_id")
              and getattr(mapping, f.name)}
    missing = [col for col in wanted.values() if col not in header]
    if missing:
        raise BankFileError(f"CSV header has no column {', '.join(repr(m) for m in missing)}", line=1)
    index = {key: header.index(col) for key, col in wanted.items()}
    entries = []
    seen: Counter[tuple] = Counter()
    for lineno, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(key: str, row=row, lineno=lineno) -> str:
            if key not in index:
                return ""
            i = index[key]
            if i >= len(row):
                raise BankFileError(f"row has {len(row)} columns, column {wanted[key]!r} is number {i + 1}",
                                    line=lineno)
            return row[i].strip()

        def money(key: str, lineno=lineno, cell=cell) -> Decimal | None:
            raw = cell(key)
            if not raw:
                return None
            cleaned = raw.replace(mapping.thousands_separator, "") if mapping.thousands_separator else raw
            cleaned = cleaned.replace(mapping.decimal_separator, ".") if mapping.decimal_separator != "." else cleaned
            return decimal_amount(cleaned, what=f"column {wanted[key]!r} amount", line=lineno)

        if mapping.amount:
            signed = money("amount")
            if signed is None:
                raise BankFileError(f"column {mapping.amount!r} is empty", line=lineno)
        else:
            signed = (money("credit") or Decimal(0)) - abs(money("debit") or Decimal(0))
        booked = _date(cell("date"), mapping, mapping.date, lineno)
        value = _date(cell("value_date"), mapping, mapping.value_date, lineno) if cell("value_date") else booked
        currency = cell("currency") or mapping.default_currency
        payer, account, remit = cell("payer_name"), cell("payer_account"), cell("text")
        key = (mapping.account, booked.isoformat(), str(signed), payer, remit)
        seen[key] += 1
        reference = cell("reference")
        if not reference:
            digest = hashlib.sha256("\x1f".join([*key, str(seen[key])]).encode()).hexdigest()[:20]
            reference = f"CSV:{digest}"
        invoice = cell("invoice")
        entries.append(Entry(
            bank_reference=reference,
            amount=abs(signed),
            direction=CREDIT if signed >= 0 else DEBIT,
            currency=currency,
            value_date=value,
            booking_date=booked,
            channel=mapping.channel,
            payer_name=payer,
            payer_account=account,
            end_to_end_id=cell("end_to_end_id"),
            remittance=(RemittanceItem(reference=invoice),) if invoice else (),
            unstructured=remit,
            raw=mapping.delimiter.join(row),
            source_line=str(lineno),
        ))
    if not entries:
        warnings.append("CSV file has a header but no rows")
    dates = [e.booking_date for e in entries]
    span = f"{min(dates)}..{max(dates)}" if dates else "empty"
    # The statement takes the first row's currency when it is one. A bad code is left to the row, which
    # payments.validation refuses naming its line; refused as the statement's, it was named by the made-up id.
    currency = entries[0].currency if entries else mapping.default_currency
    return [Statement(
        statement_id=f"{mapping.bank}:{mapping.account}:{span}",
        account=mapping.account,
        currency=currency if is_currency(currency) else "",
        as_of=max(dates) if dates else None,
        entries=tuple(entries),
    )]


def _rows(reader):
    """The reader's rows; what the csv module cannot read (a cell over its size limit) is a refusal."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BankFileError(f"CSV cannot be read ({exc})", line=reader.line_num) from None
        yield row


def _date(raw: str, mapping: CsvMapping, column: str, lineno: int):
    try:
        return datetime.strptime(raw, mapping.date_format).date()
    except ValueError:
        raise BankFileError(f"column {column!r} date {raw!r} does not match {mapping.date_format}",
                            line=lineno) from None
