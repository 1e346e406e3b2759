"""BAI lockbox transmission (fixed-width 104-character records, types 1 2 5 6 4 7 8 9).

Own parser: the `bai-lockbox` package raises on total mismatches and is Python-2 era (six). The layout
follows it (and the BAI lockbox format): 6 = one check, 4 = overflow lines of that check (invoice numbers),
7 = batch total, 8 = lockbox (service) total, 9 = destination trailer with the record count.

Rules:
- One Statement per lockbox (5 header to 8 total); account = lockbox number, currency USD.
- A check has no bank reference of its own; bank_reference is "<lockbox>/<deposit date>/<batch>/<item>",
  the bank's own batch and item numbers, so a re-sent file yields the same references.
- Each overflow line becomes one remittance item (the lockbox keying puts one invoice number per line).
- Total and count mismatches in 7, 8 and 9 records are warnings.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ._common import decode, implied_amount, is_digits, parse_date
from .types import CREDIT, BankFileError, Entry, RemittanceItem, Statement


def _num(rec: str, start: int, end: int, what: str, line: int) -> int:
    text = rec[start:end]
    if not is_digits(text.strip()):
        raise BankFileError(f"{what} {text!r} (columns {start + 1}-{end}) is not a number", line=line)
    return int(text)


def parse(data: bytes, warnings: list[str]) -> list[Statement]:
    lines = [(n, line.rstrip("\r\n")) for n, line in enumerate(decode(data).splitlines(), start=1) if line.strip()]
    if not lines or lines[0][1][:1] != "1":
        raise BankFileError("a lockbox file must start with a 1 immediate address header", line=1)
    statements: list[Statement] = []
    box = None
    checks: list[dict] = []
    batch_sum = Decimal(0)
    batch_count = 0
    seen_9 = False
    for lineno, rec in lines:
        if len(rec) > 104:
            raise BankFileError(f"record is {len(rec)} characters long; lockbox records are at most 104", line=lineno)
        rec = rec.ljust(104)
        kind = rec[0]
        if seen_9:
            raise BankFileError(f"record type {kind} after the 9 destination trailer", line=lineno)
        if kind == "1":
            if lineno != lines[0][0]:
                raise BankFileError("second 1 immediate address header", line=lineno)
            origin = rec[13:23].strip()
        elif kind == "2":
            pass
        elif kind == "5":
            if box is not None:
                raise BankFileError("5 lockbox header before the previous lockbox's 8 total record", line=lineno)
            box = {
                "number": str(_num(rec, 7, 14, "lockbox number", lineno)),
                "deposit": parse_date(rec[14:20], "YYMMDD", what="deposit date", line=lineno),
                "deposit_raw": rec[14:20],
                "entries": [],
                "sum": Decimal(0),
                "count": 0,
            }
        elif kind == "6":
            if box is None:
                raise BankFileError("6 check record outside a lockbox (no 5 header before it)", line=lineno)
            batch = _num(rec, 1, 4, "batch number", lineno)
            item = _num(rec, 4, 7, "item number", lineno)
            amount = implied_amount(rec[7:17], "USD", what="check amount", line=lineno)
            check_no = rec[36:46].strip().lstrip("0")
            checks.append({
                "ref": f"{box['number']}/{box['deposit_raw']}/{batch:03d}/{item:03d}",
                "amount": amount, "line": lineno, "raw": rec.rstrip(), "check_no": check_no,
                "payer": rec[52:82].strip(), "account": f"{rec[17:26].strip()}/{rec[26:36].strip()}".strip("/"),
                "memo": [],
            })
            batch_sum += amount
            batch_count += 1
        elif kind == "4":
            if not checks:
                raise BankFileError("4 overflow record without a 6 check record before it", line=lineno)
            checks[-1]["memo"].append(rec[11:41].strip())
            checks[-1]["raw"] += "\n" + rec.rstrip()
        elif kind == "7":
            if box is None:
                raise BankFileError("7 batch total outside a lockbox", line=lineno)
            stated_count = _num(rec, 20, 23, "number of remittances", lineno)
            stated = implied_amount(rec[23:33], "USD", what="batch dollar total", line=lineno)
            if stated_count != batch_count or stated != batch_sum:
                warnings.append(f"line {lineno}: batch total says {stated_count} checks for {stated}, the batch has "
                                f"{batch_count} for {batch_sum}")
            box["entries"].extend(_entry(c, box["deposit"]) for c in checks)
            box["sum"] += batch_sum
            box["count"] += batch_count
            checks, batch_sum, batch_count = [], Decimal(0), 0
        elif kind == "8":
            if box is None:
                raise BankFileError("8 lockbox total without a 5 lockbox header", line=lineno)
            if checks:
                raise BankFileError("8 lockbox total before the batch's 7 total record", line=lineno)
            stated_count = _num(rec, 20, 24, "number of checks", lineno)
            stated = implied_amount(rec[24:34], "USD", what="lockbox dollar total", line=lineno)
            if stated_count != box["count"] or stated != box["sum"]:
                warnings.append(f"line {lineno}: lockbox {box['number']} total says {stated_count} checks for "
                                f"{stated}, the file has {box['count']} for {box['sum']}")
            statements.append(Statement(
                statement_id=f"LOCKBOX:{origin}:{box['number']}:{box['deposit_raw']}",
                account=box["number"], currency="USD", as_of=box["deposit"], entries=tuple(box["entries"]),
            ))
            box = None
        elif kind == "9":
            if box is not None:
                raise BankFileError("9 destination trailer before the lockbox's 8 total record", line=lineno)
            stated = _num(rec, 1, 7, "total number of records", lineno)
            if stated != len(lines):
                warnings.append(f"line {lineno}: trailer says {stated} records, the file has {len(lines)}")
            seen_9 = True
        else:
            raise BankFileError(f"unknown lockbox record type {kind!r}", line=lineno)
    if not seen_9:
        raise BankFileError("file ends without its 9 destination trailer (truncated?)", line=lines[-1][0])
    return statements


def _entry(check: dict, deposit: date) -> Entry:
    memo = [m for m in check["memo"] if m]
    return Entry(
        bank_reference=check["ref"],
        amount=check["amount"],
        direction=CREDIT,
        currency="USD",
        value_date=deposit,
        booking_date=deposit,
        channel="lockbox",
        payer_name=check["payer"],
        payer_account=check["account"],
        end_to_end_id=check["check_no"],
        remittance=tuple(RemittanceItem(reference=m) for m in memo),
        unstructured=" ".join(memo),
        raw=check["raw"],
        source_line=str(check["line"]),
    )
