"""NACHA ACH file (94-character records 1 5 6 7 8 9) as received by the payee: the remittance side of ACH.

Own parser (Python's ACH packages write files, they do not read them with line numbers). The money of
these entries reaches the bank account as BAI2/camt entries; the ACH file tells us who paid what for
which invoices. So each entry detail becomes a RemittanceAdvice, not a statement entry, which keeps the
money from being counted twice.

Rules:
- payment_reference = the 15-digit trace number (unique per originating bank and day; banks repeat it
  in the BAI2 customer reference or camt end-to-end id, where the linking step looks for it).
- CCD+/CTX 05 addenda are joined in sequence; when they hold X12 (an RMR segment or a whole 820) they are
  read as such, otherwise kept as unstructured text. 99 returns and 98 notifications of change set
  return_reason ("R01", "NOC C05").
- Batch (8) and file (9) control totals, counts and entry hashes that disagree are warnings.
"""

from __future__ import annotations

import re
from decimal import Decimal

from . import x12_820
from ._common import decode, implied_amount, is_digits, parse_date
from .types import CREDIT, DEBIT, BankFileError, RemittanceAdvice, RemittanceItem

_X12_START = re.compile(r"(?:^|[~\\'])\s*(ISA|ST|BPR|TRN|RMR|REF|N1|ENT)([^A-Za-z0-9 ])")


def _records(text: str) -> list[tuple[int, str]]:
    lines = text.splitlines()
    if len(lines) == 1 and len(lines[0]) > 94 and len(lines[0]) % 94 == 0:
        # Some systems send the file as one unbroken string of 94-character records.
        lines = [lines[0][i:i + 94] for i in range(0, len(lines[0]), 94)]
    out = []
    for n, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip() or set(line.strip()) == {"9"} and len(line.strip()) == 94:
            continue  # blocking filler
        if len(line) > 94:
            raise BankFileError(f"record is {len(line)} characters long; NACHA records are 94", line=n)
        out.append((n, line.ljust(94)))
    return out


def parse(data: bytes, warnings: list[str]) -> list[RemittanceAdvice]:
    records = _records(decode(data))
    if not records or records[0][1][0] != "1":
        raise BankFileError("a NACHA file must start with a 1 file header record", line=records[0][0] if records
                            else 1)
    advices: list[RemittanceAdvice] = []
    batch = None
    pending = None  # the 6 record waiting for its addenda
    file_counts = {"entries": 0, "hash": 0, "debit": 0, "credit": 0, "batches": 0}
    seen_9 = False
    for lineno, rec in records:
        kind = rec[0]
        if seen_9:
            raise BankFileError(f"record type {kind} after the 9 file control record", line=lineno)
        if kind in "5689" and pending is not None:
            advices.append(_advice(pending, batch, warnings))
            pending = None
        if kind == "1":
            if lineno != records[0][0]:
                raise BankFileError("second 1 file header record", line=lineno)
        elif kind == "5":
            if batch is not None:
                raise BankFileError("5 batch header before the previous batch's 8 control record", line=lineno)
            # Returns and some test files carry 000000: the date is then unknown, not invalid.
            effective = rec[69:75].strip().strip("0") and rec[69:75].strip()
            batch = {
                "company": rec[4:20].strip(), "company_id": rec[40:50].strip(), "sec": rec[50:53],
                "description": rec[53:63].strip(), "line": lineno,
                "date": parse_date(effective, "YYMMDD", what="batch effective entry date", line=lineno)
                if effective else None,
                "entries": 0, "hash": 0, "debit": 0, "credit": 0,
            }
        elif kind == "6":
            if batch is None:
                raise BankFileError("6 entry detail outside a batch (no 5 header before it)", line=lineno)
            code = rec[1:3]
            if not is_digits(code):
                raise BankFileError(f"transaction code {code!r} is not a number", line=lineno)
            amount = implied_amount(rec[29:39], "USD", what="entry amount", line=lineno)
            cents = int(rec[29:39])  # checked by implied_amount
            direction = CREDIT if code[1] in "01234" else DEBIT
            batch["entries"] += 1
            batch["hash"] += int(rec[3:11]) if is_digits(rec[3:11]) else 0
            batch["debit" if direction == DEBIT else "credit"] += cents
            pending = {"rec": rec, "line": lineno, "amount": amount, "direction": direction, "addenda": []}
        elif kind == "7":
            if pending is None:
                raise BankFileError("7 addenda record without a 6 entry detail before it", line=lineno)
            batch["entries"] += 1
            pending["addenda"].append(rec)
        elif kind == "8":
            if batch is None:
                raise BankFileError("8 batch control without a 5 batch header", line=lineno)
            _control(warnings, lineno, "batch control", rec[4:10], rec[10:20], rec[20:32], rec[32:44], batch)
            for key in ("entries", "hash", "debit", "credit"):
                file_counts[key] += batch[key]
            file_counts["batches"] += 1
            batch = None
        elif kind == "9":
            if batch is not None:
                raise BankFileError("9 file control before the batch's 8 control record", line=lineno)
            if is_digits(rec[1:7].strip()) and int(rec[1:7]) != file_counts["batches"]:
                warnings.append(f"line {lineno}: file control says {int(rec[1:7])} batches, the file has "
                                f"{file_counts['batches']}")
            _control(warnings, lineno, "file control", rec[13:21], rec[21:31], rec[31:43], rec[43:55], file_counts)
            seen_9 = True
        else:
            raise BankFileError(f"unknown NACHA record type {kind!r}", line=lineno)
    if not seen_9:
        raise BankFileError("file ends without its 9 file control record (truncated?)", line=records[-1][0])
    return advices


