"""The same payments as camt.053, camt.054, BAI2, MT940 and lockbox files, and the book as invoices.csv.

Plain string formatting only (100k payments in seconds). Each writer returns the bytes and the bank reference
the parser will give each payment, in payment order (lockbox derives its own; the others carry ours).
How each format carries the payer and the remittance follows the real files named in NOISE.md.
"""

from __future__ import annotations

import textwrap
from datetime import timedelta

from .generate import Book, Payment

CCY = "USD"
OWN_IBAN = "US64SVBKUS6S3300958879"


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _style(p: Payment, n: int) -> int:
    """A stable per-payment choice among n writing styles (the same payment is written the same way each run)."""
    return (p.seq * 2654435761) % 1000 * n // 1000


# --- invoices.csv -------------------------------------------------------------------------------

def invoices_csv(book: Book) -> bytes:
    out = ["invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,"
           "discount_percent,discount_due_date\n"]
    day = book.statement_day
    iso = {}  # days back -> ISO text; the book has only a few hundred distinct dates
    customers = book.customers
    names = [c.name if "," not in c.name and '"' not in c.name else '"' + c.name.replace('"', '""') + '"'
             for c in customers]

    def d(days: int) -> str:
        s = iso.get(days)
        if s is None:
            s = iso[days] = (day - timedelta(days=days)).isoformat()
        return s

    for i, number in enumerate(book.numbers):
        c = book.cust[i]
        back = book.issue[i]
        pct = book.disc_pct[i]
        disc = f"{pct // 100}.{pct % 100:02d},{d(back - book.disc_days[i])}" if pct else ","
        out.append(f"{number},{customers[c].external_id},{names[c]},{d(back)},{d(back - book.due_days[i])},"
                   f"{money(book.cents[i])},{CCY},{book.po[i]},{disc}\n")
    return "".join(out).encode()


# --- camt.053 / camt.054 ------------------------------------------------------------------------

def _ustrd(text: str) -> str:
    # Ustrd is at most 140 characters; longer remittance goes on in further Ustrd elements.
    return "".join(f"<Ustrd>{_xml(text[i:i + 140])}</Ustrd>" for i in range(0, len(text), 140))


def _strd(p: Payment) -> str:
    out = []
    for d in p.docs:
        amounts = []
        if d.gross:
            amounts.append(f'<DuePyblAmt Ccy="{CCY}">{money(d.gross)}</DuePyblAmt>')
        if d.discount:
            amounts.append(f'<DscntApldAmt Ccy="{CCY}">{money(d.discount)}</DscntApldAmt>')
        if d.adjustment:
            amounts.append(f'<AdjstmntAmtAndRsn><Amt Ccy="{CCY}">{money(d.adjustment)}</Amt>'
                           f"<AddtlInf>{_xml(d.reason)}</AddtlInf></AdjstmntAmtAndRsn>")
        amounts.append(f'<RmtdAmt Ccy="{CCY}">{money(d.paid)}</RmtdAmt>')
        out.append(f"<Strd><RfrdDocInf><Tp><CdOrPrtry><Cd>CINV</Cd></CdOrPrtry></Tp><Nb>{_xml(d.ref)}</Nb>"
                   f"</RfrdDocInf><RfrdDocAmt>{''.join(amounts)}</RfrdDocAmt></Strd>")
    return "".join(out)


def _camt_entry(p: Payment, day: str, v8: bool) -> str:
    name = _xml(p.payer_name[:140])
    party = f"<Dbtr><Pty><Nm>{name}</Nm></Pty></Dbtr>" if v8 else f"<Dbtr><Nm>{name}</Nm></Dbtr>"
    account = f"<DbtrAcct><Id><IBAN>{p.payer_account}</IBAN></Id></DbtrAcct>" if p.payer_account else ""
    if p.structured and p.docs:
        # Some banks pass the text along with the structured lines, most only the lines.
        rmt = (_ustrd(p.text) if _style(p, 3) == 0 and p.text else "") + _strd(p)
    else:
        rmt = _ustrd(p.text)
    rmt = f"<RmtInf>{rmt}</RmtInf>" if rmt else ""
    sts = "<Sts><Cd>BOOK</Cd></Sts>" if v8 else "<Sts>BOOK</Sts>"
    return (f'<Ntry><Amt Ccy="{CCY}">{money(p.amount)}</Amt><CdtDbtInd>CRDT</CdtDbtInd>{sts}'
            f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt><AcctSvcrRef>{p.bank_reference}"
            "</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>"
            f"</BkTxCd><NtryDtls><TxDtls><Refs><EndToEndId>{'NOTPROVIDED' if _style(p, 2) else 'E2E' + str(p.seq)}"
            f"</EndToEndId></Refs><RltdPties>{party}{account}</RltdPties>{rmt}</TxDtls></NtryDtls></Ntry>\n")


