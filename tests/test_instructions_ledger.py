"""o2c.ledger.adjustments on their own: balances, statuses, events, refusals that leave nothing behind."""

from decimal import Decimal

import pytest

from o2c.errors import ApplicationError, ConflictError
from o2c.ledger import adjustments
from o2c.ledger import events as ev
from o2c.models import AuditEvent, CreditMemo, Invoice
from tests.factories import CreditMemoFactory, CustomerFactory, InvoiceFactory

D = Decimal


def test_open_credit_memo_applied_in_parts_until_used_up(in_tenant):
    invoice = InvoiceFactory(amount=D("100.00"))
    issued = adjustments.credit_memo_issue(customer_id=invoice.customer_id, amount="60.00", currency="USD",
                                           actor=None)
    memo = issued.obj
    assert (memo.status, memo.open_balance) == ("open", D("60.00"))
    assert issued.events == [ev.CreditMemoIssued(memo.pk, invoice.customer_id, D("60.00"), "USD")]
    first = adjustments.credit_memo_apply(credit_memo_id=memo.pk, invoice_id=invoice.pk, amount="25.00", actor=None)
    memo.refresh_from_db()
    invoice.refresh_from_db()
    assert (memo.status, memo.open_balance, invoice.open_balance, invoice.status) == \
        ("open", D("35.00"), D("75.00"), "partially_paid")
    assert first.events == [ev.CreditMemoApplied(memo.pk, invoice.pk, invoice.customer_id, D("25.00"))]
    with pytest.raises(ConflictError, match="has 35.00 USD open; 40.00 cannot be applied"):
        adjustments.credit_memo_apply(credit_memo_id=memo.pk, invoice_id=invoice.pk, amount="40.00", actor=None)
    adjustments.credit_memo_apply(credit_memo_id=memo.pk, invoice_id=invoice.pk, actor=None)
    memo.refresh_from_db()
    assert (memo.status, memo.open_balance) == ("applied", 0)
    assert Invoice.objects.get(pk=invoice.pk).open_balance == D("40.00")


def test_credit_memo_of_another_customer_or_currency_is_refused(in_tenant):
    invoice = InvoiceFactory()
    stranger = CreditMemoFactory(customer=CustomerFactory())
    with pytest.raises(ApplicationError, match="different customers"):
        adjustments.credit_memo_apply(credit_memo_id=stranger.pk, invoice_id=invoice.pk, actor=None)
    euro = CreditMemoFactory(customer=invoice.customer, currency="EUR")
    with pytest.raises(ApplicationError, match="in USD, not EUR"):
        adjustments.credit_memo_apply(credit_memo_id=euro.pk, invoice_id=invoice.pk, actor=None)


def test_credit_memo_numbers_skip_numbers_an_erp_import_used(in_tenant):
    customer = CustomerFactory()
    CreditMemoFactory(customer=customer, number="CM-000001")
    memo = adjustments.credit_memo_issue(customer_id=customer.pk, amount="1", currency="USD", actor=None).obj
    assert memo.number == "CM-000002"


def test_write_off_needs_an_account_and_stays_within_the_open_balance(in_tenant):
    invoice = InvoiceFactory(amount=D("100.00"), open_balance=D("20.00"))
    with pytest.raises(ApplicationError, match="GL account"):
        adjustments.write_off_record(customer_id=invoice.customer_id, amount="5", currency="USD", account=" ",
                                     invoice_id=invoice.pk, reduce_open_balance=True, actor=None)
    with pytest.raises(ConflictError, match="cannot be written off"):
        adjustments.write_off_record(customer_id=invoice.customer_id, amount="20.01", currency="USD", account="6800",
                                     invoice_id=invoice.pk, reduce_open_balance=True, actor=None)
    done = adjustments.write_off_record(customer_id=invoice.customer_id, amount="20.00", currency="USD",
                                        account="6800", invoice_id=invoice.pk, reduce_open_balance=True, actor=None)
    assert [type(e) for e in done.events] == [ev.InvoiceWrittenOff, ev.InvoiceSettled]
    invoice.refresh_from_db()
    assert (invoice.open_balance, invoice.status) == (0, "paid")
    assert AuditEvent.objects.filter(object_type="invoice", object_id=invoice.pk,
                                     action="invoice.balance_adjusted").count() == 1


def test_rebill_without_an_original_and_unreadable_terms(in_tenant):
    customer = CustomerFactory(payment_terms="whenever")
    invoice = adjustments.invoice_rebill(customer_id=customer.pk, amount="10.00", currency="USD", actor=None).obj
    assert invoice.number == "RB-000001" and (invoice.due_date - invoice.issue_date).days == 30


def test_collection_restart_to_the_full_amount_reopens_the_invoice(in_tenant):
    invoice = InvoiceFactory(amount=D("50.00"), open_balance=D("0"))
    Invoice.objects.filter(pk=invoice.pk).update(status="paid")
    result = adjustments.invoice_collection_restart(invoice_id=invoice.pk, amount="50.00", actor=None)
    assert result.obj.status == "open" and result.obj.open_balance == D("50.00")
    assert result.events == [ev.InvoiceReopened(invoice.pk, invoice.customer_id)]
    assert not CreditMemo.objects.exists()
