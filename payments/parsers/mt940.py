"""SWIFT MT940 (customer statement) and MT942 (interim transaction report).

Own parser rather than `mt-940`: that library is tolerant to the point of returning a statement with no
transactions for a garbled file, reports no line numbers, and costs ~10x our time per transaction. The
field grammar we need (:20: :25: :28C: :60: :61: :86: :62: :34F: :13D: :90:) is short.

Rules:
- A message runs from :20: to a line "-" (or the next :20:). SWIFT envelopes {1:}{2:}{4: ... -}{5:} and
  the bank-name header lines some banks put between messages are ignored.
- bank_reference = the :61: reference of the account servicing institution (after "//"). Without one
  (or with NONREF) it is "<statement id>/<n>", n = position of the :61: in its message.
- statement_id = "<:20:>/<:25:>/<:28C:>/<opening balance date>" because banks reuse :20: and :28C: ("0").
- :86: is read as German ?NN subfields (SVWZ+, EREF+ ...), as /KEY/value pairs (/NAME/ /REMI/ /EREF/
  /IBAN/), or otherwise kept whole as unstructured text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal

from ._common import MAX_DIGITS, decimal_amount, decode, list_sizes, parse_date
from .types import CREDIT, DEBIT, BankFileError, Entry, Statement

# re.ASCII throughout: in a str pattern \d also matches the digits of other scripts ("٢٥٠١٠٢").
_TAG = re.compile(r"^:([0-9]{2}[A-Z]?|NS):(.*)$", re.ASCII)
_ENVELOPE = re.compile(r"\{[0-9]:(?:[^{}]|\{[^{}]*\})*\}|\{4:|-\}")
_LINE61 = re.compile(
    r"^(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>RC|RD|EC|ED|C|D)(?P<funds>[A-Z])?(?P<amount>\d[\d,]*)"
    r" ?(?P<type>[NFS].{3})(?P<ref>.*?)(?://(?P<bankref>.*))?$", re.ASCII
)
_BALANCE = re.compile(r"^(?P<mark>[CD])(?P<date>\d{6})(?P<ccy>[A-Z]{3})(?P<amount>\d[\d,]*)$", re.ASCII)
_TOTAL90 = re.compile(rf"^(?P<count>\d{{1,{MAX_DIGITS}}})(?P<ccy>[A-Z]{{3}})(?P<amount>\d[\d,]*)$", re.ASCII)
_ACCOUNT_CCY = re.compile(r"\s*([A-Z]{3})$", re.ASCII)
_SLASH_KEYS = re.compile(r"/(EREF|NAME|REMI|IBAN|BIC|ORDP|BENM|ISDT|CSID|MARF|ADDR|PURP|RTRN|TRCD|OCMT|CHGS|CNTP|ULTC|"
                         r"ULTD|ULTB|CDTRREF|CDTRREFTP|CODE|ID|USTD|STRD)/")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_GERMAN = re.compile(r"\?(\d\d)", re.ASCII)
_GERMAN_START = re.compile(r"\d{3}\?")  # not ASCII-only, as it always was
# The ?NN subfields that hold the purpose text (?20-?29, then ?60-?63), in the order they are joined.
_PURPOSE_KEYS = (*map(str, range(20, 30)), "60", "61", "62", "63")
_SEPA_KEYS = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|COAM|OAMT|IBAN|BIC)\+")
_CHANNEL = {"TRF": "wire", "STO": "wire", "DDT": "direct_debit", "RTI": "other", "CHK": "check", "BOE": "other",
            "DCR": "card", "POS": "card"}


def _messages(text: str):
    """Yield (first line number, [(tag, value, line)]) per message."""
    for start, fields in _raw_messages(text):
        yield start, [(tag, "\n".join(lines), line) for tag, lines, line in fields]


def _raw_messages(text: str):
    """As _messages, with each value as its list of lines: adding each continuation line to a growing string
    made a :86: of 100,000 lines take seconds."""
    fields: list[tuple[str, list[str], int]] = []
    start = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if "{" in line or "-}" in line:
            line = _ENVELOPE.sub("", line)
            if not line.strip():
                if fields:
                    yield start, fields
                    fields = []
                continue
        stripped = line.rstrip()
        m = _TAG.match(stripped)
        if m and m.group(1) == "20":
            if fields:
                yield start, fields
            fields = [("20", [m.group(2)], lineno)]
            start = lineno
        elif not fields:
            continue
        elif stripped == "-":
            yield start, fields
            fields = []
        elif m:
            # Free text keeps its trailing spaces, as its continuation lines do: a bank that wraps :86: at 65
            # columns may break it just after a space ('?32BAYVIEW HARDWARE ' + 'LLC'), and the lines are joined
            # as they are.
            value = line[m.start(2):] if m.group(1) == "86" else m.group(2)
            fields.append((m.group(1), [value], lineno))
        else:
            fields[-1][1].append(line)
    if fields:
        yield start, fields


def _balance(value: str, tag: str, line: int) -> tuple[Decimal, date, str]:
    m = _BALANCE.match(value.strip())
    if not m:
        raise BankFileError(f":{tag}: balance {value.strip()!r} is not <C|D><YYMMDD><currency><amount>", line=line)
    amount = decimal_amount(m["amount"], what=f":{tag}: amount", line=line, comma=True)
    when = parse_date(m["date"], "YYMMDD", what=f":{tag}: date", line=line)
    return (-amount if m["mark"] == "D" else amount), when, m["ccy"]


def parse(data: bytes, warnings: list[str]) -> list[Statement]:
    statements = []
    for start, fields in _messages(_text(data)):
        statements.append(_statement(start, fields, warnings))
    if not statements:
        raise _no_message()
    return statements


def iter_parse(data: bytes, warnings: list[str], chunk_size: int) -> Iterator[Statement | list[Entry]]:
    """`parse`, read as it is stored: each statement (entries empty) followed by its entries in lists of
    chunk_size (the first and the last smaller: `list_sizes`), with the values and refusals `parse` gives, in the
    same order. A statement whose date is its last entry's (no :62: or :13D:) is parsed whole first, as `parse` does."""
    found = False
    for start, fields in _messages(_text(data)):
        found = True
        head, lines = _head(start, fields)
        if head.as_of is None and lines:
            whole = _finished(head, fields, [_entry(*line) for line in lines], warnings)
            yield replace(whole, entries=())
            for i in range(0, len(whole.entries), chunk_size):
                yield list(whole.entries[i:i + chunk_size])
            continue
        yield head
        entries: list[Entry] = []
        sizes = list_sizes(chunk_size, len(lines))
        i = 0
        while i < len(lines):
            end = i + next(sizes)
            chunk = [_entry(*line) for line in lines[i:end]]
            entries += chunk
            yield chunk
            i = end
        _check_totals(fields, entries, warnings)
    if not found:
        raise _no_message()