def camt(book: Book, payments: list[Payment], kind: str = "053") -> tuple[bytes, list[str]]:
    day = book.statement_day.isoformat()
    v8 = kind == "054"
    version = "054.001.08" if v8 else "053.001.02"
    total = sum(p.amount for p in payments)
    opening = 125_000_000
    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.{version}">'
            f"\n")
    acct = f"<Acct><Id><IBAN>{OWN_IBAN}</IBAN></Id><Ccy>{CCY}</Ccy></Acct>"
    if v8:
        head += (f"<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>NTF{day}</MsgId><CreDtTm>{day}T18:00:00</CreDtTm></GrpHdr>"
                 f"<Ntfctn><Id>NTF{day}-1</Id><CreDtTm>{day}T18:00:00</CreDtTm>{acct}\n")
        tail = "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n"
    else:
        def bal(code: str, cents: int) -> str:
            return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"{CCY}\">{money(cents)}</Amt>"
                    f"<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>")
        head += (f"<BkToCstmrStmt><GrpHdr><MsgId>STM{day}</MsgId><CreDtTm>{day}T18:00:00</CreDtTm></GrpHdr>"
                 f"<Stmt><Id>STM{day}-1</Id><CreDtTm>{day}T18:00:00</CreDtTm>{acct}"
                 f"{bal('OPBD', opening)}{bal('CLBD', opening + total)}\n")
        tail = "</Stmt></BkToCstmrStmt></Document>\n"
    body = "".join(_camt_entry(p, day, v8) for p in payments)
    return (head + body + tail).encode(), [p.bank_reference for p in payments]


# --- BAI2 ---------------------------------------------------------------------------------------

def _bai_lines(p: Payment) -> list[str]:
    """The 88 continuation text: the payer only here, labelled as some banks do (OB:, DBNM:, ORG:) or not."""
    name = p.payer_name[:35]
    style = _style(p, 5)
    words = p.text
    lines = []
    if style == 4:  # unlabelled, as in nwb_example.bai2: transfer text with the name inside
        lines.append(f"ACH CREDIT CCD {name}")
        lines += textwrap.wrap(words, 76) if words else []
        return lines
    label, remit = [("OB:", "OBI:"), ("DBNM: ", "REMI: "), ("ORG:", "RMT:"), ("OB:", "OBI:")][style]
    lines.append(f"{label}{name}")
    if p.payer_account:
        lines.append(f"DACT: {p.payer_account}")
    lines += [remit + chunk for chunk in textwrap.wrap(words, 70)] if words else []
    return lines


def bai2(book: Book, payments: list[Payment]) -> tuple[bytes, list[str]]:
    d = book.statement_day.strftime("%y%m%d")
    recs = [f"01,SVBKUS6S,O2CTENANT,{d},1800,{d}01,80,,2/"]
    recs.append(f"02,O2CTENANT,SVBKUS6S,1,{d},1800,USD,2/")
    opening = 125_000_000
    total = sum(p.amount for p in payments)
    recs.append(f"03,3300958879,USD,010,{opening},,,015,{opening + total},,/")
    acct_start = len(recs) - 1
    for p in payments:
        code = (165, 195, 142, 165)[_style(p, 4)]
        e2e = f"E2E{p.seq}" if _style(p, 2) else ""
        recs.append(f"16,{code},{p.amount},0,{p.bank_reference},{e2e}/")
        recs += [f"88,{line}/" if line.endswith("/") else f"88,{line}" for line in _bai_lines(p)]
    acct_total = opening + opening + total + total
    recs.append(f"49,{acct_total},{len(recs) - acct_start + 1}/")
    recs.append(f"98,{acct_total},1,{len(recs)}/")
    recs.append(f"99,{acct_total},1,{len(recs) + 1}/")
    return ("\n".join(recs) + "\n").encode(), [p.bank_reference for p in payments]


# --- MT940 --------------------------------------------------------------------------------------

def _wrap65(text: str) -> list[str]:
    return [text[i:i + 65] for i in range(0, len(text), 65)] or [""]


