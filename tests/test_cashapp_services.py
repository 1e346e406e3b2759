"""The clerk's cash-application services, receipts and the export contract."""

import csv
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command

from cashapp.exports import HEADER, cash_application_export
from cashapp.models import Application, MatchOutcome, PaymentMatch, PaymentReceipt, Suggestion
from cashapp.services import (
    CashAppError,
    application_reverse,
    payment_apply,
    suggestion_accept,
    suggestion_reject,
)
from cashapp.services.runs import _eligible_payments
from o2c.models import AuditEvent, CustomerAlias, CustomerBankAccount
from payments.models import Payment
from tests.cashapp_support import Credit, import_credits
from tests.factories import CustomerContactFactory, CustomerFactory, InvoiceFactory

D = Decimal


@pytest.fixture
def clerk(tenant, member_factory):
    return member_factory(tenant)


def _suggest(payment, rank, allocations, confidence="0.700", explanation="amount equal; payer name similar"):
    return Suggestion.objects.create(payment=payment, rank=rank, customer_id=None, confidence=D(confidence),
                                     explanation=explanation, allocations=allocations)


def _alloc(invoice, applied, deduction="0", reason=""):
    return {"invoice_id": invoice.pk, "invoice_number": invoice.number, "applied": str(applied), "discount": "0",
            "deduction": str(deduction), "deduction_reason": reason, "write_off": "0"}


def test_accepting_a_suggestion_posts_it_and_learns_the_payer(in_tenant, clerk):
    customer = CustomerFactory(name="Acme Industrial Supply Inc")
    invoice = InvoiceFactory(customer=customer, amount=D("250.00"))
    other = InvoiceFactory(customer=customer, amount=D("250.00"))
    import_credits([Credit("R1", "250.00", payer="ACME IND SUPP", payer_iban="DE44500105175407324931")])
    payment = Payment.objects.get()
    first = _suggest(payment, 1, [_alloc(invoice, "250.00")])
    second = _suggest(payment, 2, [_alloc(other, "250.00")], confidence="0.650")

    [app] = suggestion_accept(suggestion=first, actor=clerk)

    assert (app.invoice_id, app.applied_amount, app.source, app.created_by) == (invoice.pk, D("250"), "confirmed",
                                                                                 clerk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.decided_by, second.status) == ("accepted", clerk, "superseded")
    assert PaymentMatch.objects.get(payment=payment).outcome == MatchOutcome.CONFIRMED
    alias = CustomerAlias.objects.get(customer=customer)
    assert (alias.alias, alias.source) == ("ACME IND SUPP", "learned")
    assert CustomerBankAccount.objects.get(customer=customer).account_identifier == "DE44500105175407324931"
    assert AuditEvent.objects.filter(action="application.posted", object_id=app.pk).exists()
    with pytest.raises(CashAppError, match="accepted already"):
        suggestion_accept(suggestion=first, actor=clerk)


def test_resplitting_a_suggestion_posts_the_clerks_amounts(in_tenant, clerk):
    customer = CustomerFactory()
    a = InvoiceFactory(customer=customer, amount=D("100.00"))
    b = InvoiceFactory(customer=customer, amount=D("100.00"))
    import_credits([Credit("R1", "180.00", text="2 cases damaged")])
    payment = Payment.objects.get()
    suggestion = _suggest(payment, 1, [_alloc(a, "100.00"), _alloc(b, "80.00")])

    apps = suggestion_accept(suggestion=suggestion, actor=clerk,
                             allocations=[_alloc(a, "100.00"), _alloc(b, "80.00", "20.00", "damaged")])

    assert [(x.applied_amount, x.deduction_amount, x.source) for x in apps] == [
        (D("100"), D("0"), "manual"), (D("80"), D("20"), "manual")]
    deduction = b.deductions.get()
    assert (deduction.reason, deduction.reason_text, deduction.amount) == ("damaged", "2 cases damaged", D("20"))
    assert PaymentMatch.objects.get(payment=payment).outcome == MatchOutcome.MANUAL


def test_a_refused_resplit_writes_nothing(in_tenant, clerk):
    invoice = InvoiceFactory(amount=D("100.00"))
    import_credits([Credit("R1", "50.00")])
    payment = Payment.objects.get()
    suggestion = _suggest(payment, 1, [_alloc(invoice, "50.00")])
    with pytest.raises(CashAppError, match="payment has 50.00 unapplied, 60.00 asked"):
        suggestion_accept(suggestion=suggestion, actor=clerk, allocations=[_alloc(invoice, "60.00")])
    with pytest.raises(CashAppError, match="malformed"):
        suggestion_accept(suggestion=suggestion, actor=clerk, allocations=[{"applied": "1"}])
    assert not Application.objects.exists()
    suggestion.refresh_from_db()
    assert suggestion.status == "pending"


def test_rejecting_every_suggestion_takes_the_payment_out_of_automatic_runs(in_tenant, clerk):
    invoice = InvoiceFactory(amount=D("100.00"))
    import_credits([Credit("R1", "100.00"), Credit("R2", "100.00")])
    payment = Payment.objects.get(bank_reference="R1")
    first, second = _suggest(payment, 1, [_alloc(invoice, "100.00")]), _suggest(payment, 2, [])
    suggestion_reject(suggestion=first, actor=clerk)
    assert not PaymentMatch.objects.filter(payment=payment).exists()
    suggestion_reject(suggestion=second, actor=clerk)
    assert PaymentMatch.objects.get(payment=payment).outcome == MatchOutcome.REJECTED
    assert list(_eligible_payments().values_list("bank_reference", flat=True)) == ["R2"]