def _control(warnings: list[str], line: int, where: str, count: str, entry_hash: str, debit: str, credit: str,
             actual: dict) -> None:
    checks = (
        ("entry/addenda count", count, actual["entries"]),
        ("entry hash", entry_hash, actual["hash"] % 10**10),
        ("total debits (cents)", debit, actual["debit"]),
        ("total credits (cents)", credit, actual["credit"]),
    )
    for what, stated, value in checks:
        if not is_digits(stated.strip()):
            warnings.append(f"line {line}: {where} {what} {stated!r} is not a number")
        elif int(stated) != value:
            warnings.append(f"line {line}: {where} {what} {int(stated)} does not match the entries ({value})")


def _advice(pending: dict, batch: dict, warnings: list[str]) -> RemittanceAdvice:
    rec = pending["rec"]
    trace = rec[79:94].strip()
    ctx = batch["sec"] == "CTX"
    receiver = rec[58:74].strip() if ctx else rec[54:76].strip()
    remit_parts = []
    return_reason = ""
    for add in pending["addenda"]:
        kind = add[1:3]
        if kind == "05":
            remit_parts.append((add[83:87], add[3:83]))
        elif kind == "99":
            return_reason = add[3:6]
            remit_parts.append(("9999", f"return of trace {add[6:21].strip()}: {add[35:79].strip()}"))
        elif kind == "98":
            return_reason = f"NOC {add[3:6]}"
            remit_parts.append(("9999", f"change for trace {add[6:21].strip()}: {add[35:64].strip()}"))
    text = "".join(part for _, part in sorted(remit_parts)).strip()
    items: tuple[RemittanceItem, ...] = ()
    payer_name = batch["company"]
    unstructured = text
    x12 = _X12_START.search(text) if text else None
    if x12:
        found = _from_x12(text, x12.group(2), warnings, trace, pending["amount"], batch["date"])
        if found is not None:
            items = found.items
            payer_name = found.payer_name or payer_name
            unstructured = found.unstructured
    raw = "\n".join([rec.rstrip(), *(a.rstrip() for a in pending["addenda"])])
    return RemittanceAdvice(
        payment_reference=trace,
        payer_name=payer_name if pending["direction"] == CREDIT else receiver,
        payment_amount=pending["amount"],
        currency="USD",
        payment_date=batch["date"],
        items=items,
        direction=pending["direction"],
        channel="ach",
        payer_id=batch["company_id"],
        payee_name=receiver,
        unstructured=unstructured,
        return_reason=return_reason,
        raw=raw,
        source_line=str(pending["line"]),
    )


def _from_x12(text: str, sep: str, warnings: list[str], trace: str, amount: Decimal, when):
    terminator = next((t for t in ("~", "\\", "'") if t in text), "\n")
    if text.startswith("ISA") and len(text) >= 106:
        parts = text.split(text[3], 16)
        if len(parts) == 17 and len(parts[16]) >= 2:
            sep, terminator = text[3], parts[16][1]
    segments = x12_820.split_segments(text, sep, terminator)
    try:
        advices = x12_820.advices_from_segments(segments, warnings, line_based=False, default_reference=trace,
                                                default_amount=amount, default_date=when)
    except BankFileError as exc:
        # Addenda text that merely looks like X12 is still worth keeping as text; say why it was not read.
        warnings.append(f"trace {trace}: addenda not read as X12 ({exc}); kept as text")
        return None
    return advices[0] if advices else None
