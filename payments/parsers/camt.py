"""ISO 20022 camt.052 (account report), camt.053 (statement) and camt.054 (debit/credit notification),
message versions .02 to .08 and later: the elements we read kept their names across versions, and where
they moved (party names under Pty from .08, TxDtls/Amt from .03) both places are read.

Own reader on defusedxml's ElementTree rather than `pycamt`: pycamt flattens to dicts without the batch
split, the reversal flag, the element path for errors or the raw XML per entry, and it parses with the
stdlib parser directly. defusedxml refuses DTDs and entity declarations (billion laughs, external
entities) before anything is expanded.

Rules:
- Only booked entries (Sts BOOK) are money; pending or informational entries are skipped with a warning.
- bank_reference = the entry's AcctSvcrRef, else its NtryRef, else "<statement id>/<entry number>".
- Batch bookings: an entry with several TxDtls that all carry an amount becomes one Entry per TxDtls,
  because cash application applies each payment separately. Each gets the TxDtls' own AcctSvcrRef when
  it has one, else "<entry reference>/<n>" (n counted from 1 within the entry). When the parts do not add
  up to the entry amount, that is a warning. A batch whose TxDtls lack amounts stays one Entry carrying
  all their remittance items.
- raw is the entry's own XML text, cut from the file, and source_line its element path and line.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - fed only after the DTD check below
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from ._common import decimal_amount, parse_date
from .types import CREDIT, DEBIT, BankFileError, Entry, RemittanceItem, Statement

_ROOTS = {"BkToCstmrStmt": "Stmt", "BkToCstmrAcctRpt": "Rpt", "BkToCstmrDbtCdtNtfctn": "Ntfctn"}
# The attacks defusedxml guards against (entity expansion, external entities) all need a DTD. A file without
# one goes to the C parser (defusedxml's pure-Python callbacks cost half the parse time on big statements);
# anything mentioning a DOCTYPE or ENTITY goes through defusedxml, which refuses it.
_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_NTRY_OPEN = re.compile(rb"<(?:[\w.-]+:)?Ntry[\s>]")
_NTRY_CLOSE = re.compile(rb"</(?:[\w.-]+:)?Ntry\s*>")
_NTRY_NAME = re.compile(rb"Ntry[\s>]")

_DOC_TYPES = {"CINV": "invoice", "CREN": "credit_memo", "CMCN": "invoice", "DEBN": "invoice", "SOAC": "other",
              "PUOR": "purchase_order"}


def _channel(domain: str, family: str, sub: str) -> str:
    if family in ("RDDT", "IDDT") or sub in ("ESDD", "BBDD", "PMDD", "OODD"):
        return "direct_debit"
    if family in ("CCRD", "MCRD") or sub in ("POSD", "CWDL", "POSC"):
        return "card"
    if family == "LBOX":
        return "lockbox"
    if family in ("RCHQ", "ICHQ", "CHK") or sub in ("CCHQ", "BCHQ", "URCQ"):
        return "check"
    if family in ("RCDT", "ICDT"):
        # SEPA and automated clearing transfers are batch clearing (ACH-like); the rest are wires.
        if sub in ("ESCT", "ACDT", "SALA", "AUTT", "VCOM", "STDO", "ATXN", "DMCT") and sub != "DMCT":
            return "ach"
        return "wire"
    return "other"


class _Reader:
    """Namespace-agnostic element access with the path of each element kept for error messages."""

    def __init__(self, ns: str):
        self.ns = ns
        self._paths: dict[str, tuple[str, ...]] = {}
        self._texts: dict[str, tuple[tuple[str, ...], str]] = {}

    def q(self, path: str) -> tuple[str, ...]:
        hit = self._paths.get(path)
        if hit is None:
            hit = tuple(f"{{{self.ns}}}{p}" if self.ns else p for p in path.split("/"))
            self._paths[path] = hit
        return hit

    def find(self, el, path: str):
        # Chained single-tag finds stay in C; ElementPath's multi-step search costs several times more.
        for tag in self._paths.get(path) or self.q(path):
            el = el.find(tag)
            if el is None:
                return None
        return el

    def findall(self, el, path: str):
        *head, last = self.q(path)
        for tag in head:
            el = el.find(tag)
            if el is None:
                return []
        return el.findall(last)

    def text(self, el, path: str) -> str:
        # The hottest call of a big statement (about 20 per entry): the walk is inlined rather than going
        # through find(), which alone cost a second per 100k entries, and the last step is findtext (in C).
        split = self._texts.get(path)
        if split is None:
            tags = self.q(path)
            split = self._texts[path] = (tags[:-1], tags[-1])
        head, last = split
        for tag in head:
            el = el.find(tag)
            if el is None:
                return ""
        text = el.findtext(last)
        return text.strip() if text else ""


def parse(data: bytes, warnings: list[str]) -> list[Statement]:
    statements: list[Statement] = []
    entries: list[Entry] = []
    for item in iter_parse(data, warnings):
        if isinstance(item, Statement):
            if statements:
                statements[-1] = replace(statements[-1], entries=tuple(entries),
                                         currency=statements[-1].currency or (entries[0].currency if entries else ""))
            statements.append(item)
            entries = []
        else:
            entries.extend(item)
    statements[-1] = replace(statements[-1], entries=tuple(entries),
                             currency=statements[-1].currency or (entries[0].currency if entries else ""))
    return statements


def iter_parse(data: bytes, warnings: list[str], chunk_size: int = 5000) -> Iterator[Statement | list[Entry]]:
    """The file as it is read: each statement (without entries; currency "" when only its entries name one, and
    then the first entry's currency is the statement's), followed by its entries in lists of up to chunk_size.
    The import stores each list while the next is read; a refusal can come after lists were yielded."""
    try:
        root = defused_fromstring(data, forbid_dtd=True) if _DTD.search(data) else ET.fromstring(data)  # noqa: S314
    except DefusedXmlException as exc:
        raise BankFileError(f"XML with a DTD or entity declarations is refused ({type(exc).__name__})") from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise BankFileError(f"XML is not well-formed ({exc.msg if hasattr(exc, 'msg') else exc}), column {column}",
                            line=line) from None
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    r = _Reader(ns)
    local = root.tag.rsplit("}", 1)[-1]
    message = root if local in _ROOTS else None
    if message is None:
        for child in root:
            if child.tag.rsplit("}", 1)[-1] in _ROOTS:
                message = child
                break
    if message is None:
        raise BankFileError("no BkToCstmrStmt, BkToCstmrAcctRpt or BkToCstmrDbtCdtNtfctn element", element=local)
    msg_name = message.tag.rsplit("}", 1)[-1]
    stmt_tag = _ROOTS[msg_name]

    raw_entries = _raw_entries(data)
    ntry_no = 0
    seen = False
    skipped = 0
    for s_idx, stmt in enumerate(r.findall(message, stmt_tag), start=1):
        spath = f"{msg_name}/{stmt_tag}[{s_idx}]"
        statement_id = r.text(stmt, "Id")
        if not statement_id:
            raise BankFileError("missing Id", element=spath)
        account = r.text(stmt, "Acct/Id/IBAN") or r.text(stmt, "Acct/Id/Othr/Id")
        if not account:
            raise BankFileError("missing account (Acct/Id/IBAN or Acct/Id/Othr/Id)", element=f"{spath}/Acct")
        currency = r.text(stmt, "Acct/Ccy")
        created = r.text(stmt, "CreDtTm") or r.text(stmt, "FrToDt/ToDtTm")
        as_of = parse_date(created, "ISO", what="statement date", element=f"{spath}/CreDtTm") if created else None
        opening = closing = None
        for b_idx, bal in enumerate(r.findall(stmt, "Bal"), start=1):
            code = r.text(bal, "Tp/CdOrPrtry/Cd")
            if code not in ("OPBD", "PRCD", "CLBD"):
                continue
            amount, ccy = _amount(r, bal, "Amt", f"{spath}/Bal[{b_idx}]")
            currency = currency or ccy
            if r.text(bal, "CdtDbtInd") == "DBIT":
                amount = -amount
            if code == "CLBD":
                closing = amount
            elif code == "OPBD" or opening is None:
                opening = amount
        seen = True
        yield Statement(statement_id=statement_id, account=account, currency=currency, as_of=as_of, entries=(),
                        opening_balance=opening, closing_balance=closing)
        entries: list[Entry] = []
        for n_idx, ntry in enumerate(r.findall(stmt, "Ntry"), start=1):
            raw, line = raw_entries[ntry_no] if ntry_no < len(raw_entries) else ("", 0)
            ntry_no += 1
            npath = f"{spath}/Ntry[{n_idx}]"
            status = r.text(ntry, "Sts/Cd") or r.text(ntry, "Sts")
            if status and status != "BOOK":
                skipped += 1
                continue
            entries.extend(_entry(r, ntry, npath, statement_id, n_idx, raw, line, warnings, as_of))
            if len(entries) >= chunk_size:
                yield entries
                entries = []
        if entries:
            yield entries
    if not seen:
        raise BankFileError(f"no {stmt_tag} element", element=msg_name)
    if skipped:
        warnings.append(f"{skipped} entries not booked (pending or information only) were skipped")


def _raw_entries(data: bytes) -> list[tuple[str, int]]:
    """Each Ntry's source text and line, in document order (Ntry elements never nest).

    The tag patterns are tried only where "Ntry" followed by a space or ">" occurs (a literal the regex engine
    finds fast), from the "<" before it: trying them at every "<" of a 68 MB statement took 0.7 s."""
    opens, closes = [], []
    rfind = data.rfind
    for m in _NTRY_NAME.finditer(data):
        lt = rfind(b"<", 0, m.start())
        if lt < 0:
            continue
        tag = _NTRY_OPEN.match(data, lt)
        if tag is not None and tag.end() == m.end():
            opens.append((lt, tag.end()))
            continue
        tag = _NTRY_CLOSE.match(data, lt)
        if tag is not None:
            closes.append((lt, tag.end()))
    out = []
    line = 1
    pos = 0
    c = 0
    for start, end in opens:
        while c < len(closes) and closes[c][0] < end:
            c += 1
        if c == len(closes):
            break
        line += data.count(b"\n", pos, start)
        pos = start
        out.append((data[start:closes[c][1]].decode("utf-8", "replace"), line))
    return out


def _amount(r: _Reader, el, path: str, where: str) -> tuple[Decimal, str]:
    amt = r.find(el, path)
    if amt is None:
        raise BankFileError("missing", element=f"{where}/{path}")
    ccy = amt.get("Ccy", "")
    if not ccy:
        raise BankFileError("missing Ccy", element=f"{where}/{path}")
    value = decimal_amount(amt.text or "", what="amount", element=f"{where}/{path}")
    if value < 0:
        raise BankFileError(f"amount {amt.text!r} is negative (the sign belongs in CdtDbtInd)",
                            element=f"{where}/{path}")
    return value, ccy


def _date(r: _Reader, el, path: str, where: str):
    found = r.find(el, path)
    if found is None:
        return None
    text = r.text(found, "Dt") or r.text(found, "DtTm")
    if not text:
        return None
    return parse_date(text, "ISO", what="date", element=f"{where}/{path}")


def _direction(indicator: str, where: str) -> str:
    if indicator == "CRDT":
        return CREDIT
    if indicator == "DBIT":
        return DEBIT
    raise BankFileError(f"CdtDbtInd {indicator!r} is neither CRDT nor DBIT", element=f"{where}/CdtDbtInd")


_PARTY_PATHS = {role: (f"{role}/Nm", f"{role}/Pty/Nm", f"Ultmt{role}/Nm", f"Ultmt{role}/Pty/Nm",
                        f"{role}Acct/Id/IBAN", f"{role}Acct/Id/Othr/Id") for role in ("Dbtr", "Cdtr")}


def _party(r: _Reader, tx, role: str) -> tuple[str, str]:
    # Every path starts at RltdPties: found once rather than once per path (six walks per entry).
    parties = r.find(tx, "RltdPties")
    if parties is None:
        return "", ""
    nm, pty_nm, ultmt_nm, ultmt_pty_nm, iban, othr = _PARTY_PATHS[role]
    name = (r.text(parties, nm) or r.text(parties, pty_nm) or r.text(parties, ultmt_nm)
            or r.text(parties, ultmt_pty_nm))
    account = r.text(parties, iban) or r.text(parties, othr)
    return name, account


def _remittance(r: _Reader, tx, where: str) -> tuple[list[RemittanceItem], list[str]]:
    items: list[RemittanceItem] = []
    texts = [u.text.strip() for u in r.findall(tx, "RmtInf/Ustrd") if u.text and u.text.strip()]
    for s_idx, strd in enumerate(r.findall(tx, "RmtInf/Strd"), start=1):
        spath = f"{where}/RmtInf/Strd[{s_idx}]"
        extra = " ".join(a.text.strip() for a in r.findall(strd, "AddtlRmtInf") if a.text and a.text.strip())
        docs = r.findall(strd, "RfrdDocInf")
        ref = r.text(strd, "CdtrRefInf/Ref")
        amounts = r.find(strd, "RfrdDocAmt")
        paid = gross = discount = adjustment = None
        reason = ""
        if amounts is not None:
            paid = _opt_amount(r, amounts, "RmtdAmt", spath)
            gross = _opt_amount(r, amounts, "DuePyblAmt", spath)
            discount = _opt_amount(r, amounts, "DscntApldAmt", spath) or _opt_amount(r, amounts, "DscntApldAmt/Amt",
                                                                                     spath)
            adj = r.find(amounts, "AdjstmntAmtAndRsn")
            if adj is not None:
                adjustment = _opt_amount(r, adj, "Amt", spath)
                reason = r.text(adj, "Rsn") or r.text(adj, "AddtlInf")
        if docs:
            for d in docs:
                number = r.text(d, "Nb")
                if not number:
                    continue
                code = r.text(d, "Tp/CdOrPrtry/Cd")
                items.append(RemittanceItem(
                    reference=number, reference_type=_DOC_TYPES.get(code, "invoice"),
                    amount_paid=paid, gross_amount=gross, discount=discount, adjustment=adjustment,
                    adjustment_reason=reason, text=extra,
                ))
                # Amounts belong to the document group; with several documents only the first may claim them.
                paid = gross = discount = adjustment = None
                reason = ""
        elif ref:
            items.append(RemittanceItem(reference=ref, reference_type="creditor_reference", amount_paid=paid,
                                        gross_amount=gross, discount=discount, adjustment=adjustment,
                                        adjustment_reason=reason, text=extra))
        elif extra:
            texts.append(extra)
    return items, texts


def _opt_amount(r: _Reader, el, path: str, where: str) -> Decimal | None:
    found = r.find(el, path)
    if found is None or found.text is None or not found.text.strip():
        return None
    return decimal_amount(found.text, what="amount", element=f"{where}/{path}")


def _tx_amount(r: _Reader, tx, where: str) -> tuple[Decimal, str] | None:
    for path in ("AmtDtls/TxAmt/Amt", "Amt"):
        if r.find(tx, path) is not None:
            return _amount(r, tx, path, where)
    return None


def _entry(r: _Reader, ntry, where: str, statement_id: str, n_idx: int, raw: str, line: int,
           warnings: list[str], as_of) -> list[Entry]:
    amount, currency = _amount(r, ntry, "Amt", where)
    indicator = r.text(ntry, "CdtDbtInd")
    direction = _direction(indicator, where)
    reversal = r.text(ntry, "RvslInd").lower() == "true"
    value = _date(r, ntry, "ValDt", where)
    # Notifications often carry only one of the two dates; the statement's own date is the last resort.
    booking = _date(r, ntry, "BookgDt", where) or value or as_of
    value = value or booking
    reference = r.text(ntry, "AcctSvcrRef") or r.text(ntry, "NtryRef") or f"{statement_id}/{n_idx}"
    codes = ("", "", "")
    domain = r.find(ntry, "BkTxCd/Domn")
    if domain is not None:
        codes = (r.text(domain, "Cd"), r.text(domain, "Fmly/Cd"), r.text(domain, "Fmly/SubFmlyCd"))
    channel = _channel(*codes)
    bank_code = "/".join(filter(None, codes)) or r.text(ntry, "BkTxCd/Prtry/Cd")
    addtl = r.text(ntry, "AddtlNtryInf")
    source = f"{where} (line {line})" if line else where
    txs = []
    for d_idx, details in enumerate(r.findall(ntry, "NtryDtls"), start=1):
        for t_idx, tx in enumerate(r.findall(details, "TxDtls"), start=1):
            txs.append((f"{where}/NtryDtls[{d_idx}]/TxDtls[{t_idx}]", tx))

    def details(tx, tpath, tx_direction):
        role = "Dbtr" if tx_direction == CREDIT else "Cdtr"
        name, account = _party(r, tx, role)
        items, texts = _remittance(r, tx, tpath)
        e2e = r.text(tx, "Refs/EndToEndId")
        if e2e.upper() == "NOTPROVIDED":
            e2e = ""
        return name, account, e2e or r.text(tx, "Refs/UETR"), items, texts

    base = dict(currency=currency, value_date=value, booking_date=booking, channel=channel, bank_code=bank_code,
                raw=raw, reversal=reversal)
    split = len(txs) > 1 and all(_tx_amount(r, tx, p) is not None for p, tx in txs)
    if split:
        out = []
        total = Decimal(0)
        for i, (tpath, tx) in enumerate(txs, start=1):
            tx_amount, tx_ccy = _tx_amount(r, tx, tpath)
            tx_ind = r.text(tx, "CdtDbtInd")
            tx_direction = _direction(tx_ind, tpath) if tx_ind else direction
            total += tx_amount if tx_direction == direction else -tx_amount
            name, account, e2e, items, texts = details(tx, tpath, tx_direction)
            out.append(Entry(
                bank_reference=r.text(tx, "Refs/AcctSvcrRef") or f"{reference}/{i}",
                amount=tx_amount, direction=tx_direction, payer_name=name, payer_account=account,
                end_to_end_id=e2e, remittance=tuple(items), unstructured=" ".join(texts),
                source_line=f"{tpath} (line {line})" if line else tpath,
                **{**base, "currency": tx_ccy},
            ))
        if total != amount:
            warnings.append(f"element {where}: batch booking of {amount} {currency} but its TxDtls add up to {total}")
        return out
    names, accounts, e2es, items, texts = [], [], [], [], []
    for tpath, tx in txs:
        name, account, e2e, tx_items, tx_texts = details(tx, tpath, direction)
        names.append(name)
        accounts.append(account)
        e2es.append(e2e)
        items.extend(tx_items)
        texts.extend(tx_texts)
    if not texts and addtl and not items:
        texts.append(addtl)
    one = len(txs) == 1
    return [Entry(
        bank_reference=reference,
        amount=amount,
        direction=direction,
        payer_name=names[0] if one or len(set(names)) == 1 and names else "",
        payer_account=accounts[0] if one or len(set(accounts)) == 1 and accounts else "",
        end_to_end_id=e2es[0] if one else "",
        remittance=tuple(items),
        unstructured=" ".join(texts),
        source_line=source,
        **base,
    )]
