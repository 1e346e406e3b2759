"""The "deduction" case source for the triage rules engine: facts in bulk, actions applied in bulk."""

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.core import mail

from deductions import services, triage
from deductions.models import Deduction
from o2c.models import AuditEvent, Role
from tests.factories import CustomerContactFactory, CustomerFactory, InvoiceFactory

D = Decimal


@dataclass
class Decision:  # the shape of o2c.rules.TriageDecision (INTERFACES.md section 2)
    case_id: int
    actions: dict
    fired: list = field(default_factory=list)
    explanation: str = "rule fired"


@pytest.fixture
def clerk(tenant, member_factory):
    return member_factory(tenant)


def test_facts_for_many_deductions_in_few_queries(in_tenant, clerk, django_assert_max_num_queries):
    customer = CustomerFactory(name="Big Retail")
    invoice = InvoiceFactory(customer=customer)
    services.reason_codes_ensure()
    made = services.deductions_create([services.NewDeduction(customer_id=customer.pk, amount=D("5.00") + i,
                                                             currency="USD", reason="freight", source="clerk",
                                                             invoice_id=invoice.pk) for i in range(300)])
    ids = [d.pk for d in made]
    with django_assert_max_num_queries(3):
        facts = triage.facts(ids)
    f = facts[ids[0]]
    assert f == {"kind": "deduction", "amount": 5.0, "currency": "USD", "reason": "freight", "category": "freight",
                 "source": "clerk", "status": "open", "customer": {"id": customer.pk, "name": "Big Retail",
                                                                   "segment": "", "risk": ""},
                 "invoice_age_days": 10, "past_disputes": 299, "documents": 0}
    assert set(triage.describe(ids[:2])) == set(ids[:2]) and triage.recent(1)[:1] == ids[:1]


def test_apply_sets_owner_queue_priority_sla_and_decides(in_tenant, clerk, tenant, member_factory,
                                                         django_capture_on_commit_callbacks):
    lead = member_factory(tenant, Role.FINANCE_LEAD, email="lead@acme.test")
    invoice = InvoiceFactory()
    CustomerContactFactory(customer=invoice.customer, email="ap@buyer.test")
    a = services.deduction_create_by_clerk(customer=invoice.customer, invoice=invoice, amount=D("10"), reason="tax",
                                           actor=clerk)
    b = services.deduction_create_by_clerk(customer=invoice.customer, invoice=invoice, amount=D("11"), reason="tax",
                                           actor=clerk)
    with django_capture_on_commit_callbacks(execute=True):
        triage.apply([
            Decision(a.pk, {"owner": "lead@acme.test", "queue": "tax", "priority": "high", "sla_hours": 48,
                            "decide": "invalid", "request_documents": ["exemption certificate"]}),
            Decision(b.pk, {"decide": "valid", "notify": ["lead@acme.test"]}),
        ])
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.owner, a.queue, a.priority, a.status) == (lead, "tax", "high", "invalid")
    assert a.sla_due == a.created_at + __import__("datetime").timedelta(hours=48)
    assert b.status == "valid"
    assert AuditEvent.objects.filter(action="deduction.triaged").count() == 2
    subjects = sorted(m.subject for m in mail.outbox)
    assert any("Documents needed" in s for s in subjects) and any("needs attention" in s for s in subjects)


def test_apply_leaves_closed_deductions_alone(in_tenant, clerk):
    d = services.deduction_create_by_clerk(customer=CustomerFactory(), amount=D("10"), reason="tax", actor=clerk)
    services.deduction_transition(deduction_id=d.pk, action="invalidate", note="no", actor=clerk)
    services.deduction_resolve(deduction_id=d.pk, resolution="repayment", actor=clerk)
    triage.apply([Decision(d.pk, {"decide": "valid", "queue": "x"})])
    d.refresh_from_db()
    assert (d.status, d.queue) == ("resolved", "")
    assert Deduction.objects.count() == 1
