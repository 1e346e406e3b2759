"""The batch paths of deductions (intake, research, triage apply) write set-based: the number of queries does
not grow with the batch, and every row and audit event is still written (bench/triage_e2e.py measures them)."""

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.core import mail

from deductions import research, services, triage
from deductions.models import Deduction
from o2c.models import AuditEvent
from tests.factories import CustomerContactFactory, CustomerFactory, InvoiceFactory

D = Decimal


@dataclass
class Decision:  # the shape of o2c.rules.TriageDecision
    case_id: int
    actions: dict
    fired: list = field(default_factory=list)
    explanation: str = "rule fired"


@pytest.fixture
def clerk(tenant, member_factory):
    return member_factory(tenant)


def _deductions(n: int, reason: str = "freight"):
    customer = CustomerFactory()
    CustomerContactFactory(customer=customer, email="ap@buyer.test")
    invoice = InvoiceFactory(customer=customer)
    services.reason_codes_ensure()
    made = services.deductions_create([services.NewDeduction(customer_id=customer.pk, amount=D("5.00") + i,
                                                             currency="USD", reason=reason, source="clerk",
                                                             invoice_id=invoice.pk) for i in range(n)])
    return [d.pk for d in made]


@pytest.mark.parametrize("n", [3, 200])
def test_apply_writes_every_row_and_event_in_queries_independent_of_the_batch(
        in_tenant, clerk, n, django_assert_max_num_queries, django_capture_on_commit_callbacks):
    ids = _deductions(n)
    before = AuditEvent.objects.filter(action="deduction.triaged").count()
    with django_assert_max_num_queries(8), django_capture_on_commit_callbacks(execute=False) as callbacks:
        triage.apply([Decision(pk, {"queue": "freight", "priority": "high", "sla_hours": 24, "decide": "invalid",
                                    "request_documents": ["freight terms"]}) for pk in ids])
    rows = list(Deduction.objects.filter(pk__in=ids).values_list("queue", "priority", "status", "denial_note",
                                                                 "evidence", "sla_due", "created_at"))
    assert all(r[:4] == ("freight", "high", "invalid", "Rejected by a triage rule") for r in rows)
    assert all(r[4]["documents_requested"] == ["freight terms"] for r in rows)
    assert all((r[5] - r[6]).total_seconds() == 24 * 3600 for r in rows)
    assert AuditEvent.objects.filter(action="deduction.triaged").count() - before == n
    event = AuditEvent.objects.filter(action="deduction.triaged", object_id=ids[0]).get()
    assert event.changes["status"] == ["open", "invalid"] and event.object_type == "deduction"
    # One follow-up task for the batch's document requests, not one per deduction.
    assert len(callbacks) == 1
    mail.outbox.clear()
    callbacks[0]()
    assert len(mail.outbox) == n and mail.outbox[0].to == ["ap@buyer.test"]


def test_research_flags_twins_found_through_the_key_arrays(in_tenant, clerk):
    first = _deductions(2)
    again = services.deductions_create([services.NewDeduction(
        customer_id=Deduction.objects.get(pk=first[1]).customer_id, amount=D("6.00"), currency="USD",
        reason="freight", source="clerk", invoice_id=Deduction.objects.get(pk=first[1]).invoice_id)])[0]
    outcomes = research.deduction_research([*first, again.pk])
    assert outcomes == {again.pk: "duplicate"}
    again.refresh_from_db()
    assert again.duplicate_of_id == first[1] and again.evidence == {"duplicate_of": first[1]}
    assert AuditEvent.objects.filter(action="deduction.flagged_duplicate", object_id=again.pk).count() == 1


def test_rule_write_offs_request_one_instruction_each_and_are_audited(in_tenant, clerk):
    from o2c.models import PaymentInstruction

    ids = _deductions(3, reason="pricing")
    triage.apply([Decision(pk, {"decide": "valid", "write_off": {"account": "6810"}}) for pk in ids])
    instructions = PaymentInstruction.objects.filter(origin_kind="deduction", origin_id__in=ids)
    assert sorted(i.origin_id for i in instructions) == ids
    assert {(i.kind, i.account) for i in instructions} == {("write_off", "6810")}
    rows = {d.pk: d for d in Deduction.objects.filter(pk__in=ids)}
    assert all((rows[i.origin_id].resolution, rows[i.origin_id].instruction_id) == ("write_off", i.pk)
               for i in instructions)
    assert AuditEvent.objects.filter(action="deduction.resolution_requested", object_id__in=ids).count() == 3


def test_a_write_off_that_may_not_happen_is_refused_and_audited_alone(in_tenant, clerk):
    ids = _deductions(2, reason="pricing")
    triage.apply([Decision(ids[0], {"decide": "valid", "write_off": {"account": "6810"}})])
    written = services.deductions_write_off({ids[0]: "6810", ids[1]: "6810"})  # the first has one, the second is open
    assert written == []
    assert AuditEvent.objects.filter(action="deduction.write_off_refused", object_id__in=ids).count() == 2
    assert Deduction.objects.get(pk=ids[1]).resolution == ""
