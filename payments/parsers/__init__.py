"""Bank and remittance file parsing: bytes in, normalised dataclasses out. No models, no database.

    parsed = parse_bank_file(data, file_name="statement.xml")
    for statement in parsed.statements: ...   # money on the account (BAI2, camt, MT940/942, lockbox, CSV)
    for advice in parsed.remittances: ...     # remittance detail to link to money (X12 820, NACHA addenda)

The format is detected from the content; the file name only breaks ties. A file that cannot be imported
raises BankFileError naming the line or element; problems that do not stop an import (trailer totals,
balances that do not reconcile, repeated references) are returned in `warnings`.
"""

from __future__ import annotations

import gc
import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

from . import bai2, camt, csv_mapped, lockbox, mt940, nacha, x12_820
from ._common import decode, reconcile, reconcile_net, unique_references, warn_repeated
from .csv_mapped import CsvMapping
from .types import (
    CREDIT,
    DEBIT,
    BankFileError,
    Entry,
    ParsedFile,
    RemittanceAdvice,
    RemittanceItem,
    Statement,
)

__all__ = [
    "CREDIT", "DEBIT", "BankFileError", "CsvMapping", "Entry", "ParsedFile", "RemittanceAdvice",
    "BankFileStream", "RemittanceItem", "Statement", "detect_format", "parse_bank_file", "stream_bank_file",
]

UNRECOGNISED = (
    "not a recognised bank file (expected BAI2, camt.05x, MT940/942, lockbox, NACHA, X12 820 "
    "or CSV with a mapping)"
)
_MT_TAG = re.compile(r"^:(20|25|28C?|60[FM]|62[FM]|61|86|34F|13D?):", re.MULTILINE)
_CAMT = re.compile(r"camt\.05([234])|<(?:\w+:)?(BkToCstmrStmt|BkToCstmrAcctRpt|BkToCstmrDbtCdtNtfctn)\b")
_CAMT_ROOTS = {"BkToCstmrStmt": "3", "BkToCstmrAcctRpt": "2", "BkToCstmrDbtCdtNtfctn": "4"}


def detect_format(data: bytes, *, file_name: str = "", csv_mapping: CsvMapping | dict | None = None) -> str:
    """One of: bai2, camt.052, camt.053, camt.054, mt940, mt942, lockbox, nacha, x12_820, csv."""
    head = decode(data[:65536]).lstrip("\ufeff \t\r\n\x00\x01")
    if not head:
        raise BankFileError("the file is empty")
    if head.startswith("<"):
        m = _CAMT.search(head)
        if not m:
            raise BankFileError("XML file is not an ISO 20022 camt.052, camt.053 or camt.054 message")
        return "camt.05" + (m.group(1) or _CAMT_ROOTS[m.group(2)])
    if head.startswith("01,"):
        return "bai2"
    if head.startswith("ISA"):
        sep = head[3:4]
        if re.search(rf"(?:^|[\s~'\\|]|\W)ST{re.escape(sep)}820{re.escape(sep)}", head):
            return "x12_820"
        raise BankFileError("X12 interchange without an 820 remittance advice transaction set")
    first = head.split("\n", 1)[0].rstrip("\r")
    if first.startswith("1") and first[34:37] == "094" and first[1:3].isdigit():
        return "nacha"
    if first.startswith("5") and first[1:4].isdigit() and first[50:53].isalpha() and len(first.rstrip()) > 80:
        raise BankFileError("NACHA batch records without the 1 file header record (a fragment, not a file)",
                            line=1)
    if first.startswith("1") and first[1:3].isdigit():
        second = head.split("\n", 2)[1].lstrip() if "\n" in head else ""
        if second.startswith("2") and len(first.rstrip()) <= 104:
            return "lockbox"
    if head.startswith("{1:") or head.startswith(":20:") or _MT_TAG.search(head):
        tags = set(re.findall(r"^:(\w+):", head, re.MULTILINE))
        if "20" in tags and "25" in tags:
            if tags & {"60F", "60M", "62F", "62M"}:
                return "mt940"
            if tags & {"34F", "13D", "13", "90D", "90C"}:
                return "mt942"
            return "mt940"
        raise BankFileError("MT940/942 text without both a :20: reference and a :25: account field "
                            "(a fragment, not a statement)")
    if csv_mapping is not None:
        return "csv"
    if file_name.lower().endswith((".bai", ".bai2")):
        return "bai2"
    raise BankFileError(UNRECOGNISED)


def parse_bank_file(data: bytes, *, file_name: str = "", csv_mapping: CsvMapping | dict | None = None) -> ParsedFile:
    fmt = detect_format(data, file_name=file_name, csv_mapping=csv_mapping)
    # A 100k-entry file allocates millions of objects that all survive; the cyclic collector would rescan
    # them again and again (parsing camt took 2-3x longer with it on). Nothing here creates cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(data, fmt, csv_mapping)
    finally:
        if collecting:
            gc.enable()


