"""Helpers for the cash-application tests: bank files built in memory and imported through the real
import service, so payments reach cash application exactly as in production."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

from django.db import connections

from cashapp.models import CashAppSettings, Suggestion
from o2c.tenancy import tenant_context
from payments.models import Payment
from payments.services import bank_file_import
from tests.factories import InvoiceFactory

_statement_ids = itertools.count(1)


@dataclass
class Credit:
    reference: str  # the bank's AcctSvcrRef: the payment_reference of the export
    amount: Decimal | str
    payer: str = ""
    text: str = ""  # unstructured remittance
    invoices: tuple = ()  # structured remittance: (number, amount) pairs
    payer_iban: str = ""
    date: str = "2025-11-03"


def camt053(credits, *, statement_id: str | None = None, account: str = "DE89370400440532013000",
            currency: str = "USD") -> bytes:
    statement_id = statement_id or f"STMT-{next(_statement_ids)}"
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>',
             f"<GrpHdr><MsgId>{statement_id}</MsgId><CreDtTm>2025-11-03T06:00:00</CreDtTm></GrpHdr>",
             f"<Stmt><Id>{statement_id}</Id><CreDtTm>2025-11-03T06:00:00</CreDtTm>",
             f"<Acct><Id><IBAN>{account}</IBAN></Id><Ccy>{currency}</Ccy></Acct>"]
    for c in credits:
        amount = f"{Decimal(c.amount):.2f}"
        remittance = f"<Ustrd>{escape(c.text)}</Ustrd>" if c.text else ""
        for number, paid in c.invoices:
            remittance += (f"<Strd><RfrdDocInf><Nb>{escape(number)}</Nb></RfrdDocInf><RfrdDocAmt>"
                           f"<RmtdAmt Ccy=\"{currency}\">{Decimal(paid):.2f}</RmtdAmt></RfrdDocAmt></Strd>")
        debtor_account = f"<DbtrAcct><Id><IBAN>{c.payer_iban}</IBAN></Id></DbtrAcct>" if c.payer_iban else ""
        parts.append(
            f"<Ntry><Amt Ccy=\"{currency}\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            f"<BookgDt><Dt>{c.date}</Dt></BookgDt><ValDt><Dt>{c.date}</Dt></ValDt>"
            f"<AcctSvcrRef>{escape(c.reference)}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd>"
            "<SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls>"
            f"<Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs><RltdPties><Dbtr><Pty><Nm>{escape(c.payer)}</Nm>"
            f"</Pty></Dbtr>{debtor_account}</RltdPties>"
            + (f"<RmtInf>{remittance}</RmtInf>" if remittance else "")
            + "</TxDtls></NtryDtls></Ntry>")
    parts.append("</Stmt></BkToCstmrStmt></Document>")
    return "".join(parts).encode()


def import_credits(credits, **kwargs):
    """Import credits as one camt.053 statement in the current tenant; returns the BankFile."""
    data = camt053(credits, **kwargs)
    return bank_file_import(data=data, file_name="statement.xml")


def ledger_with_one_suggestion(tenant, *, explanation: str = "amount equal; payer name similar"):
    """Invoice INV-7 of 100.00, payment V1 of 100.00 from an unknown payer, and one pending suggestion between them
    (no matching run after the import: the suggestion is the only decision)."""
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
        invoice = InvoiceFactory(amount=Decimal("100.00"), number="INV-7")
        import_credits([Credit("V1", "100.00", payer="Someone")])
        payment = Payment.objects.get()
        suggestion = Suggestion.objects.create(
            payment=payment, rank=1, confidence=Decimal("0.7"), explanation=explanation,
            allocations=[{"invoice_id": invoice.pk, "invoice_number": "INV-7", "applied": "100.00", "discount": "0",
                          "deduction": "0", "deduction_reason": "", "write_off": "0"}])
    return invoice, payment, suggestion


@contextmanager
def applications_refused_after(payment_id: int):
    """A real database failure while posting: the owner adds a trigger that refuses every application of a
    payment after `payment_id` ('disk full (simulated)'). The trigger looks at its own row only: on Citus it
    fires on a shard, where it may not query the distributed table, and Citus places it only when told to."""
    with connections["owner"].cursor() as cur:
        if connections["owner"].is_citus:
            cur.execute("SET citus.enable_unsafe_triggers TO on")
        cur.execute("CREATE FUNCTION refuse_later() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.payment_id > {int(payment_id)} THEN "
                    "RAISE EXCEPTION 'disk full (simulated)'; END IF; RETURN NEW; END $$")
        cur.execute("CREATE TRIGGER refuse_later BEFORE INSERT ON cashapp_application FOR EACH ROW "
                    "EXECUTE FUNCTION refuse_later()")
    try:
        yield
    finally:
        with connections["owner"].cursor() as cur:
            cur.execute("DROP TRIGGER refuse_later ON cashapp_application")
            cur.execute("DROP FUNCTION refuse_later()")
            if connections["owner"].is_citus:
                cur.execute("RESET citus.enable_unsafe_triggers")
