"""Approving one instruction from two connections at once executes it once: the row lock makes the second
approval wait, then find the instruction done and answer 409."""

from decimal import Decimal

import pytest

from o2c.errors import ConflictError
from o2c.instructions import instruction_approve, instruction_create
from o2c.models import CreditMemo, Invoice, PaymentInstruction, Role
from o2c.tenancy import tenant_context
from tests.factories import InvoiceFactory, member
from tests.test_cashapp_concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_approvals_execute_the_credit_memo_once(tenant):
    leads = [member(tenant, Role.FINANCE_LEAD), member(tenant, Role.TENANT_ADMIN)]
    with tenant_context(tenant):
        invoice = InvoiceFactory(amount=Decimal("300.00"))
        pi = instruction_create(kind="credit_memo", customer_id=invoice.customer_id, amount="100.00",
                                currency="USD", origin_kind="dispute", origin_id=1, invoice_id=invoice.pk, actor=None)
    outcomes = race(tenant, *[lambda who=who: instruction_approve(instruction_id=pi.pk, actor=who) for who in leads])
    conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
    assert len(conflicts) == 1 and "is done; it cannot be approved" in conflicts[0].message
    assert sum(isinstance(o, PaymentInstruction) for o in outcomes) == 1
    with tenant_context(tenant):
        assert CreditMemo.objects.count() == 1
        assert Invoice.objects.get(pk=invoice.pk).open_balance == Decimal("200.00")
        assert PaymentInstruction.objects.get(pk=pi.pk).status == "done"
