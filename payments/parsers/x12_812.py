"""ASC X12 812 credit/debit adjustment: a customer tells us it adjusted (usually deducted from) an invoice.

Own thin parser, like x12_820 (it reuses its segment splitter). Read: BCD (adjustment number, amount,
credit/debit flag, invoice and PO number), N1 (BY: the buyer, our customer), CDD (one adjustment reason
with its amount and flag), SE. A debit adjustment (flag D) is money the customer kept back: a deduction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ._common import decimal_amount, decode, parse_date
from .types import BankFileError
from .x12_820 import _separators, split_segments


@dataclass(frozen=True, slots=True)
class AdjustmentReason:
    code: str
    amount: Decimal
    debit: bool


@dataclass(frozen=True, slots=True)
class Adjustment:
    number: str  # BCD02, the customer's adjustment number
    amount: Decimal  # positive
    debit: bool  # BCD05 D: deducted from what the customer owes
    invoice_number: str
    po_number: str
    buyer_name: str
    buyer_id: str
    date: object
    reasons: tuple[AdjustmentReason, ...]
    line: int


def parse(data: bytes) -> list[Adjustment]:
    text = decode(data).lstrip("\ufeff \t\r\n")
    sep, term = _separators(text)
    adjustments, current = [], None
    for seg in split_segments(text, sep, term):
        where = {"line": seg.line}
        if seg.id == "ST":
            if seg.get(1) != "812":
                raise BankFileError(f"transaction set {seg.get(1)} is not an 812", line=seg.line)
            current = {"line": seg.line, "reasons": [], "buyer_name": "", "buyer_id": "", "bcd": None}
        elif current is None:
            continue
        elif seg.id == "BCD":
            flag = seg.get(5) or "D"
            if flag not in ("C", "D"):
                raise BankFileError(f"BCD05 credit/debit flag {flag!r} is neither C nor D", line=seg.line)
            current["bcd"] = {
                "date": parse_date(seg.get(1), "CCYYMMDD", what="BCD01 date", **where) if seg.get(1) else None,
                "number": seg.get(2), "amount": abs(decimal_amount(seg.get(4), what="BCD04 amount", **where)),
                "debit": flag == "D", "invoice_number": seg.get(7), "po_number": seg.get(10), "line": seg.line}
        elif seg.id == "N1" and seg.get(1) == "BY":
            current["buyer_name"], current["buyer_id"] = seg.get(2), seg.get(4)
        elif seg.id == "CDD":
            amount = decimal_amount(seg.get(4), what="CDD04 amount", **where) if seg.get(4) else None
            if amount is not None:
                current["reasons"].append(AdjustmentReason(seg.get(1), abs(amount), (seg.get(2) or "D") == "D"))
        elif seg.id == "SE":
            adjustments.append(_finish(current, seg.line))
            current = None
    if current is not None:
        raise BankFileError("812 transaction set has no SE trailer (truncated?)", line=current["line"])
    if not adjustments:
        raise BankFileError("X12 interchange contains no 812 transaction set")
    return adjustments


def _finish(current: dict, line: int) -> Adjustment:
    bcd = current["bcd"]
    if bcd is None:
        raise BankFileError("812 transaction set has no BCD segment", line=line)
    return Adjustment(number=bcd["number"], amount=bcd["amount"], debit=bcd["debit"],
                      invoice_number=bcd["invoice_number"], po_number=bcd["po_number"],
                      buyer_name=current["buyer_name"], buyer_id=current["buyer_id"], date=bcd["date"],
                      reasons=tuple(current["reasons"]), line=bcd["line"])
