"""Reads other apps may make of payments: remittance files parsed without storing anything.

Deductions reads X12 812 / 820 adjustments through these, not through the private parsers package.
"""

from __future__ import annotations

from .parsers import x12_812, x12_820
from .parsers.types import BankFileError

AdjustmentReason = x12_812.AdjustmentReason

__all__ = ["AdjustmentReason", "BankFileError", "x12_812_adjustments", "x12_820_advices"]


def x12_812_adjustments(data: bytes) -> list:
    """The debit/credit adjustments of an X12 812 file; BankFileError names a malformed line."""
    return x12_812.parse(data)


def x12_820_advices(data: bytes) -> list:
    """The remittance advices of an X12 820 file (with their ADX adjustments); warnings are dropped."""
    return x12_820.parse(data, [])
