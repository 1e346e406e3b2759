"""The "dispute" case source for the triage rules engine (o2c.rules, built in parallel by RULES): the facts
it gives the rules, and how the merged actions are applied. Automatic decisions and document requests are
explained in the thread the customer sees."""

import sys
import types
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from disputes import integration, services, triage
from disputes.models import Dispute, DisputeMessage
from o2c.models import Role
from tests.disputes_support import file_dispute, install_recorder
from tests.factories import CustomerFactory, member

pytestmark = pytest.mark.django_db
FACT_KEYS = {"kind", "amount", "currency", "reason", "category", "source", "status", "customer",
             "invoice_age_days", "past_disputes", "documents"}


@dataclass
class Decision:  # the shape of o2c.rules.TriageDecision (INTERFACES.md section 2)
    case_id: int
    actions: dict
    explanation: str = ""
    fired: list = field(default_factory=list)


def test_facts_give_every_variable(in_tenant):
    customer = CustomerFactory(name="Buyer")
    first = file_dispute(customer=customer, amount="12.50", reason_code="damage")
    second = file_dispute(customer=customer)
    facts = triage.facts([first.pk, second.pk])
    assert set(facts[first.pk]) == FACT_KEYS
    assert facts[first.pk]["amount"] == 12.5 and facts[first.pk]["category"] == "damage"
    assert facts[first.pk]["customer"] == {"id": customer.pk, "name": "Buyer", "segment": "", "risk": ""}
    assert facts[first.pk]["past_disputes"] == 1 and facts[first.pk]["source"] == "clerk"
    assert triage.recent(1) == [first.pk, second.pk]
    assert triage.describe([first.pk])[first.pk].startswith(first.number)


def test_routing_actions_and_triaged(in_tenant):
    owner = member(in_tenant, Role.AR_CLERK, email="routing@acme.test")
    dispute = file_dispute()
    triage.apply([Decision(dispute.pk, {"queue": "pricing-desk", "owner": "routing@acme.test", "priority": "high",
                                        "sla_hours": 2})])
    stored = Dispute.objects.get(pk=dispute.pk)
    assert (stored.queue, stored.owner, stored.priority, stored.status) == ("pricing-desk", owner, "high", "triaged")


def test_auto_decision_is_explained_in_the_thread(in_tenant, monkeypatch):
    recorder = install_recorder(monkeypatch)
    dispute = file_dispute(amount="20.00")
    triage.apply([Decision(dispute.pk, {"decide": "valid"}, explanation="small pricing claim under 25")])
    stored = Dispute.objects.get(pk=dispute.pk)
    assert (stored.status, stored.resolution, stored.accepted_amount) == ("resolved", "accepted", Decimal("20.00"))
    note = DisputeMessage.objects.get(dispute=dispute, body__startswith="Decided automatically")
    assert not note.internal and "small pricing claim under 25" in note.body
    assert [c["kind"] for c in recorder.of("instruction_create")] == ["credit_memo"]
    triage.apply([Decision(dispute.pk, {"decide": "invalid"})])  # late rule run: the decided case stays
    assert Dispute.objects.get(pk=dispute.pk).resolution == "accepted"


def test_request_documents_waits_for_the_customer(in_tenant):
    dispute = file_dispute()
    triage.apply([Decision(dispute.pk, {"request_documents": ["proof of delivery"], "notify": ["finance_lead"]})])
    stored = Dispute.objects.get(pk=dispute.pk)
    assert stored.status == "waiting_customer"
    ask = DisputeMessage.objects.get(dispute=dispute, body__contains="proof of delivery")
    assert not ask.internal


def test_services_enqueue_triage_through_o2c_rules(in_tenant, monkeypatch, django_capture_on_commit_callbacks):
    calls = []
    rules = types.ModuleType("o2c.rules")
    rules.triage_enqueue = lambda kind, ids: calls.append((kind, ids))
    monkeypatch.setitem(sys.modules, "o2c.rules", rules)
    with django_capture_on_commit_callbacks(execute=True):
        dispute = file_dispute()
        services.dispute_transition(dispute=dispute, name="triage", actor=None)
    assert calls == [("dispute", [dispute.pk]), ("dispute", [dispute.pk])]
    calls.clear()
    with django_capture_on_commit_callbacks(execute=True):  # the rules' own moves do not re-enqueue (no loop)
        triage.apply([Decision(dispute.pk, {"request_documents": ["proof of delivery"]})])
    assert Dispute.objects.get(pk=dispute.pk).status == "waiting_customer" and calls == []


def test_case_source_registration_uses_the_agreed_names(monkeypatch):
    registered = []
    rules = types.ModuleType("o2c.rules")
    rules.CaseSource = lambda **kw: kw
    rules.register_case_source = registered.append
    monkeypatch.setitem(sys.modules, "o2c.rules", rules)
    assert integration.register_case_source() is True
    [source] = registered
    assert source["kind"] == "dispute" and source["apply"] is triage.apply and source["facts"] is triage.facts


def test_missing_module_is_tolerated(monkeypatch):
    monkeypatch.setitem(sys.modules, "o2c.rules", None)  # import of a None entry raises ModuleNotFoundError
    assert integration.latest_triage(1) is None
    assert integration._optional("disputes.no_such_module") is None