def _parse(data: bytes, fmt: str, csv_mapping) -> ParsedFile:
    warnings: list[str] = []
    statements: list[Statement] = []
    remittances: list[RemittanceAdvice] = []
    if fmt == "bai2":
        statements = bai2.parse(data, warnings)
    elif fmt.startswith("camt"):
        statements = camt.parse(data, warnings)
    elif fmt in ("mt940", "mt942"):
        statements = mt940.parse(data, warnings)
    elif fmt == "lockbox":
        statements = lockbox.parse(data, warnings)
    elif fmt == "nacha":
        remittances = nacha.parse(data, warnings)
    elif fmt == "x12_820":
        remittances = x12_820.parse(data, warnings)
    else:
        statements = csv_mapped.parse(data, csv_mapping, warnings)
    statements = unique_references(statements, warnings)
    for statement in statements:
        reconcile(statement, warnings)
    return ParsedFile(
        format=fmt,
        file_hash=hashlib.sha256(data).hexdigest(),
        statements=tuple(statements),
        remittances=tuple(remittances),
        warnings=tuple(warnings),
    )


class BankFileStream:
    """A file read while it is stored: iterating yields each statement (entries empty, currency final)
    followed by its entries in lists, with the same values `parse_bank_file` gives, references made unique
    the same way. `warnings` is complete once the iteration has ended. A refusal (BankFileError) can come
    from `stream_bank_file` or at any point of the iteration, after lists were yielded.

    camt.05x, MT940/MT942 and BAI2 are read lazily, so that a 100k-entry statement is stored while it is walked; the
    other formats are parsed whole up front and handed out in lists."""

    def __init__(self, data: bytes, fmt: str, parsed: ParsedFile | None, chunk_size: int):
        self.format = fmt
        self.remittances = parsed.remittances if parsed else ()
        self.warnings: list[str] = list(parsed.warnings) if parsed else []
        self._data = data
        self._parsed = parsed
        self._chunk_size = chunk_size

    @property
    def file_hash(self) -> str:  # the import has hashed the bytes already; 68 MB take 0.1 s
        return self._parsed.file_hash if self._parsed else hashlib.sha256(self._data).hexdigest()

    def __iter__(self) -> Iterator[Statement | list[Entry]]:
        if self._parsed is not None:
            for s in self._parsed.statements:
                yield replace(s, entries=())
                for i in range(0, len(s.entries), self._chunk_size):
                    yield list(s.entries[i:i + self._chunk_size])
            return
        yield from self._lazy(_LAZY[self.format])

    def _lazy(self, iter_parse) -> Iterator[Statement | list[Entry]]:
        # unique_references and reconcile, one statement at a time: the first use of a reference keeps it, the
        # n-th becomes "ref#n", exactly as the whole-file pass numbers them.
        warnings = self.warnings
        refs: Counter[str] = Counter()
        ids: Counter[str] = Counter()
        pending: Statement | None = None  # a statement waits for its first entries, which may name its currency
        done: list[tuple[Statement, Decimal]] = []
        net = Decimal(0)
        for item in iter_parse(self._data, warnings, self._chunk_size):
            if isinstance(item, Statement):
                if pending is not None:
                    yield pending
                if done or pending is not None:
                    done[-1] = (done[-1][0], net)
                ids[item.statement_id] += 1
                n = ids[item.statement_id]
                pending = replace(item, statement_id=f"{item.statement_id}#{n}") if n > 1 else item
                done.append((pending, Decimal(0)))
                net = Decimal(0)
                continue
            if pending is not None:
                if not pending.currency and item:
                    pending = replace(pending, currency=item[0].currency)
                    done[-1] = (pending, Decimal(0))
                yield pending
                pending = None
            out = []
            for e in item:
                refs[e.bank_reference] += 1
                n = refs[e.bank_reference]
                if n > 1:
                    e = replace(e, bank_reference=f"{e.bank_reference}#{n}")
                net += e.amount if e.direction == CREDIT else -e.amount
                out.append(e)
            yield out
        if pending is not None:
            yield pending
        if done:
            done[-1] = (done[-1][0], net)
        warn_repeated(refs, ids, warnings)
        for statement, statement_net in done:
            reconcile_net(statement, statement_net, warnings)


# Formats read as they are stored: format -> iter_parse(data, warnings, chunk_size), which yields each statement
# (entries empty) and then its entries in lists, refusing as the format's parse does.
_LAZY = {"camt.052": camt.iter_parse, "camt.053": camt.iter_parse, "camt.054": camt.iter_parse,
         "mt940": mt940.iter_parse, "mt942": mt940.iter_parse, "bai2": bai2.iter_parse}


def stream_bank_file(data: bytes, *, file_name: str = "", csv_mapping: CsvMapping | dict | None = None,
                     chunk_size: int = 10_000) -> BankFileStream:
    fmt = detect_format(data, file_name=file_name, csv_mapping=csv_mapping)
    parsed = None if fmt in _LAZY else parse_bank_file(data, file_name=file_name, csv_mapping=csv_mapping)
    return BankFileStream(data, fmt, parsed, chunk_size)