def test_manual_application_and_reversal_by_service(in_tenant, clerk):
    invoice = InvoiceFactory(amount=D("100.00"))
    import_credits([Credit("R1", "100.00")])
    payment = Payment.objects.get()
    [app] = payment_apply(payment=payment, allocations=[_alloc(invoice, "100.00")], actor=clerk)
    [reversal] = application_reverse(application=app, actor=clerk, reason="wrong customer")
    assert (reversal.reverses_id, reversal.applied_amount, reversal.created_by) == (app.pk, D("-100"), clerk)
    assert "wrong customer" in reversal.explanation
    payment.refresh_from_db()
    assert payment.status == "unapplied"
    match = PaymentMatch.objects.get(payment=payment)
    assert match.outcome == MatchOutcome.REJECTED and "wrong customer" in match.explanation
    assert AuditEvent.objects.filter(action="application.reversed", object_id=app.pk, actor=clerk).exists()


def test_customer_gets_one_email_receipt_by_preference(in_tenant, clerk, django_capture_on_commit_callbacks):
    customer = CustomerFactory(name="Initech")
    CustomerContactFactory(customer=customer, email="ap@initech.test")
    CustomerContactFactory(customer=customer, email="sms-only@initech.test", preferred_channel="sms")
    CustomerContactFactory(customer=customer, email="no-receipts@initech.test", receives_remittance_receipts=False)
    invoice = InvoiceFactory(customer=customer, amount=D("100.00"), number="INV-77")
    import_credits([Credit("R1", "100.00")])
    payment = Payment.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        payment_apply(payment=payment, allocations=[_alloc(invoice, "100.00")], actor=clerk)
    assert [m.to for m in mail.outbox] == [["ap@initech.test"]]
    assert "INV-77: 100.00 USD" in mail.outbox[0].body and "R1" in mail.outbox[0].body
    from cashapp.receipts import payment_receipts_send

    assert payment_receipts_send([payment.pk]) == 0  # sent once, not again
    assert PaymentReceipt.objects.get().recipients == ["ap@initech.test"]


def _export() -> list[list[str]]:
    stream = io.StringIO()
    cash_application_export(stream)
    return list(csv.reader(io.StringIO(stream.getvalue())))


def test_export_contract(in_tenant, clerk, tenant, tmp_path):
    customer = CustomerFactory()
    a = InvoiceFactory(customer=customer, amount=D("100.00"), number="INV-A")
    b = InvoiceFactory(customer=customer, amount=D("200.00"), number="INV-B")
    c = InvoiceFactory(customer=customer, amount=D("50.00"), number="INV-C")
    import_credits([Credit("PAID", "250.00"), Credit("SUGG", "50.00"), Credit("NONE", "75.50"),
                    Credit("REVD", "40.00")])
    p = {x.bank_reference: x for x in Payment.objects.all()}
    payment_apply(payment=p["PAID"], allocations=[_alloc(a, "100.00"), _alloc(b, "140.00", "60.00", "pricing")],
                  actor=clerk)
    _suggest(p["SUGG"], 1, [_alloc(c, "45.00", "5.00", "shortage")])
    [app] = payment_apply(payment=p["REVD"], allocations=[_alloc(c, "40.00")], actor=clerk)
    application_reverse(application=app, actor=clerk)

    rows = _export()
    assert rows[0] == HEADER == ["payment_reference", "invoice_number", "applied_amount", "deduction_amount",
                                 "status"]
    assert rows[1:] == [
        ["PAID", "INV-A", "100.00", "0.00", "applied"],
        ["PAID", "INV-B", "140.00", "60.00", "applied"],
        ["PAID", "", "10.00", "0.00", "unapplied"],
        ["SUGG", "INV-C", "45.00", "5.00", "suggested"],
        ["SUGG", "", "5.00", "0.00", "unapplied"],
        ["NONE", "", "75.50", "0.00", "unapplied"],
        ["REVD", "", "40.00", "0.00", "unapplied"],
    ]
    out = tmp_path / "cash.csv"
    call_command("export_cash_application", tenant=tenant.slug, out=str(out))
    assert list(csv.reader(out.open())) == rows


def test_export_does_not_trust_a_suggestion_the_ledger_overtook(in_tenant, clerk):
    """A pending suggestion whose invoice another payment settled, or that spends more than its payment has
    left, is not exported: the cash shows as unapplied and a payment's rows sum to its amount."""
    customer = CustomerFactory()
    a = InvoiceFactory(customer=customer, amount=D("100.00"), number="INV-A")
    b = InvoiceFactory(customer=customer, amount=D("300.00"), number="INV-B")
    import_credits([Credit("LATE", "100.00"), Credit("FAST", "100.00"), Credit("PART", "300.00")])
    p = {x.bank_reference: x for x in Payment.objects.all()}
    _suggest(p["LATE"], 1, [_alloc(a, "100.00")])
    payment_apply(payment=p["FAST"], allocations=[_alloc(a, "100.00")], actor=clerk)  # INV-A settled under it
    payment_apply(payment=p["PART"], allocations=[_alloc(b, "200.00")], actor=clerk)
    _suggest(p["PART"], 1, [_alloc(b, "300.00")])  # written on a snapshot from before the clerk's application

    assert _export()[1:] == [
        ["LATE", "", "100.00", "0.00", "unapplied"],
        ["FAST", "INV-A", "100.00", "0.00", "applied"],
        ["PART", "INV-B", "200.00", "0.00", "applied"],
        ["PART", "", "100.00", "0.00", "unapplied"],
    ]