def _text(data: bytes) -> str:
    # SWIFT control characters (SOH, ETX, SUB) mark message boundaries in some exports; they carry nothing.
    return _CONTROL.sub("", decode(data))


def _no_message() -> BankFileError:
    return BankFileError("no MT940/MT942 message (no :20: field) in the file")


def _statement(start: int, fields: list, warnings: list[str]) -> Statement:
    head, lines = _head(start, fields)
    return _finished(head, fields, [_entry(*line) for line in lines], warnings)


def _finished(head: Statement, fields: list, entries: list[Entry], warnings: list[str]) -> Statement:
    as_of = head.as_of if head.as_of is not None or not entries else entries[-1].booking_date
    _check_totals(fields, entries, warnings)
    return replace(head, as_of=as_of, entries=tuple(entries))


def _head(start: int, fields: list) -> tuple[Statement, list[tuple]]:
    """The statement without its entries, and the arguments of `_entry` for each :61: (with its :86:)."""
    tags = {}
    for tag, value, line in fields:
        tags.setdefault(tag, (value, line))
    if "25" not in tags:
        raise BankFileError("message has no :25: account identification", line=start)
    account_raw = tags["25"][0].strip()
    currency = ""
    # The currency some banks append to the account: found from the end, because "(.*?)\s*([A-Z]{3})$" tried
    # every start in a long run of spaces (minutes for a :25: of 100,000 spaces).
    m = _ACCOUNT_CCY.search(account_raw[-3:])
    head = account_raw[:-3].rstrip()
    if m and "\n" not in head and any(c.isdigit() for c in head):
        account_raw, currency = head, m.group(1)
    account = account_raw
    number = (tags.get("28C") or tags.get("28") or ("", 0))[0].strip()
    opening = closing = None
    opening_date = as_of = None
    for tag, value, line in fields:
        if tag in ("60F", "60M") and opening is None:
            opening, opening_date, currency = _balance(value, tag, line)
        elif tag in ("62F", "62M"):
            closing, as_of, ccy = _balance(value, tag, line)
            currency = currency or ccy
        elif tag == "34F" and not currency:
            currency = value.strip()[:3]
        elif tag in ("13D", "13") and as_of is None:
            stamp = value.strip()[:6]
            as_of = parse_date(stamp, "YYMMDD", what=f":{tag}: date", line=line)
    statement_id = f"{tags['20'][0].strip()}/{account}/{number}/{opening_date or as_of or ''}"

    lines: list[tuple] = []
    pending = None
    n = 0
    for tag, value, line in fields:
        if tag == "61":
            if pending:
                lines.append((*pending, None))
            n += 1
            pending = (value, line, n, statement_id, currency)
        elif tag == "86" and pending:
            lines.append((*pending, (value, line)))
            pending = None
    if pending:
        lines.append((*pending, None))
    head = Statement(
        statement_id=statement_id, account=account, currency=currency, as_of=as_of, entries=(),
        opening_balance=opening, closing_balance=closing,
    )
    return head, lines


