"""A NACHA ACH file of credits (refunds), as an originator sends it to its bank.

Records are 94 characters: 1 file header, 5 batch header (service class 220: credits only), 6 entry detail
per credit (transaction code 22 checking / 32 savings), 8 batch control, 9 file control, then lines of
nines up to a multiple of 10 records (the blocking factor). Amounts are in cents. Text fields are upper-case
ASCII; accents are dropped because banks refuse anything else.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

RECORD = 94
BLOCKING = 10


@dataclass(frozen=True)
class NachaCredit:
    routing: str  # 9 digits, ABA checksum valid
    account: str
    amount_cents: int
    name: str
    individual_id: str  # our reference, e.g. the instruction number
    savings: bool = False


@dataclass(frozen=True)
class NachaOriginator:
    immediate_destination: str  # 9-digit routing number of the receiving bank
    destination_name: str
    immediate_origin: str  # 10 characters, e.g. 1 + EIN
    origin_name: str
    company_name: str
    company_id: str
    odfi_routing: str  # 9 digits; the first 8 go into the batch and the trace numbers


def aba_valid(routing: str) -> bool:
    if len(routing) != 9 or not routing.isdigit():
        return False
    d = [int(c) for c in routing]
    return (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])) % 10 == 0


def _alpha(value: str, width: int) -> str:
    text = unicodedata.normalize("NFKD", value or "").encode("ascii", "ignore").decode().upper()
    return "".join(c if 32 <= ord(c) < 127 else " " for c in text)[:width].ljust(width)


def _num(value: int, width: int) -> str:
    text = str(value)
    if value < 0 or len(text) > width:
        raise ValueError(f"{value} does not fit a {width}-digit NACHA field")
    return text.zfill(width)


def _records(originator: NachaOriginator, credits: list[NachaCredit], effective: date, created: datetime,
             sec: str, description: str) -> list[str]:
    odfi = originator.odfi_routing[:8]
    header = ("1" + "01" + " " + originator.immediate_destination.rjust(9)[:9]
              + originator.immediate_origin.rjust(10)[:10] + created.strftime("%y%m%d") + created.strftime("%H%M")
              + "A" + "094" + "10" + "1" + _alpha(originator.destination_name, 23) + _alpha(originator.origin_name, 23)
              + _alpha("", 8))
    batch = ("5" + "220" + _alpha(originator.company_name, 16) + _alpha("", 20) + _alpha(originator.company_id, 10)
             + sec + _alpha(description, 10) + _alpha("", 6) + effective.strftime("%y%m%d") + "   " + "1" + odfi
             + _num(1, 7))
    entries, entry_hash, total = [], 0, 0
    for seq, credit in enumerate(credits, start=1):
        entries.append("6" + ("32" if credit.savings else "22") + credit.routing[:8] + credit.routing[8]
                       + _alpha(credit.account, 17) + _num(credit.amount_cents, 10) + _alpha(credit.individual_id, 15)
                       + _alpha(credit.name, 22) + "  " + "0" + odfi + _num(seq, 7))
        entry_hash += int(credit.routing[:8])
        total += credit.amount_cents
    entry_hash %= 10**10
    control = ("8" + "220" + _num(len(entries), 6) + _num(entry_hash, 10) + _num(0, 12) + _num(total, 12)
               + _alpha(originator.company_id, 10) + " " * 19 + " " * 6 + odfi + _num(1, 7))
    records = [header, batch, *entries, control]
    blocks = math.ceil((len(records) + 1) / BLOCKING)
    file_control = ("9" + _num(1, 6) + _num(blocks, 6) + _num(len(entries), 8) + _num(entry_hash, 10) + _num(0, 12)
                    + _num(total, 12) + " " * 39)
    records.append(file_control)
    records += ["9" * RECORD] * (blocks * BLOCKING - len(records))
    return records


def nacha_credit_file(originator: NachaOriginator, credits: list[NachaCredit], *, effective: date,
                      created: datetime, sec: str = "CCD", description: str = "REFUND") -> str:
    """The file's text; every record exactly 94 characters, lines ended by CRLF-free newlines."""
    if not credits:
        raise ValueError("a NACHA file needs at least one credit")
    if sec not in ("CCD", "PPD"):
        raise ValueError(f"SEC code {sec!r}: refunds go as CCD (companies) or PPD (consumers)")
    for routing in [originator.odfi_routing, originator.immediate_destination, *(c.routing for c in credits)]:
        if not aba_valid(routing):
            raise ValueError(f"routing number {routing!r} is not 9 digits with a valid ABA check digit")
    records = _records(originator, credits, effective, created, sec, description)
    assert all(len(r) == RECORD for r in records), "a NACHA record is not 94 characters"  # noqa: S101
    return "\n".join(records) + "\n"
