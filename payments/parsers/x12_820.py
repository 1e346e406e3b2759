"""ASC X12 820 payment order / remittance advice, as a file of its own and inside NACHA CTX/CCD+ addenda.

Own thin parser: there is no maintained Python X12 library worth its weight (pyx12 validates against
big maps and is slow; the others are abandoned), and the 820 segments we need are few: BPR (amount,
method, date), TRN (trace or check number: the link to the money), CUR, N1 (payer PR, payee PE), NTE,
RMR (one document: reference, paid, gross, discount), ADX (adjustment with reason code).

Separators come from the ISA header (element separator at position 4, the segment terminator right
after ISA16); in ACH addenda, which carry no ISA, they are inferred from the text.

An 820 can arrive before or after its money: each ST..SE becomes a RemittanceAdvice whose
payment_reference (TRN02) the cash-application step matches to a payment. Without TRN the reference is
"<ISA13>/<ST02>" and a warning says it cannot be linked by reference.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ._common import decimal_amount, decode, parse_date
from .types import CREDIT, DEBIT, BankFileError, RemittanceAdvice, RemittanceItem

_RMR_TYPES = {"IV": "invoice", "OI": "invoice", "IK": "invoice", "PO": "purchase_order", "CM": "credit_memo",
              "CR": "credit_memo", "R7": "credit_memo", "AP": "other", "ID": "other"}
_METHODS = {"ACH": "ach", "CHK": "check", "FWT": "wire", "SWT": "wire", "BOP": "wire", "CWT": "wire", "DCP": "card"}


class Segment:
    __slots__ = ("elements", "line", "number", "raw")

    def __init__(self, elements: list[str], line: int, number: int, raw: str):
        self.elements = elements
        self.line = line
        self.number = number
        self.raw = raw

    @property
    def id(self) -> str:
        return self.elements[0]

    def get(self, i: int) -> str:
        return self.elements[i] if i < len(self.elements) else ""


def split_segments(text: str, element_sep: str, terminator: str, *, first_line: int = 1) -> list[Segment]:
    segments = []
    line = first_line
    number = 0
    for chunk in text.split(terminator):
        seg_line = line + chunk[: len(chunk) - len(chunk.lstrip())].count("\n")
        line += chunk.count("\n") + (1 if terminator == "\n" else 0)
        body = chunk.strip()
        if not body:
            continue
        number += 1
        segments.append(Segment([e.strip() for e in body.split(element_sep)], seg_line, number, body))
    return segments


def _separators(text: str) -> tuple[str, str]:
    if not text.startswith("ISA") or len(text) < 106:
        raise BankFileError("X12 interchange does not start with a complete ISA segment", line=1)
    sep = text[3]
    parts = text.split(sep, 16)
    if len(parts) < 17 or len(parts[16]) < 2:
        raise BankFileError("ISA segment has fewer than 16 elements", line=1)
    return sep, parts[16][1]


def parse(data: bytes, warnings: list[str]) -> list[RemittanceAdvice]:
    text = decode(data).lstrip("\ufeff \t\r\n")
    sep, term = _separators(text)
    segments = split_segments(text, sep, term)
    return advices_from_segments(segments, warnings, line_based=True)


def _where(seg: Segment, line_based: bool) -> dict:
    return {"line": seg.line} if line_based else {"element": f"segment {seg.number} ({seg.id})"}


def advices_from_segments(segments: list[Segment], warnings: list[str], *, line_based: bool,
                          default_reference: str = "", default_amount: Decimal | None = None,
                          default_date: date | None = None) -> list[RemittanceAdvice]:
    control = ""
    advices = []
    current: dict | None = None
    for seg in segments:
        sid = seg.id
        where = _where(seg, line_based)
        if sid == "ISA":
            control = seg.get(13)
        elif sid == "ST":
            if seg.get(1) != "820":
                warnings.append(f"segment {seg.number}: transaction set {seg.get(1)} skipped (only 820 is read)")
                current = None
                continue
            current = {"st": seg, "control": seg.get(2), "items": [], "notes": [], "raw": [seg.raw], "payer": "",
                       "payer_id": "", "payee": "", "currency": "USD", "amount": default_amount, "direction": CREDIT,
                       "channel": "other", "date": default_date, "trace": "", "item": None}
        elif current is None:
            if sid in ("BPR", "TRN", "RMR", "ADX") and not line_based:
                # ACH addenda often carry the 820 body without ISA/ST envelopes.
                current = {"st": seg, "control": "", "items": [], "notes": [], "raw": [], "payer": "",
                           "payer_id": "", "payee": "", "currency": "USD", "amount": default_amount,
                           "direction": CREDIT, "channel": "other", "date": default_date, "trace": "", "item": None}
            else:
                continue
        if current is None:
            continue
        if sid != "ST":
            current["raw"].append(seg.raw)
        if sid == "BPR":
            current["amount"] = decimal_amount(seg.get(2), what="BPR02 payment amount", **where)
            current["direction"] = DEBIT if seg.get(3) == "D" else CREDIT
            current["channel"] = _METHODS.get(seg.get(4), "other")
            if seg.get(16):
                current["date"] = parse_date(seg.get(16), "CCYYMMDD", what="BPR16 payment date", **where)
        elif sid == "TRN":
            current["trace"] = seg.get(2)
        elif sid == "CUR" and seg.get(2):
            current["currency"] = seg.get(2)
        elif sid == "DTM" and seg.get(1) in ("097", "234", "009") and current["date"] is None and seg.get(2):
            current["date"] = parse_date(seg.get(2), "CCYYMMDD", what="DTM02 date", **where)
        elif sid == "N1":
            if seg.get(1) == "PR":
                current["payer"], current["payer_id"] = seg.get(2), seg.get(4)
            elif seg.get(1) == "PE":
                current["payee"] = seg.get(2)
        elif sid == "NTE":
            current["notes"].append(seg.get(2))
        elif sid == "ENT":
            _close_item(current)
        elif sid == "RMR":
            _close_item(current)
            current["item"] = {
                "reference": seg.get(2), "reference_type": _RMR_TYPES.get(seg.get(1), "other"),
                "amount_paid": _opt(seg, 4, "RMR04 amount paid", where),
                "gross_amount": _opt(seg, 5, "RMR05 invoice amount", where),
                "discount": _opt(seg, 6, "RMR06 discount", where), "adjustment": None, "adjustment_reason": "",
            }
        elif sid == "ADX":
            amount = _opt(seg, 1, "ADX01 adjustment amount", where)
            if current["item"] is not None and current["item"]["adjustment"] is None:
                current["item"]["adjustment"] = amount
                current["item"]["adjustment_reason"] = seg.get(2)
            else:
                _close_item(current)
                current["items"].append(RemittanceItem(reference=seg.get(4), reference_type="adjustment",
                                                       adjustment=amount, adjustment_reason=seg.get(2)))
        elif sid == "SE":
            advices.append(_finish(current, control, warnings, default_reference))
            current = None
    if current is not None:
        if line_based:
            raise BankFileError(f"820 transaction set {current['control']} has no SE trailer (truncated?)",
                                line=segments[-1].line)
        advices.append(_finish(current, control, warnings, default_reference))
    if line_based and not advices:
        raise BankFileError("X12 interchange contains no 820 transaction set")
    return advices


def _opt(seg: Segment, i: int, what: str, where: dict) -> Decimal | None:
    value = seg.get(i)
    return decimal_amount(value, what=what, **where) if value else None


def _close_item(current: dict) -> None:
    if current["item"] is not None:
        current["items"].append(RemittanceItem(**current["item"]))
        current["item"] = None


def _finish(current: dict, control: str, warnings: list[str], default_reference: str) -> RemittanceAdvice:
    _close_item(current)
    reference = current["trace"] or default_reference
    if not reference:
        reference = f"{control}/{current['control']}"
        warnings.append(f"820 transaction set {current['control']} has no TRN trace number; it can only be linked "
                        "to its payment by amount, date and payer")
    st = current["st"]
    return RemittanceAdvice(
        payment_reference=reference,
        payer_name=current["payer"],
        payment_amount=current["amount"],
        currency=current["currency"],
        payment_date=current["date"],
        items=tuple(current["items"]),
        direction=current["direction"],
        channel=current["channel"],
        payer_id=current["payer_id"],
        payee_name=current["payee"],
        unstructured=" ".join(n for n in current["notes"] if n),
        raw="\n".join(current["raw"]),
        source_line=str(st.line),
    )
