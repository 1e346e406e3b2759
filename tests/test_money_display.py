"""Money as a person reads it: in the currency's minor unit everywhere (pages, receipts, stored text shown
again), from one ISO 4217 table."""

from __future__ import annotations

import re
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse

from cashapp.models import CashAppSettings, Suggestion
from cashapp.services import payment_apply
from o2c.models import Role
from o2c.money import ISO_4217, exponent, fmt, money_display, money_in_text
from o2c.tenancy import tenant_context
from payments.models import Payment
from payments.parsers._common import implied_amount, minor_units
from tests.cashapp_support import Credit, import_credits
from tests.factories import CustomerContactFactory, CustomerFactory, InvoiceFactory

FOUR_DECIMALS = re.compile(r"\d\.\d{4}\b")
ROOT = Path(__file__).resolve().parent.parent


# --- one table -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("currency, digits", [
    ("UGX", 0), ("BIF", 0), ("XPF", 0), ("JPY", 0), ("KRW", 0), ("CLP", 0), ("EUR", 2), ("USD", 2),
    ("KWD", 3), ("BHD", 3), ("JOD", 3), ("OMR", 3), ("TND", 3), ("IQD", 3), ("LYD", 3), ("CLF", 4)])
def test_one_iso_4217_table_for_parsers_and_money(currency, digits):
    assert exponent(currency) == digits
    assert minor_units(currency) == digits  # the bank-file parsers ask the same table
    assert implied_amount("150000", currency, what="amount") == D(150000).scaleb(-digits)


def test_no_second_minor_unit_table_in_the_code():
    """A currency table elsewhere would drift from ISO_4217 again (it did: UGX, BIF and XPF disagreed)."""
    listed = re.compile(r"[\"'](UGX|BIF|XPF|KWD|BHD)[\"']\s*:|\b(UGX|BIF|XPF)\b.*\b(UGX|BIF|XPF)\b")
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        if {"tests", "migrations", ".venv", "bench"} & set(path.relative_to(ROOT).parts) or path.name == "money.py":
            continue
        if listed.search(path.read_text(encoding="utf-8")):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
    assert all(isinstance(d, int) and 0 <= d <= 4 for d in ISO_4217.values())


# --- the helpers -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, currency, shown", [
    (D("1525.5000"), "EUR", "1,525.50 EUR"), (D("1525.0000"), "JPY", "1,525 JPY"),
    (D("1525.1250"), "KWD", "1,525.125 KWD"), ("0.0000", "USD", "0.00 USD"), (D("-10.5000"), "eur", "-10.50 EUR"),
    (None, "EUR", "")])
def test_money_display(amount, currency, shown):
    assert money_display(amount, currency) == shown


@pytest.mark.parametrize("text, currency, shown", [
    ("short by 10.0000: deduction (freight)", "EUR", "short by 10.00: deduction (freight)"),
    ("short by 10.0000: deduction (freight)", "JPY", "short by 10: deduction (freight)"),
    ("overpaid by 1.2500: left on account", "KWD", "overpaid by 1.250: left on account"),
    ("-1525.5000", "EUR", "-1525.50"),
    # lossless: digits beyond the minor unit stay as written, never rounded away
    ("short by 10.5000", "JPY", "short by 10.5000"), ("10.1234 asked", "EUR", "10.1234 asked"),
    # not amounts: parts of references and longer numbers
    ("invoice INV-2024.0001 found", "EUR", "invoice INV-2024.0001 found"), ("1.00005", "EUR", "1.00005"),
    ("ref A1.0000", "EUR", "ref A1.0000"),
    # unknown currency: left alone
    ("short by 10.0000", "", "short by 10.0000")])
def test_money_in_text(text, currency, shown):
    assert money_in_text(text, currency) == shown


def test_fmt_rounds_half_even_in_the_minor_unit():
    assert (fmt(D("0.125"), "EUR"), fmt(D("0.135"), "EUR"), fmt(D("2.5"), "JPY")) == ("0.12", "0.14", "2")


# --- pages and receipts ----------------------------------------------------------------------------------

AMOUNTS = {"EUR": ("1525.50", "1,525.50"), "JPY": ("1525", "1,525"), "KWD": ("1525.10", "1,525.100")}