def _mt86(p: Payment) -> list[str]:
    """:86: as real MT940 files write it: /KEY/ pairs (rabobank_mt940_structured.txt), German ?-subfields
    (sepa_mt9401.sta), or a name line and free text (abnamro.sta, ing.sta). Lines of at most 65 characters,
    the first two cut mid-word and rejoined by a reader, the free text cut between words."""
    style = _style(p, 3)
    if style == 0:
        flat = f"/ORDP//NAME/{p.payer_name[:70]}" + (f"/IBAN/{p.payer_account}" if p.payer_account else "") + \
               (f"/REMI/{p.text}" if p.text else "")
        lines = _wrap65(flat)
    elif style == 1:
        purpose = "SVWZ+" + (p.text or "SEPA GUTSCHRIFT")
        pieces = [purpose[i:i + 27] for i in range(0, min(len(purpose), 270), 27)]
        sub = "166?00SEPA-UEBERWEISUNG?109310" + "".join(f"?{20 + k}{s}" for k, s in enumerate(pieces))
        if p.payer_account:
            sub += f"?30SVBKUS6S?31{p.payer_account}"
        name = p.payer_name[:54]
        sub += f"?32{name[:27]}" + (f"?33{name[27:]}" if len(name) > 27 else "")
        lines = _wrap65(sub)
    else:
        head = f"{p.payer_account} {p.payer_name[:35]}".strip()
        lines = [head[:65]] + (textwrap.wrap(p.text, 65) if p.text else [])
    return lines[:6] if style != 0 else lines


def mt940(book: Book, payments: list[Payment]) -> tuple[bytes, list[str]]:
    d = book.statement_day.strftime("%y%m%d")
    md = d[2:]
    opening = 125_000_000
    total = sum(p.amount for p in payments)

    def amt(cents: int) -> str:
        return f"{cents // 100},{cents % 100:02d}"

    before = (book.statement_day - timedelta(1)).strftime("%y%m%d")
    out = [f":20:STMT{d}", ":25:3300958879 USD", ":28C:00061/001", f":60F:C{before}USD{amt(opening)}"]
    for p in payments:
        own = f"E2E{p.seq}"[:16] if _style(p, 2) else "NONREF"
        out.append(f":61:{d}{md}C{amt(p.amount)}NTRF{own}//{p.bank_reference}")
        lines = _mt86(p)
        out.append(":86:" + lines[0])
        out += lines[1:]
    out.append(f":62F:C{d}USD{amt(opening + total)}")
    out.append("-")
    return ("\r\n".join(out) + "\r\n").encode(), [p.bank_reference for p in payments]


# --- lockbox ------------------------------------------------------------------------------------

BATCH = 100
BOX_BATCHES = 20


def lockbox(book: Book, payments: list[Payment]) -> tuple[bytes, list[str]]:
    """BAI lockbox (the 104-column layout of test_lockbox.bai): checks in batches of 100, a lockbox per 2,000
    checks; coupons keyed one invoice number per overflow record; the payer's name cut at 30."""
    d = book.statement_day.strftime("%y%m%d")
    recs = [f"100O2CTENANTX0099999991{d}1800", f"2O2CTENANTX0099999991{d}"]
    refs = []
    for b0 in range(0, len(payments), BATCH * BOX_BATCHES):
        box = 22222 + b0 // (BATCH * BOX_BATCHES)
        recs.append(f"5000000{box:07d}{d}O2CTENANT0099999991")
        box_sum = box_n = 0
        chunk = payments[b0:b0 + BATCH * BOX_BATCHES]
        for k in range(0, len(chunk), BATCH):
            batch_no = k // BATCH + 1
            batch = chunk[k:k + BATCH]
            for item, p in enumerate(batch, start=1):
                routing, account = "021000021", f"{(p.seq * 7919) % 10**10:010d}"
                name = p.payer_name[:30].ljust(30)
                recs.append(f"6{batch_no:03d}{item:03d}{p.amount:010d}{routing}{account}"
                            f"{100000 + p.seq:010d}{d}{name}")
                docs = [doc.ref for doc in p.docs]
                for j, ref in enumerate(docs, start=1):
                    recs.append(f"4{batch_no:03d}{item:03d}6{j % 100:02d}{9 if j == len(docs) else 0}{ref[:30]}")
                refs.append(f"{box}/{d}/{batch_no:03d}/{item:03d}")
            s = sum(p.amount for p in batch)
            recs.append(f"7{batch_no:03d}000{box:07d}{d}{len(batch):03d}{s:010d}")
            box_sum += s
            box_n += len(batch)
        recs.append(f"8000000{box:07d}{d}{box_n:04d}{box_sum % 10**10:010d}")
    recs.append(f"9{len(recs) + 1:06d}")
    return ("\n".join(recs) + "\n").encode(), refs


WRITERS = {
    "camt053": lambda b, p: camt(b, p, "053"),
    "camt054": lambda b, p: camt(b, p, "054"),
    "bai2": bai2,
    "mt940": mt940,
    "lockbox": lockbox,
}
EXTENSIONS = {"camt053": "xml", "camt054": "xml", "bai2": "bai", "mt940": "sta", "lockbox": "lbx"}