def _check_totals(fields: list, entries: list[Entry], warnings: list[str]) -> None:
    """MT942 :90D:/:90C: state the number and sum of debits and credits; a mismatch is worth a warning."""
    for tag, value, line in fields:
        if tag not in ("90D", "90C"):
            continue
        m = _TOTAL90.match(value.strip())
        if not m:
            warnings.append(f"line {line}: :{tag}: {value.strip()!r} is not <count><currency><amount>")
            continue
        direction = DEBIT if tag == "90D" else CREDIT
        mine = [e.amount for e in entries if e.direction == direction]
        stated = decimal_amount(m["amount"], what=f":{tag}: amount", line=line, comma=True)
        if int(m["count"]) != len(mine) or stated != sum(mine, Decimal(0)):
            warnings.append(f"line {line}: :{tag}: says {m['count']} entries totalling {stated}, the file has "
                            f"{len(mine)} totalling {sum(mine, Decimal(0))}")


def _entry(value: str, line: int, n: int, statement_id: str, currency: str, info) -> Entry:
    first, _, supplementary = value.partition("\n")
    m = _LINE61.match(first.strip())
    if not m:
        raise BankFileError(f":61: statement line {first.strip()!r} is not <date>[<entry date>]<C|D|RC|RD>"
                            "<amount><type><reference>", line=line)
    value_date = parse_date(m["value"], "YYMMDD", what=":61: value date", line=line)
    booking = value_date
    if m["entry"]:
        month, day = int(m["entry"][:2]), int(m["entry"][2:])
        year = value_date.year
        # The entry date has no year: across a year end it belongs to the neighbouring year.
        if month == 1 and value_date.month == 12:
            year += 1
        elif month == 12 and value_date.month == 1:
            year -= 1
        try:
            booking = date(year, month, day)
        except ValueError:
            raise BankFileError(f":61: entry date {m['entry']!r} is not a valid MMDD date", line=line) from None
    mark = m["mark"]
    amount = decimal_amount(m["amount"], what=":61: amount", line=line, comma=True)
    direction = CREDIT if mark in ("C", "RD", "EC") else DEBIT
    bank_ref = (m["bankref"] or "").strip()
    if bank_ref.upper() in ("", "NONREF"):
        bank_ref = f"{statement_id}/{n}"
    owner_ref = m["ref"].strip()
    raw = f":61:{value}"
    text = ""
    payer_name = payer_account = e2e = ""
    remit = ""
    if info is not None:
        raw += f"\n:86:{info[0]}"
        payer_name, payer_account, e2e, remit, text = _details(info[0])
    return Entry(
        bank_reference=bank_ref,
        amount=amount,
        direction=direction,
        currency=currency,
        value_date=value_date,
        booking_date=booking,
        channel=_CHANNEL.get(m["type"][1:], "other"),
        payer_name=payer_name,
        payer_account=payer_account or _account_hint(supplementary),
        end_to_end_id=e2e or ("" if owner_ref.upper() == "NONREF" else owner_ref),
        unstructured=remit or text,
        bank_code=m["type"],
        raw=raw,
        source_line=str(line),
        reversal=mark in ("RC", "RD"),
    )


