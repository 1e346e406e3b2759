"""Saved CSV column mappings: a bank's export layout, named once and chosen at upload.

A mapping is checked as a whole before it is saved (an amount column or a credit/debit pair, a known
channel, a date format that reads back what it writes), and can be tried on a sample export first: the
preview parses the sample with the real parser and stores nothing.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import date, datetime

from django.db import transaction

from o2c.errors import ApplicationError
from o2c.money import is_currency
from o2c.services.audit import audit_event

from .models import BankCsvMapping
from .parsers.csv_mapped import CsvMapping, parse
from .parsers.types import CHANNELS, BankFileError, Statement

MAPPING_KEYS = tuple(f.name for f in fields(CsvMapping))


class CsvMappingInvalid(ApplicationError):
    """The mapping cannot be used as given; the message names the field."""


def csv_mapping_check(values: dict) -> CsvMapping:
    """The mapping as the parser will use it, or CsvMappingInvalid naming what is wrong."""
    cleaned = {k: (v or "").strip() if k not in ("delimiter", "thousands_separator") else (v or "")
               for k, v in values.items() if k in MAPPING_KEYS}
    defaults = asdict(CsvMapping(date="x"))
    cleaned = {k: v for k, v in cleaned.items() if v != "" or defaults[k] == ""}
    if not cleaned.get("date"):
        raise CsvMappingInvalid("the booking date column is required")
    if not cleaned.get("amount") and not (cleaned.get("credit") or cleaned.get("debit")):
        raise CsvMappingInvalid("name an amount column, or credit and/or debit columns")
    if cleaned.get("amount") and (cleaned.get("credit") or cleaned.get("debit")):
        raise CsvMappingInvalid("name either one signed amount column or credit/debit columns, not both")
    if cleaned.get("channel", "other") not in CHANNELS:
        raise CsvMappingInvalid(f"channel must be one of {', '.join(CHANNELS)}")
    if len(cleaned.get("delimiter", ",")) != 1:
        raise CsvMappingInvalid("the delimiter is one character")
    if cleaned.get("decimal_separator", ".") not in (".", ","):
        raise CsvMappingInvalid("the decimal separator is '.' or ','")
    if cleaned.get("thousands_separator", "") == cleaned.get("decimal_separator", "."):
        raise CsvMappingInvalid("the thousands separator cannot be the decimal separator")
    fmt = cleaned.get("date_format", "%Y-%m-%d")
    probe = date(2026, 12, 31)
    try:
        if datetime.strptime(probe.strftime(fmt), fmt).date() != probe:
            raise ValueError
    except ValueError:
        raise CsvMappingInvalid(f"date format {fmt!r} does not read back a full date (e.g. %d.%m.%Y)") from None
    currency = cleaned.get("default_currency", "USD")
    if not is_currency(currency.upper()):
        raise CsvMappingInvalid("the default currency is a three-letter ISO code (ISO 4217)")
    cleaned["default_currency"] = currency.upper()
    return CsvMapping.from_dict(cleaned)


def csv_mapping_preview(*, values: dict, data: bytes) -> tuple[Statement, list[str]]:
    """Parse a sample export with this mapping (nothing stored). Raises CsvMappingInvalid or BankFileError."""
    mapping = csv_mapping_check(values)
    warnings: list[str] = []
    [statement] = parse(data, mapping, warnings)
    return statement, warnings


@transaction.atomic
def csv_mapping_save(*, name: str, values: dict, actor, mapping: BankCsvMapping | None = None) -> BankCsvMapping:
    name = name.strip()
    if not name:
        raise CsvMappingInvalid("a mapping needs a name (the bank and the export, e.g. 'Chase CSV')")
    checked = csv_mapping_check(values)
    if BankCsvMapping.objects.filter(name=name).exclude(pk=getattr(mapping, "pk", None)).exists():
        raise CsvMappingInvalid(f"a mapping named {name!r} exists already")
    stored = {k: v for k, v in asdict(checked).items() if v != asdict(CsvMapping(date="x"))[k] or k == "date"}
    if mapping is None:
        mapping = BankCsvMapping.objects.create(name=name, mapping=stored)
        audit_event("bank_csv_mapping.created", mapping, {"name": [None, name], "mapping": [None, stored]},
                    actor=actor)
        return mapping
    mapping = BankCsvMapping.objects.select_for_update().get(pk=mapping.pk)
    changes = {f"mapping.{k}": [mapping.mapping.get(k), stored.get(k)]
               for k in sorted(set(mapping.mapping) | set(stored)) if mapping.mapping.get(k) != stored.get(k)}
    if mapping.name != name:
        changes["name"] = [mapping.name, name]
    mapping.name, mapping.mapping = name, stored
    mapping.save()
    if changes:
        audit_event("bank_csv_mapping.changed", mapping, changes, actor=actor)
    return mapping


__all__ = ["MAPPING_KEYS", "BankFileError", "CsvMappingInvalid", "csv_mapping_check", "csv_mapping_preview",
           "csv_mapping_save"]
