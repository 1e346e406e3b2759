"""BAI2 cash management balance reporting (BAI, 2005 spec).

Own parser rather than the `bai2` package: that one raises on wrong trailer totals (we must import and
warn), does not report line numbers in its errors, and does not split several records written on one
physical line. Those three are what real bank files need; the record grammar itself is small.

Rules worth knowing:
- A physical line may hold several records ("16,.../ 16,.../"): we split after a "/" that is followed by
  a known record code and a comma. A "/" inside text ("AB/GS/RP") is left alone.
- An 88 record continues the previous record: for 16 records it adds a line of text, for the others it
  continues the field list. A physical line that does not start with a record code continues the text
  of the record before it (a line-wrapped 16 record).
- Amounts are integers in the currency's minor units. With no currency in 03 or 02 we assume USD.
- bank_reference is the 16 record's bank reference. When the bank leaves it blank we derive
  "<sender>:<file created>:<file id>/<group>/<account>/<n>" from the file's own ids (n = position of
  the 16 record within its group). Such references are stable for a re-sent file but cannot match
  the same entry arriving again in a different file.
- statement_id is "<originator>:<account>:<as-of date>:<as-of modifier>", so the same account-day
  reported again (intraday interim versus final) is recognisably the same statement.
- Wrong 49/98/99 control totals or record counts become warnings; a missing trailer is an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

from ._common import decode, implied_amount, is_digits, list_sizes, parse_date, shown, to_int
from .types import CREDIT, DEBIT, BankFileError, Entry, Statement

_CODES = ("01", "02", "03", "16", "49", "88", "98", "99")
_SPLIT = re.compile(r"/\s*(?=(?:01|02|03|16|49|88|98|99),)")
_STARTS = re.compile(r"\s*(01|02|03|16|49|88|98|99),")

_WIRE = {191, 195, 196, 198, 201, 206, 208, 495, 496, 498, 501, 506, 508}
_ACH = {142, 143, 145, 165, 166, 167, 168, 169, 261, 266, 451, 452, 455, 466, 469, 557}
_LOCKBOX = {115, 116, 118, 121, 122}
_CHECK = {108, 171, 175, 176, 187, 301, 302, 303, 305, 306, 307, 308, 309, 310, 475, 476, 477}
_CARD = {156, 159, 160, 267, 268, 269}

# Where banks write who paid, a subfield per line: 'ORG:=ACME CORP', 'DBNM: ACME CORP', 'B/O ACME CORP', and Citi's
# 'BO1:' (the by-order-of party's name; its 'OB:' is the ordering bank, 'BO:' the payer's account).
_PAYER_PATTERNS = (
    re.compile(r"^(?:ORG|ORIGINATOR|ORIG)\s*:=?\s*(.+)$"),
    re.compile(r"^DBNM:\s*(.+)$"),
    re.compile(r"^B/O:?\s*(.+)$"),
    re.compile(r"^BO1:\s*(.+)$"),
)
# The same as one pattern, tried in that order (an alternation tries its branches in order): one call per line
# instead of four was a tenth of reading a 100k-entry file. Each branch has one group, so lastindex is its name.
_PAYER_SUBFIELD = re.compile("|".join(f"(?:{p.pattern})" for p in _PAYER_PATTERNS))
# ... or inside a line of text: ACH detail ('ORIG CO NAME:ACME CORP ORIG ID:123 SEC:CCD'), Goldman's 'From: ACME
# INC, Client Ref ID: ...', slash-keyed wires ('/ORIG/ACME CORP/'). The name runs to the next 'KEY:', a double
# space, a slash, a comma or semicolon after it, or the end; at most 140 characters, so that a hostile line of
# keys without an end costs linear time.
_KEYS = ("ORIG(?: CO)? ID|CO ID|DESC DATE|CO ENTRY DESCR|ENTRY DESCR?|IND ID(?: NO)?|IND NAME|TRACE(?: NO)?|"
         "EFF DATE|CLIENT REF ID|REF NO|ORG ID|ORIG BANK|OBK ID")
_PAYER_INLINE = re.compile(
    r"(?:(?<![A-Z])(?:ORIG(?:INATOR)? CO(?:MPANY)? NAME|ORIGINATOR NAME|ORIG NAME|BY ORDER OF|B/O)[:=]?|"
    r"(?<![A-Za-z])From:|/(?:ORIG|ORDP|BYORDER)/)\s*"
    r"(?P<name>[^\s/,;:=][^/,;:=]{0,139}?)(?=\s{2,}|\s+(?:" + _KEYS + r")\s*[:=]|\s+[^\s:=]+[:=]|\s*[/,;]|\s*$)")
_PAYER_ACCOUNT = re.compile(r"^(?:DACT|ORG ID|ORIGINATOR ID|OBK ID|BO):=?\s*(.+)$")
_SORT_CODE = re.compile(r"^OB:\s*(\d{6})\b")  # Citi: the ordering bank's UK sort code, the account's other half
# With no subfield naming the payer, 'OB:' is the next best: banks that copy Citi's tags write the ordering party
# there ('OB:ACME CORP'); where it is the ordering bank's sort code and branch, the name identifies no customer
# and the matcher still looks for one in the text.
_ORDERED_BY = re.compile(r"^OB:\s*(?:\d{6}\s+)?(?P<name>\D.*)$")
# Citi writes several two-letter tags on one line ('BO:11111111 BO1:DOE JO'): each is a subfield of its own.
_CITI_TAG = re.compile(r"\s(?=(?:BO|OB|BI|BN|BE|PY|FR)\d?:)")  # one character: '\s+' would rescan a run of spaces
_EREF = re.compile(r"^(?:EREF|E2E|END TO END ID):=?\s*(.+)$")
_REMIT = re.compile(r"^(?:OBI|REMI|RMT|REMITTANCE INFO):=?\s*(.+)$")


def _channel(code: int) -> str:
    if code in _WIRE:
        return "wire"
    if code in _ACH:
        return "ach"
    if code in _LOCKBOX:
        return "lockbox"
    if code in _CHECK:
        return "check"
    if code in _CARD:
        return "card"
    return "other"


def _direction(code: int) -> str | None:
    # 100-399 are credits, 400-699 debits; 900-999 are bank-specific and 001-099 / 700-799 are not entries.
    if 100 <= code <= 399:
        return CREDIT
    if 400 <= code <= 699:
        return DEBIT
    return None


class _Record:
    """One logical record. Its continuations (wrapped lines, 88 records) are collected in lists and joined once
    (`fields`, `raw`): adding each to a growing string made a file of 100,000 continuation lines take minutes."""

    __slots__ = ("code", "line", "parts", "raws", "texts")

    def __init__(self, code: str, body: str, line: int, raw: str):
        self.code = code
        self.parts = [body]  # the field text and its continuations, joined by `fields`
        self.line = line
        self.raws = [raw]
        self.texts: list[str] = []

    def wrap(self, physical: str) -> None:
        """A line-wrapped record: the bank broke a long 16 text over two physical lines."""
        self.raws.append(physical)
        self.parts[-1] = self.parts[-1].rstrip().removesuffix("/")
        self.parts.append(" " + physical.strip())

    @property
    def fields(self) -> str:
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        return self.parts[0]

    @property
    def raw(self) -> str:
        if len(self.raws) > 1:
            self.raws = ["\n".join(self.raws)]
        return self.raws[0]


def _records(text: str) -> list[_Record]:
    records: list[_Record] = []
    for lineno, physical in enumerate(text.splitlines(), start=1):
        if not physical.strip():
            continue
        if not _STARTS.match(physical):
            if not records:
                raise BankFileError("a BAI2 file must start with a 01 file header record", line=lineno)
            records[-1].wrap(physical)
            continue
        pieces = _SPLIT.split(physical.strip()) if "/" in physical else [physical.strip()]
        for piece in pieces:
            piece = piece.strip()
            code, _, body = piece.partition(",")
            body = body.rstrip()
            if body.endswith("/"):
                body = body[:-1]
            records.append(_Record(code, body, lineno, piece))
    return records


def _merge_continuations(records: list[_Record]) -> tuple[list[_Record], int]:
    merged: list[_Record] = []
    for rec in records:
        if rec.code != "88":
            merged.append(rec)
            continue
        if not merged or merged[-1].code in ("01", "99"):
            raise BankFileError("88 continuation record has no record to continue", line=rec.line)
        prev = merged[-1]
        prev.raws.append(rec.raw)
        if prev.code == "16":
            prev.texts.append(rec.fields.strip())
        else:
            prev.parts.append("," + rec.fields)
    return merged, len(records)


def _summary_balances(fields: list[str], currency: str, line: int) -> tuple[Decimal | None, Decimal | None, int]:
    """Walk the 03 status/summary groups; returns opening ledger (010), closing ledger (015) and the sum of
    all amounts in minor units for the 49 control total."""
    opening = closing = None
    total = 0
    i = 0
    n = len(fields)
    while i < n:
        code = fields[i].strip()
        amount = fields[i + 1].strip() if i + 1 < n else ""
        funds = fields[i + 3].strip() if i + 3 < n else ""
        i += 4
        if funds == "S":
            i += 3
        elif funds == "V":
            i += 2
        elif funds == "D":
            count = fields[i].strip() if i < n else "0"
            i += 1 + 2 * int(count) if is_digits(count) else 1
        if not code or not amount:
            continue
        value = implied_amount(amount, currency, what=f"03 record amount for type {code}", line=line, signed=True)
        total += int(amount)  # checked by implied_amount
        if code == "010":
            opening = value
        elif code == "015":
            closing = value
    return opening, closing, total


def parse(data: bytes, warnings: list[str]) -> list[Statement]:
    statements: list[Statement] = []
    for item in iter_parse(data, warnings, 10_000):
        if isinstance(item, Statement):
            statements.append(item)
        else:
            statements[-1] = replace(statements[-1], entries=statements[-1].entries + tuple(item))
    return statements


def iter_parse(data: bytes, warnings: list[str], chunk_size: int) -> Iterator[Statement | list[Entry]]:
    """`parse`, read as it is stored: each account's statement (entries empty) at its 03 record, then its
    entries in lists of chunk_size (the first and the last smaller: `list_sizes`), with the values and refusals
    `parse` gives. A refusal can come after lists were yielded (a missing trailer is known only at the end); the
    import then stores nothing."""
    records, _ = _merge_continuations(_records(decode(data)))
    if not records or records[0].code != "01":
        raise BankFileError("a BAI2 file must start with a 01 file header record", line=records[0].line if records
                            else None)
    header = records[0].fields.split(",")
    if len(header) < 5:
        raise BankFileError("01 file header has fewer than 5 fields", line=records[0].line)
    sender, file_created, file_id = header[0].strip(), header[2].strip() + header[3].strip(), header[4].strip()
    file_key = f"{sender}:{file_created}:{file_id}"

    physical = _PhysicalCounts(records)
    sizes = list_sizes(chunk_size, sum(1 for rec in records if rec.code == "16"))
    target = next(sizes)
    group = account = None
    group_no = 0
    group_total = group_accounts = 0
    file_total = 0
    file_groups = 0
    group_start = 0
    account_start = 0
    seen_99 = False
    for idx, rec in enumerate(records):
        code = rec.code
        if seen_99:
            raise BankFileError(f"record {code} after the 99 file trailer", line=rec.line)
        if code == "01":
            if idx != 0:
                raise BankFileError("second 01 file header in one file", line=rec.line)
        elif code == "02":
            if group is not None:
                raise BankFileError("02 group header before the previous group's 98 trailer", line=rec.line)
            f = rec.fields.split(",")
            if len(f) < 4:
                raise BankFileError("02 group header has fewer than 4 fields", line=rec.line)
            as_of = parse_date(f[3].strip(), "YYMMDD", what="02 group header as-of date", line=rec.line)
            group = {
                "originator": f[1].strip(),
                "as_of": as_of,
                "as_of_raw": f[3].strip(),
                "currency": (f[5].strip() if len(f) > 5 else "") or "USD",
                "modifier": f[6].strip() if len(f) > 6 else "",
            }
            group_no += 1
            group_total = group_accounts = 0
            group_start = idx
        elif code == "03":
            if group is None:
                raise BankFileError("03 account record outside a group (no 02 header before it)", line=rec.line)
            if account is not None:
                raise BankFileError("03 account record before the previous account's 49 trailer", line=rec.line)
            f = rec.fields.split(",")
            number = f[0].strip()
            if not number:
                raise BankFileError("03 account record has no account number", line=rec.line)
            currency = (f[1].strip() if len(f) > 1 else "") or group["currency"]
            opening, closing, total = _summary_balances(f[2:], currency, rec.line)
            account = {"number": number, "currency": currency, "total": total, "entries": []}
            account_start = idx
            yield Statement(
                statement_id=f"{group['originator']}:{number}:{group['as_of_raw']}:{group['modifier']}",
                account=number, currency=currency, as_of=group["as_of"], entries=(),
                opening_balance=opening, closing_balance=closing,
            )
        elif code == "16":
            if account is None:
                raise BankFileError("16 transaction record outside an account (no 03 before it)", line=rec.line)
            entry, minor = _entry(rec, account, group, file_key, group_no)
            account["total"] += minor
            if entry is not None:
                account["entries"].append(entry)
                if len(account["entries"]) >= target:
                    yield account["entries"]
                    account["entries"] = []
                    target = next(sizes)
        elif code == "49":
            if account is None:
                raise BankFileError("49 account trailer without a 03 account record", line=rec.line)
            f = rec.fields.split(",")
            stated = f[0].strip()
            implied_amount(stated or "0", account["currency"], what="49 account control total", line=rec.line,
                           signed=True)
            _check(warnings, rec.line, f"49 trailer of account {account['number']}", "control total",
                   stated, account["total"])
            _check_count(warnings, rec.line, f"49 trailer of account {account['number']}", f, 1,
                         physical.between(account_start, idx))
            group_total += int(stated or 0)
            group_accounts += 1
            if account["entries"]:
                yield account["entries"]
            account = None
        elif code == "98":
            if group is None:
                raise BankFileError("98 group trailer without a 02 group header", line=rec.line)
            if account is not None:
                raise BankFileError("98 group trailer before the account's 49 trailer", line=rec.line)
            f = rec.fields.split(",")
            stated = f[0].strip()
            _check(warnings, rec.line, "98 group trailer", "control total", stated, group_total)
            _check_count(warnings, rec.line, "98 group trailer", f, 1, group_accounts, what="number of accounts")
            _check_count(warnings, rec.line, "98 group trailer", f, 2, physical.between(group_start, idx))
            stated_total = to_int(stated)
            file_total += group_total if stated_total is None else stated_total
            file_groups += 1
            group = None
        elif code == "99":
            if group is not None:
                raise BankFileError("99 file trailer before the group's 98 trailer", line=rec.line)
            f = rec.fields.split(",")
            _check(warnings, rec.line, "99 file trailer", "control total", f[0].strip(), file_total)
            _check_count(warnings, rec.line, "99 file trailer", f, 1, file_groups, what="number of groups")
            _check_count(warnings, rec.line, "99 file trailer", f, 2, physical.between(0, idx))
            seen_99 = True
        else:
            raise BankFileError(f"unknown BAI2 record code {code!r}", line=rec.line)
    if not seen_99:
        last = records[-1].line
        missing = "49 account trailer" if account else "98 group trailer" if group else "99 file trailer"
        raise BankFileError(f"file ends without its {missing} (truncated?)", line=last)


class _PhysicalCounts:
    """Records from start to end counted as the trailers count them: with every 88 continuation, which we merged
    into its parent. Each record is counted once (three trailers used to walk a 100k-record file each)."""

    def __init__(self, records: list[_Record]):
        self._records = records
        self._before: list[int] | None = None  # records[:i] counted, built at the first trailer

    def between(self, start: int, end: int) -> int:
        if self._before is None:
            before = [0]
            for r in self._records:
                raw = r.raw
                before.append(before[-1] + 1 + raw.count("\n88,") + raw.startswith("88,"))
            self._before = before
        return self._before[end + 1] - self._before[start]


def _check(warnings: list[str], line: int, where: str, what: str, stated: str, actual: int) -> None:
    value = to_int(stated)
    if not stated:
        warnings.append(f"line {line}: {where} has no {what} (expected {actual})")
    elif value is None:
        warnings.append(f"line {line}: {where} {what} {shown(stated)} is not a number")
    elif value != actual:
        warnings.append(f"line {line}: {where} {what} {value} does not match the records ({actual})")


def _check_count(warnings: list[str], line: int, where: str, fields: list[str], index: int, actual: int,
                 what: str = "number of records") -> None:
    stated = fields[index].strip() if len(fields) > index else ""
    if not stated:
        return
    if not is_digits(stated) or int(stated) != actual:
        said = stated if is_digits(stated) else shown(stated)
        warnings.append(f"line {line}: {where} {what} {said} does not match the file ({actual})")


def _payer(texts: list[str]) -> tuple[str, str]:
    """(payer name, payer account) from the entry's text lines: a subfield of its own first, else a name keyed
    inside a line."""
    name = account = sort_code = ""
    pieces = [piece.strip() for line in texts for piece in _CITI_TAG.split(line)]
    for t in pieces:
        if not name:
            m = _PAYER_SUBFIELD.match(t)
            if m:
                name = m.group(m.lastindex).strip()
        m = _PAYER_ACCOUNT.match(t)
        if m and not account:
            account = m.group(1).strip()
        m = _SORT_CODE.match(t)
        if m:
            sort_code = m.group(1)
    if not name:
        for t in texts:
            m = _PAYER_INLINE.search(t)
            if m:
                name = m["name"].strip()
                break
    if not name:
        name = next((m["name"].strip() for t in pieces if (m := _ORDERED_BY.match(t))), "")
    if sort_code and account.isdigit() and len(account) == 8:
        account = f"{sort_code}/{account}"
    return name, account


def _entry(rec: _Record, account: dict, group: dict, file_key: str, group_no: int) -> tuple[Entry | None, int]:
    f = rec.fields.split(",", 5)
    type_code = f[0].strip()
    amount_raw = f[1].strip() if len(f) > 1 else ""
    if not is_digits(type_code):
        raise BankFileError(f"16 record type code {shown(type_code)} is not a number", line=rec.line)
    currency = account["currency"]
    amount = implied_amount(amount_raw, currency, what="16 record amount", line=rec.line)
    funds = f[2].strip() if len(f) > 2 else ""
    # The funds type decides how many optional fields follow before bank and customer reference.
    extra = {"S": 3, "V": 2}.get(funds, 0)
    rest = rec.fields.split(",", 3 + extra)
    value_date = group["as_of"]
    if funds == "V" and len(rest) > 3 and rest[3].strip():
        value_date = parse_date(rest[3].strip(), "YYMMDD", what="16 record value date", line=rec.line)
    if funds == "D":
        head = rec.fields.split(",", 4)
        count = head[3].strip() if len(head) > 3 else "0"
        if not is_digits(count):
            raise BankFileError(f"16 record distributed-availability count {shown(count)} is not a number",
                                line=rec.line)
        if int(count) > len(head[-1]):  # each distribution takes two fields, so at least two characters
            raise BankFileError(f"16 record distributed-availability count {count} is more than the record holds",
                                line=rec.line)
        extra = 1 + 2 * int(count)
        rest = rec.fields.split(",", 3 + extra)
    tail = rest[-1] if len(rest) == 4 + extra else ""
    parts = tail.split(",", 2)
    bank_ref = parts[0].strip() if parts else ""
    customer_ref = parts[1].strip() if len(parts) > 1 else ""
    text = parts[2].strip() if len(parts) > 2 else ""
    direction = _direction(int(type_code))
    minor = int(amount_raw)  # checked by implied_amount
    if direction is None:
        return None, minor
    group["seq"] = group.get("seq", 0) + 1
    texts = [text, *rec.texts] if text else list(rec.texts)
    payer_name, payer_account = _payer(texts)
    e2e = ""
    remit = []
    for t in texts:
        m = _EREF.match(t)
        if m and not e2e:
            e2e = m.group(1).strip()
        m = _REMIT.match(t)
        if m:
            remit.append(m.group(1).strip())
    unstructured = " ".join(remit) if remit else " ".join(t for t in texts if t)
    reference = bank_ref or f"{file_key}/{group_no}/{account['number']}/{group['seq']}"
    return Entry(
        bank_reference=reference,
        amount=amount,
        direction=direction,
        currency=currency,
        value_date=value_date,
        booking_date=group["as_of"],
        channel=_channel(int(type_code)),
        payer_name=payer_name,
        payer_account=payer_account,
        end_to_end_id=e2e or customer_ref,
        unstructured=unstructured,
        bank_code=type_code,
        raw=rec.raw,
        source_line=str(rec.line),
    ), minor
