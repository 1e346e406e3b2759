"""Demo bank statement: a morning's payments against the demo ledger, covering what cash application
handles (exact and mistyped references, bundles, short pays with reasons, amount-only, overpayment,
strangers), imported through the real import so the matching run starts as it would in production."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from xml.sax.saxutils import escape


def demo_statement(invoices, customers_by_id, currency: str, today: date, seed: int) -> bytes:
    rng = random.Random(seed)  # noqa: S311 - demo data
    pool = [i for i in invoices if i.status == "open" and i.open_balance == i.amount]
    rng.shuffle(pool)
    credits = []

    def take(n=1):
        return [pool.pop() for _ in range(n)] if len(pool) >= n else []

    def payer(inv):
        return customers_by_id[inv.customer_id].name.upper()

    for inv in take(12):  # structured remittance, exact
        credits.append((inv.amount, payer(inv), "", [(inv.number, inv.amount)]))
    for inv in take(4):  # typed by hand: no prefix, no leading zeros
        digits = inv.number.rsplit("-", 1)[-1].lstrip("0")
        credits.append((inv.amount, payer(inv), f"payment inv {digits}", []))
    for inv, why in zip(take(3), ("2 cases damaged", "price difference per contract", "freight not agreed"),
                        strict=False):
        short = (inv.amount * Decimal("0.05")).quantize(Decimal("0.01"))
        credits.append((inv.amount - short, payer(inv), f"{inv.number} {why}", []))
    for _ in range(2):  # bundles named in the text
        pair = take(2)
        if pair:
            credits.append((pair[0].amount + pair[1].amount, payer(pair[0]),
                            f"invoices {pair[0].number} {pair[1].number}", []))
    for inv in take(2):  # no reference at all
        credits.append((inv.amount, payer(inv), "thank you", []))
    for inv in take(1):
        credits.append((inv.amount + Decimal("125.00"), payer(inv), inv.number, []))
    for inv in take(2):  # a known payer, an amount nothing explains: the clerk decides
        credits.append((Decimal("100.00"), payer(inv), "on account", []))
    for inv in take(1):  # someone else's bank pays an invoice, short: suggested, not posted
        credits.append((inv.amount - Decimal("10.00"), "FIRST NATIONAL ESCROW", inv.number, []))
    credits.append((Decimal("480.00"), "NORTHWIND TRADERS", "transfer", []))
    credits.append((Decimal("1234.56"), "", "REF 77812", []))

    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>',
             f"<GrpHdr><MsgId>DEMO-{today:%Y%m%d}</MsgId><CreDtTm>{today}T06:00:00</CreDtTm></GrpHdr>",
             f"<Stmt><Id>DEMO-{seed}-{today:%Y%m%d}</Id><CreDtTm>{today}T06:00:00</CreDtTm>",
             f"<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>{currency}</Ccy></Acct>"]
    for n, (amount, name, text, lines) in enumerate(credits, start=1):
        rmt = (f"<Ustrd>{escape(text)}</Ustrd>" if text else "") + "".join(
            f"<Strd><RfrdDocInf><Nb>{escape(number)}</Nb></RfrdDocInf><RfrdDocAmt><RmtdAmt Ccy=\"{currency}\">"
            f"{paid:.2f}</RmtdAmt></RfrdDocAmt></Strd>" for number, paid in lines)
        parts.append(
            f"<Ntry><Amt Ccy=\"{currency}\">{amount:.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            f"<BookgDt><Dt>{today}</Dt></BookgDt><ValDt><Dt>{today}</Dt></ValDt>"
            f"<AcctSvcrRef>DEMO-{seed}-{today:%Y%m%d}-{n:03d}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly>"
            "<Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls>"
            f"<RltdPties><Dbtr><Pty><Nm>{escape(name)}</Nm></Pty></Dbtr></RltdPties>"
            + (f"<RmtInf>{rmt}</RmtInf>" if rmt else "") + "</TxDtls></NtryDtls></Ntry>")
    parts.append("</Stmt></BkToCstmrStmt></Document>")
    return "".join(parts).encode()


def demo_bank_statement(*, invoices, customers, currency: str, today: date, seed: int) -> dict[str, int]:
    """The demo seed's step for cash application: a morning's statement, imported for real (the import starts
    a matching run once the seed commits)."""
    from payments.services import bank_file_import

    statement = demo_statement(invoices, customers, currency, today, seed)
    bank_file = bank_file_import(data=statement, file_name=f"demo-statement-{today:%Y%m%d}.xml")
    return {"payments": bank_file.payments_created}