def _account_hint(supplementary: str) -> str:
    first = supplementary.strip().split("\n", 1)[0].strip()
    return first if re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", first) else ""


def _details(info: str) -> tuple[str, str, str, str, str]:
    """(payer name, payer account, end-to-end id, remittance text, whole text) from a :86: field."""
    flat = info.replace("\r", "")
    whole = " ".join(flat.split())
    if _GERMAN.search(flat[:6]) or _GERMAN_START.match(flat):
        joined = flat.replace("\n", "")
        pieces: dict[str, list[str]] = {}
        parts = _GERMAN.split(joined)
        for i in range(1, len(parts) - 1, 2):
            pieces.setdefault(parts[i], []).append(parts[i + 1])
        sub = {key: "".join(values) for key, values in pieces.items()}
        purpose = "".join([sub[k] for k in _PURPOSE_KEYS if k in sub])
        keyed = dict(zip(*[iter(_SEPA_KEYS.split(purpose)[1:])] * 2, strict=False))
        remit = keyed.get("SVWZ", "" if keyed else purpose).strip()
        name = (sub.get("32", "") + sub.get("33", "")).strip()
        return name, sub.get("31", "").strip(), keyed.get("EREF", "").strip(), remit, whole
    if _SLASH_KEYS.search(flat):
        joined = flat.replace("\n", "")
        parts = _SLASH_KEYS.split(joined)
        pairs: dict[str, str] = {}
        for i in range(1, len(parts) - 1, 2):
            pairs.setdefault(parts[i], parts[i + 1].strip("/ ").strip())
        # /ORDP//NAME/X names the ordering party; some banks write /ORDP/X, or only the ultimate debtor.
        name = pairs.get("NAME", "") or pairs.get("ORDP", "") or pairs.get("ULTD", "")
        account = pairs.get("IBAN", "")
        if "CNTP" in pairs and not account:
            cntp = pairs["CNTP"].split("/")
            account = cntp[0]
            name = name or (cntp[2] if len(cntp) > 2 else "")
        remit = pairs.get("REMI", "") or pairs.get("USTD", "")
        return name, account, pairs.get("EREF", ""), remit, whole
    name, account = _plain_payer(flat)
    return name, account, "", "", whole


# Payer names in unstructured :86: text, where a bank marks them: PostFinance 'AUFTRAGGEBER: JANE DOE
# EXAMPLESTRASSE 10 ...' (the name ends where the address's numbers begin), mBank 'OD: JAN NOWAK' (to the end of
# its line), and a first line that is the payer's account and name ('NL56ASNB0123456789 paulissen g j l m').
# Patterns are linear in the text's length (a :86: can be 100,000 characters long): no two quantifiers compete.
_OD = re.compile(r"(?:^|[;\s])OD:[ \t]*(?P<name>[^;\n]{1,140})")
_ACCOUNT_FIRST = re.compile(r"^\s*(?P<account>[A-Z]{2}\d{2}[A-Z0-9]{10,30}|\d{9,10})\s+(?P<name>[^\d\n]+)$", re.ASCII)
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", re.ASCII)
_PENTA = re.compile(r"^\d{3}[A-Z_]+:")


def _plain_payer(flat: str) -> tuple[str, str]:
    """(payer name, payer account) from a :86: without subfields, where the bank's layout marks them."""
    start = flat.find("AUFTRAGGEBER:")
    if start >= 0:
        end = flat.find("MITTEILUNGEN:", start)
        words = flat[start + len("AUFTRAGGEBER:"):end if end >= 0 else None].split()
        return " ".join(words[:next((i for i, w in enumerate(words) if any(c.isdigit() for c in w)), len(words))]), ""
    m = _OD.search(flat)
    if m:
        return " ".join(m["name"].split()), ""
    if _PENTA.match(flat):
        # '999SEPA_CREDIT_TRANSFER:<purpose>:<name>:<IBAN>[:<more>]': the name is the field before the IBAN.
        fields = flat.replace("\n", "").split(":")
        for i in range(2, len(fields)):
            if _IBAN.fullmatch(fields[i].strip()):
                return fields[i - 1].strip(), fields[i].strip()
        return "", ""
    m = _ACCOUNT_FIRST.match(flat.split("\n", 1)[0])
    if m and any(c.isalpha() for c in m["name"]):
        return " ".join(m["name"].split()), m["account"]
    return "", ""