def _ledger(tenant, currency, clerk):
    """A customer in `currency` with two invoices; one payment applied by a clerk (journal, audit, receipt),
    one waiting with a suggestion whose explanation was written with 4 decimals by an earlier matcher."""
    amount, _ = AMOUNTS[currency]
    with tenant_context(tenant):
        tenant.base_currency = currency
        tenant.save(update_fields=["base_currency"])
        CashAppSettings.objects.create(match_after_import=False)
        customer = CustomerFactory(name="Initech", currency=currency)
        CustomerContactFactory(customer=customer, email="ap@initech.test")
        paid = InvoiceFactory(customer=customer, currency=currency, amount=D(amount), number="INV-1")
        waiting = InvoiceFactory(customer=customer, currency=currency, amount=D(amount) + 10, number="INV-2")
        import_credits([Credit("P1", amount), Credit("P2", amount)], currency=currency)
        p1, p2 = Payment.objects.order_by("pk")
        p1.customer = customer
        p1.save(update_fields=["customer"])
        payment_apply(payment=p1, allocations=[{"invoice_id": paid.pk, "invoice_number": "INV-1",
                                                "applied": amount}], actor=clerk)
        stored = f"{D(amount) + 10:.4f}"
        Suggestion.objects.create(
            payment=p2, rank=1, confidence=D("0.7"), customer=customer,
            explanation=f"invoice INV-2 found; short by 10.0000: deduction (freight); open {stored}",
            allocations=[{"invoice_id": waiting.pk, "invoice_number": "INV-2", "applied": f"{D(amount):.4f}",
                          "discount": "0.0000", "deduction": "10.0000", "deduction_reason": "freight",
                          "write_off": "0"}])
    return customer, paid, waiting, p1, p2


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD"])
def test_no_page_shows_an_amount_with_four_decimals(tenant, member_factory, verified_client, currency,
                                                    django_capture_on_commit_callbacks):
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    with django_capture_on_commit_callbacks(execute=True):
        customer, paid, waiting, p1, p2 = _ledger(tenant, currency, admin)
    client = verified_client(admin)
    pages = {
        "queue": reverse("cashapp:index"), "unapplied": reverse("cashapp:unapplied"),
        "applied payment": reverse("cashapp:payment", args=[p1.pk]),
        "waiting payment": reverse("cashapp:payment", args=[p2.pk]),
        "invoice": reverse("invoice_detail", args=[paid.pk]),
        "customer": reverse("customer_detail", args=[customer.pk]),
        "customers": reverse("customer_list"), "invoices": reverse("invoice_list"),
        "payments": reverse("payments:index"), "dashboard": reverse("dashboard"),
        "allocation row": reverse("cashapp:allocation_row") + f"?invoice={waiting.pk}",
        "invoice search": reverse("cashapp:invoice_search") + "?q=INV-",
    }
    _, shown = AMOUNTS[currency]
    for name, url in pages.items():
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, name
        html = re.sub(r'<pre class="raw">.*?</pre>', "", html, flags=re.S)  # the bank's own text, as sent
        assert FOUR_DECIMALS.findall(html) == [], f"{name} shows {FOUR_DECIMALS.findall(html)}"
    queue = client.get(pages["queue"]).content.decode()
    assert "short by 10" + {"EUR": ".00", "JPY": "", "KWD": ".000"}[currency] + ": deduction (freight)" in queue
    assert f"{shown} {currency}" in client.get(pages["applied payment"]).content.decode()
    # the stored explanation is history and is not rewritten
    with tenant_context(tenant):
        assert "short by 10.0000" in Suggestion.objects.get().explanation


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD"])
def test_the_receipt_email_reads_the_minor_unit(tenant, member_factory, currency, django_capture_on_commit_callbacks):
    clerk = member_factory(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        _ledger(tenant, currency, clerk)
    _, shown = AMOUNTS[currency]
    [receipt] = mail.outbox
    assert receipt.subject == f"Payment received: {shown} {currency}"
    assert f"INV-1: {shown} {currency}" in receipt.body
    zero = {"EUR": "0.00", "JPY": "0", "KWD": "0.000"}[currency]
    assert f"Unapplied: {zero} {currency}" in receipt.body
    assert FOUR_DECIMALS.findall(receipt.subject + receipt.body) == []


def test_a_refused_posting_names_the_asked_amount_in_the_minor_unit(in_tenant, member_factory, tenant):
    """A suggestion stores its amounts at storage precision; the refusal a clerk reads does not."""
    from cashapp.services import suggestion_accept
    from o2c.errors import ApplicationError

    CashAppSettings.objects.create(match_after_import=False)
    invoice = InvoiceFactory(amount=D("200.00"), number="INV-9")
    import_credits([Credit("P9", "100.00")])
    suggestion = Suggestion.objects.create(
        payment=Payment.objects.get(), rank=1, confidence=D("0.7"), explanation="x",
        allocations=[{"invoice_id": invoice.pk, "invoice_number": "INV-9", "applied": "150.0000",
                      "discount": "0", "deduction": "0", "deduction_reason": "", "write_off": "0"}])
    with pytest.raises(ApplicationError) as refused:
        suggestion_accept(suggestion=suggestion, actor=member_factory(tenant))
    assert refused.value.message.endswith("payment has 100.00 unapplied, 150.00 asked")
