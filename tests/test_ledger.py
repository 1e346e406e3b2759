"""The shared ledger: database check constraints, status rules, voiding, terms and money."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from o2c.errors import ApplicationError, ConflictError
from o2c.models import AuditEvent, Customer, Invoice
from o2c.models.ledger import InvoiceStatus, PaymentTerms
from o2c.money import fmt, parse_amount, quantize
from tests.factories import CreditMemoFactory, CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db


def _refused(constraint: str):
    """The database (not Python) refuses the write, naming the constraint."""
    return pytest.raises(IntegrityError, match=constraint)


def _update(invoice, **values):
    # A queryset update skips model validation and the FSM: only the database's checks remain.
    with transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(**values)


@pytest.fixture
def invoice(in_tenant):
    return InvoiceFactory(amount=Decimal("100.00"))


def test_factory_invoice_is_valid(invoice):
    invoice.refresh_from_db()
    assert invoice.open_balance == invoice.amount == Decimal("100.00")
    assert isinstance(invoice.amount, Decimal)
    assert invoice.due_date >= invoice.issue_date


def test_open_balance_below_zero_is_refused(invoice):
    with _refused("invoice_open_balance_not_negative"):
        _update(invoice, open_balance=Decimal("-0.01"))


def test_open_balance_above_amount_is_refused(invoice):
    with _refused("invoice_open_balance_within_amount"):
        _update(invoice, open_balance=Decimal("100.01"))


def test_negative_amount_is_refused(in_tenant):
    with _refused("invoice_amount_not_negative"), transaction.atomic():
        InvoiceFactory(amount=Decimal("-5"), open_balance=Decimal("0"))


def test_due_date_before_issue_date_is_refused(invoice):
    with _refused("invoice_due_after_issue"):
        _update(invoice, due_date=invoice.issue_date - timedelta(days=1))


def test_paid_means_zero_open_balance(invoice):
    with _refused("invoice_paid_means_zero_open"):
        _update(invoice, status=InvoiceStatus.PAID)
    _update(invoice, status=InvoiceStatus.PAID, open_balance=Decimal("0"))  # and this is fine


def test_discount_percent_range(invoice):
    with _refused("invoice_discount_percent_range"):
        _update(invoice, discount_percent=Decimal("100"))


def test_invoice_number_unique_per_tenant_but_not_across(tenant, other_tenant):
    from o2c.tenancy import tenant_context

    with tenant_context(tenant):
        InvoiceFactory(number="INV-1")
        with _refused("invoice_number_unique"), transaction.atomic():
            InvoiceFactory(number="INV-1")
    with tenant_context(other_tenant):
        InvoiceFactory(number="INV-1")  # another tenant may use the same number


def test_customer_constraints(in_tenant):
    customer = CustomerFactory(external_id="C-1")
    with _refused("customer_external_id_unique"), transaction.atomic():
        CustomerFactory(external_id="C-1")
    with _refused("customer_credit_limit_not_negative"), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(credit_limit=Decimal("-1"))
    with _refused("customer_not_own_parent"), transaction.atomic():
        Customer.objects.filter(pk=customer.pk).update(parent_id=customer.pk)


def test_credit_memo_constraints(in_tenant):
    with _refused("credit_memo_amount_positive"), transaction.atomic():
        CreditMemoFactory(amount=Decimal("0"), open_balance=Decimal("0"))
    with _refused("credit_memo_open_balance_range"), transaction.atomic():
        CreditMemoFactory(amount=Decimal("10"), open_balance=Decimal("11"))


# --- status rules ------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, balance, invoice, payment", [
    ("100.00", "100.00", "open", "unapplied"),
    ("100.00", "40.00", "partially_paid", "partially_applied"),
    ("100.00", "0.00", "paid", "applied"),
    ("0.00", "0.00", "paid", "applied"),
])
def test_status_follows_from_the_balance_in_python_and_sql(amount, balance, invoice, payment):
    from django.db import connection

    from o2c.ledger.status import invoice_status, invoice_status_sql, payment_status, payment_status_sql

    assert invoice_status(Decimal(amount), Decimal(balance)) == invoice
    assert payment_status(Decimal(amount), Decimal(balance)) == payment
    with connection.cursor() as cursor:  # the generated CASE says the same as the Python rule
        cursor.execute(f"SELECT {invoice_status_sql('%s::numeric', '%s::numeric')}, "
                       f"{payment_status_sql('%s::numeric', '%s::numeric')}", [balance, balance, amount] * 2)
        assert cursor.fetchone() == (invoice, payment)


def test_void_needs_an_untouched_invoice(invoice):
    from o2c.services.invoices import invoice_void

    _update(invoice, open_balance=Decimal("40.00"), status=InvoiceStatus.PARTIALLY_PAID)
    with pytest.raises(ConflictError, match="is partially paid; only an untouched open invoice"):
        invoice_void(invoice=invoice)
    fresh = InvoiceFactory(amount=Decimal("50.00"))
    invoice_void(invoice=fresh)
    fresh.refresh_from_db()
    assert fresh.status == InvoiceStatus.VOID and fresh.open_balance == Decimal("0")
    assert AuditEvent.objects.get(action="invoice.voided").object_id == fresh.pk
    with pytest.raises(ConflictError, match="is void"):
        invoice_void(invoice=fresh)


# --- payment terms -----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("2/10 net 30", PaymentTerms(30, Decimal("2"), 10)),
    ("2% 10 Net 30", None),  # unusual spacing without the slash is not accepted
    ("1.5/15 net 45", PaymentTerms(45, Decimal("1.5"), 15)),
    ("net 45", PaymentTerms(45)),
    ("Net30", PaymentTerms(30)),
    ("n/30", PaymentTerms(30)),
    ("2/10, net 30", PaymentTerms(30, Decimal("2"), 10)),
])
def test_payment_terms_parse(text, expected):
    if expected is None:
        with pytest.raises(ValueError):
            PaymentTerms.parse(text)
    else:
        assert PaymentTerms.parse(text) == expected


@pytest.mark.parametrize("text", ["", "garbage", "net", "2/10", "net thirty", "30 net"])
def test_payment_terms_garbage_is_an_error(text):
    with pytest.raises(ValueError, match="payment terms"):
        PaymentTerms.parse(text)


def test_payment_terms_round_trip():
    assert str(PaymentTerms.parse("2/10 net 30")) == "2/10 net 30"
    assert str(PaymentTerms.parse("net 45")) == "net 45"


# --- money -------------------------------------------------------------------------------------

def test_quantize_rounds_half_even_to_the_currency():
    assert quantize(Decimal("1.005"), "USD") == Decimal("1.00")
    assert quantize(Decimal("1.015"), "USD") == Decimal("1.02")
    assert quantize(Decimal("1234.5"), "JPY") == Decimal("1234")
    assert quantize(Decimal("1.2345"), "KWD") == Decimal("1.234")


def test_parse_amount_is_exact_and_refuses_extra_decimals():
    assert parse_amount("1,234.50", "USD") == Decimal("1234.50")
    assert parse_amount("100", "JPY") == Decimal("100")
    for bad, currency in (("1.005", "USD"), ("10.5", "JPY"), ("abc", "USD"), ("NaN", "USD"), ("inf", "USD"),
                          ("1e20", "USD")):
        with pytest.raises(ApplicationError):
            parse_amount(bad, currency)


def test_money_is_decimal_end_to_end(in_tenant):
    invoice = InvoiceFactory(amount=Decimal("0.10") + Decimal("0.20"))
    invoice.refresh_from_db()
    assert invoice.amount == Decimal("0.30")  # no binary float drift
    assert fmt(invoice.amount, "USD") == "0.30"
    assert fmt(Decimal("1234567.891"), "USD") == "1,234,567.89"
    assert fmt(None) == ""


def test_amounts_are_stored_without_rounding(in_tenant):
    invoice = InvoiceFactory(amount=Decimal("12345678901234.5678"), issue_date=date(2026, 1, 1),
                             due_date=date(2026, 1, 31))
    invoice.refresh_from_db()
    assert invoice.amount == Decimal("12345678901234.5678")
