"""The "dispute" case source of the triage rules engine (o2c.rules): the facts it gives the rules, and how
the merged actions are applied. Automatic decisions and document requests are explained in the thread the
customer sees."""

from decimal import Decimal

import pytest

from disputes import services, triage
from disputes.models import Dispute, DisputeMessage
from o2c.models import Role
from o2c.models.instructions import PaymentInstruction
from o2c.models.rules import TriageResult
from o2c.rules import FiredRule, TriageDecision, latest_triage
from o2c.rules.services import triage_defaults_install, triage_rules_replace
from o2c.rules.sources import case_source
from tests.disputes_support import file_dispute
from tests.factories import CustomerFactory, member

pytestmark = pytest.mark.django_db
FACT_KEYS = {"kind", "amount", "currency", "reason", "category", "source", "status", "customer",
             "invoice_age_days", "past_disputes", "documents"}


def Decision(case_id: int, actions: dict, explanation: str = "") -> TriageDecision:  # noqa: N802 - reads as a type
    """The engine's decision when one rule with these actions fired."""
    return TriageDecision(case_id, [FiredRule("a rule", {}, actions)], actions, explanation or "a rule fired")


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


def test_no_rule_fired_leaves_the_dispute_new_for_a_clerk(in_tenant):
    dispute = file_dispute()
    triage.apply([TriageDecision(dispute.pk, [], {}, "no rule fired")])
    assert Dispute.objects.get(pk=dispute.pk).status == "new"


def test_auto_decision_is_explained_in_the_thread(in_tenant):
    dispute = file_dispute(amount="20.00")
    triage.apply([Decision(dispute.pk, {"decide": "valid"}, explanation="small pricing claim under 25")])
    stored = Dispute.objects.get(pk=dispute.pk)
    assert (stored.status, stored.resolution, stored.accepted_amount) == ("resolved", "accepted", Decimal("20.00"))
    note = DisputeMessage.objects.get(dispute=dispute, body__startswith="Decided automatically")
    assert not note.internal and "small pricing claim under 25" in note.body
    # Decided by the system: the credit memo waits for someone allowed to approve it.
    assert list(PaymentInstruction.objects.filter(origin_kind="dispute", origin_id=dispute.pk)
                .values_list("kind", "amount", "status")) == [("credit_memo", Decimal("20.00"), "pending_approval")]
    triage.apply([Decision(dispute.pk, {"decide": "invalid"})])  # late rule run: the decided case stays
    assert Dispute.objects.get(pk=dispute.pk).resolution == "accepted"


def test_request_documents_waits_for_the_customer(in_tenant):
    dispute = file_dispute()
    triage.apply([Decision(dispute.pk, {"request_documents": ["proof of delivery"], "notify": ["finance_lead"]})])
    stored = Dispute.objects.get(pk=dispute.pk)
    assert stored.status == "waiting_customer"
    ask = DisputeMessage.objects.get(dispute=dispute, body__contains="proof of delivery")
    assert not ask.internal


RULES = """
version: 1
dispute:
- name: Pricing desk
  condition: category == "pricing" && amount < 100.0
  actions: {queue: pricing-desk, owner: routing@acme.test, priority: high}
  stop: true
"""


def test_filing_and_moves_are_triaged_by_the_real_rules(in_tenant, django_capture_on_commit_callbacks):
    """Filing enqueues a rule run (Celery eager here) that stores a TriageResult and routes the dispute; the
    rules' own move to "triaged" does not enqueue another run (no loop), a clerk's later move does."""
    owner = member(in_tenant, Role.AR_CLERK, email="routing@acme.test")
    triage_rules_replace(content=RULES, format="yaml")
    with django_capture_on_commit_callbacks(execute=True):
        dispute = file_dispute(amount="40.00")
    stored = Dispute.objects.get(pk=dispute.pk)
    assert (stored.status, stored.queue, stored.owner, stored.priority) == ("triaged", "pricing-desk", owner, "high")
    result = latest_triage("dispute", dispute.pk)
    assert result.rules_fired == ["Pricing desk"]
    assert result.values["Pricing desk"] == {"amount": 40.0, "category": "pricing"}
    assert TriageResult.objects.filter(kind="dispute", case_id=dispute.pk).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.dispute_transition(dispute=stored, name="start_review", actor=owner)
    assert TriageResult.objects.filter(kind="dispute", case_id=dispute.pk).count() == 2


def test_the_dispute_case_source_is_registered():
    source = case_source("dispute")
    assert (source.apply, source.facts, source.recent, source.describe) == (
        triage.apply, triage.facts, triage.recent, triage.describe)


def test_documents_are_asked_for_once_not_on_every_later_move(in_tenant, django_capture_on_commit_callbacks):
    """The default rules ask for evidence on a damage dispute without documents; the customer's answer (even
    without them) is triaged again but does not send the case back to waiting."""
    customer = CustomerFactory()
    portal = member(in_tenant, Role.PORTAL_USER, customer=customer)
    triage_defaults_install()
    with django_capture_on_commit_callbacks(execute=True):
        dispute = file_dispute(customer=customer, reason_code="damage")
    assert Dispute.objects.get(pk=dispute.pk).status == "waiting_customer"
    with django_capture_on_commit_callbacks(execute=True):
        services.message_post(dispute=dispute, body="The photos are with the carrier", actor=portal,
                              from_customer=True)
    assert Dispute.objects.get(pk=dispute.pk).status == "in_review"
    assert TriageResult.objects.filter(kind="dispute", case_id=dispute.pk).count() == 2
    assert DisputeMessage.objects.filter(dispute=dispute, body__startswith="To review this dispute").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_dispute_whose_transaction_commits_after_the_tenant_scope_is_left_is_still_triaged(tenant):
    """The demo seed (and any caller) may commit outside the tenant scope: triage is asked for while the
    tenant is known, and the task runs at the commit."""
    from django.db import transaction

    from o2c.tenancy import tenant_context

    with transaction.atomic():
        with tenant_context(tenant):
            triage_defaults_install()
            dispute = file_dispute(customer=CustomerFactory())
    with tenant_context(tenant):
        assert TriageResult.objects.filter(kind="dispute", case_id=dispute.pk).exists()
