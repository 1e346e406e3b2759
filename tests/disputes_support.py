"""Helpers for the dispute tests: invoices and a filed dispute."""

from __future__ import annotations

from decimal import Decimal

from disputes import services
from disputes.services import LineInput
from o2c.models import Invoice
from tests.factories import CustomerFactory

D = Decimal


def invoice(customer, number, amount, open_balance=None, currency="USD"):
    return Invoice.objects.create(number=number, customer=customer, issue_date="2026-10-01",
                                  due_date="2026-10-31", amount=D(amount), currency=currency,
                                  open_balance=D(amount if open_balance is None else open_balance))


def file_dispute(customer=None, amount="40.00", actor=None, invoice_amount="100.00", **kw):
    customer = customer or CustomerFactory()
    inv = invoice(customer, f"INV-{Invoice.objects.count() + 1:05d}", invoice_amount)
    return services.dispute_file_for_customer(customer=customer, lines=[LineInput(inv.pk, D(amount))],
                                              reason_code=kw.pop("reason_code", "pricing"),
                                              message=kw.pop("message", "Price is wrong"), actor=actor, **kw)
