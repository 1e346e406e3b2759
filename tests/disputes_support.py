"""Helpers for the dispute tests: invoices, a filed dispute, a recorder standing in for o2c.instructions."""

from __future__ import annotations

import sys
import types
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


class InstructionsRecorder(types.ModuleType):
    """Stands in for the kernel's o2c.instructions (INSTRUCTIONS builds it in parallel): records the calls
    the dispute services make through disputes.integration, so the resolution mapping is tested here."""

    def __init__(self):
        super().__init__("o2c.instructions")
        self.calls: list[tuple[str, dict]] = []

    def instruction_create(self, **kw):
        self.calls.append(("instruction_create", kw))

    def invoice_hold_place(self, **kw):
        self.calls.append(("invoice_hold_place", kw))

    def invoice_hold_release(self, **kw):
        self.calls.append(("invoice_hold_release", kw))

    def of(self, name):
        return [kw for call, kw in self.calls if call == name]


def install_recorder(monkeypatch) -> InstructionsRecorder:
    recorder = InstructionsRecorder()
    monkeypatch.setitem(sys.modules, "o2c.instructions", recorder)
    return recorder
