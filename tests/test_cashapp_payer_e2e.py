"""Who paid, end to end: a bank file whose only trace of the payer is its name in the free text (BAI2 88 text,
MT940 :86:, camt Ustrd without a Dbtr), an amount and no reference. Imported through `bank_file_import` and
matched by a run, the payment must be posted to the named customer's invoice, although another customer has an
open invoice of the same amount (so the amount alone decides nothing)."""

from decimal import Decimal

import pytest

from cashapp.models import Application, CashAppSettings
from cashapp.services import matching_run_create, matching_run_execute
from o2c.tenancy import tenant_context
from payments.models import Payment
from payments.services import bank_file_import
from tests.factories import CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db(transaction=True)
AMOUNT = Decimal("4321.09")


def _bai2(text: str) -> bytes:
    lines = ["01,BANKUS33,O2C,251103,0600,7,,,2/", "02,O2C,BANKUS33,1,251103,,USD,2/",
             "03,1234567,USD,010,0,,,015,432109,,,/", "16,195,432109,Z,BR-BAI2,,INCOMING WIRE/",
             f"88,{text}", "49,432109,3/", "98,432109,1,5/", "99,432109,1,7/"]
    return "\n".join(lines).encode()


def _mt940(text: str) -> bytes:
    return (":20:STMT1\n:25:DE89370400440532013000\n:28C:1/1\n:60F:C251103USD0,00\n"
            ":61:2511031103C4321,09NTRFNONREF//BR-MT940\n"
            f":86:{text}\n:62F:C251103USD4321,09\n-\n").encode()


def _camt053(text: str) -> bytes:
    # No Dbtr at all: the name is only in the unstructured remittance.
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
            "<GrpHdr><MsgId>S1</MsgId><CreDtTm>2025-11-03T06:00:00</CreDtTm></GrpHdr>"
            "<Stmt><Id>S1</Id><CreDtTm>2025-11-03T06:00:00</CreDtTm>"
            "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>USD</Ccy></Acct>"
            '<Ntry><Amt Ccy="USD">4321.09</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>'
            "<BookgDt><Dt>2025-11-03</Dt></BookgDt><ValDt><Dt>2025-11-03</Dt></ValDt>"
            "<AcctSvcrRef>BR-CAMT</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd>"
            "<SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls>"
            "<Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
            f"<RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
            "</Stmt></BkToCstmrStmt></Document>").encode()


@pytest.mark.parametrize(("build", "file_name", "text"), [
    (_bai2, "statement.bai", "PAYMENT FROM BLUEWATER LOGISTICS GMBH THANK YOU"),
    (_mt940, "statement.sta", "SEPA GUTSCHRIFT BLUEWATER LOGISTICS GMBH ZAHLUNG DANKE"),
    (_camt053, "statement.xml", "Zahlung Bluewater Logistics GmbH danke"),
])
def test_payer_named_only_in_the_free_text_is_identified_and_the_amount_posted(tenant, build, file_name, text):
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
        bluewater = CustomerFactory(name="Bluewater Logistics GmbH")
        theirs = InvoiceFactory(customer=bluewater, amount=AMOUNT)
        InvoiceFactory(customer=CustomerFactory(name="Harbor Grill LLC"), amount=AMOUNT)  # same amount, other payer
        bank_file_import(data=build(text), file_name=file_name)
        payment = Payment.objects.get()
        assert payment.payer_name == ""  # nothing in a subfield: the matcher had to read the text
        run = matching_run_create(trigger="manual")
    run = matching_run_execute(tenant_id=tenant.pk, run_id=run.pk)
    assert (run.auto_applied, run.suggested, run.unmatched) == (1, 0, 0)
    with tenant_context(tenant):
        app = Application.objects.get()
        assert (app.invoice_id, app.applied_amount, app.source) == (theirs.pk, AMOUNT, "auto")
        assert "customer's name found in the payment text" in app.explanation
        payment.refresh_from_db()
        assert (payment.customer_id, payment.status) == (bluewater.pk, "applied")
