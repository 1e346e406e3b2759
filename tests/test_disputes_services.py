"""Dispute services: every state move allowed and refused, filing all-or-nothing, resolution into payment
instructions and dunning holds, the thread, escalation, notifications, and what dunning must skip."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from disputes import services
from disputes.models import Dispute, DisputeAttachment, DisputeLine, DisputeMessage, DisputeStatus
from disputes.selectors import disputed_invoice_ids, thread
from disputes.services import LineInput
from o2c.errors import ApplicationError, ConflictError
from o2c.instructions import held_invoice_ids, instruction_approve
from o2c.models import AuditEvent, Invoice, Role
from o2c.models.instructions import InvoiceHold, PaymentInstruction
from o2c.models.ledger import Channel
from tests.disputes_support import file_dispute, invoice
from tests.factories import CustomerContactFactory, CustomerFactory, member

D = Decimal
S = DisputeStatus
pytestmark = pytest.mark.django_db

# (move, from) -> to; every other (move, state) pair must be refused with a ConflictError.
ALLOWED = {
    ("triage", S.NEW): S.TRIAGED,
    ("start_review", S.NEW): S.IN_REVIEW,
    ("start_review", S.TRIAGED): S.IN_REVIEW,
    ("request_info", S.TRIAGED): S.WAITING_CUSTOMER,
    ("request_info", S.IN_REVIEW): S.WAITING_CUSTOMER,
    ("customer_replied", S.WAITING_CUSTOMER): S.IN_REVIEW,
    ("resolve", S.TRIAGED): S.RESOLVED,
    ("resolve", S.IN_REVIEW): S.RESOLVED,
    ("resolve", S.WAITING_CUSTOMER): S.RESOLVED,
    ("close", S.RESOLVED): S.CLOSED,
    ("reopen", S.RESOLVED): S.IN_REVIEW,
    ("reopen", S.CLOSED): S.IN_REVIEW,
}
MOVES = ["triage", "start_review", "request_info", "customer_replied", "resolve", "close", "reopen"]


def _in_state(dispute, status):
    resolved = status in (S.RESOLVED, S.CLOSED)
    Dispute.objects.filter(pk=dispute.pk).update(status=status, resolution="accepted" if resolved else "",
                                                 accepted_amount=dispute.amount if resolved else None)
    return Dispute.objects.get(pk=dispute.pk)


def _do(move, dispute, actor, customer_user=None):
    if move == "resolve":
        return services.dispute_resolve(dispute=dispute, resolution="rejected", actor=actor)
    if move == "reopen":
        return services.dispute_reopen(dispute=dispute, reason="new proof arrived", actor=actor)
    if move == "customer_replied":
        services.message_post(dispute=dispute, body="here you go", actor=customer_user, from_customer=True)
        return Dispute.objects.get(pk=dispute.pk)
    return services.dispute_transition(dispute=dispute, name=move, actor=actor)


@pytest.mark.parametrize("move", MOVES)
@pytest.mark.parametrize("state", list(S))
def test_every_move_from_every_state(in_tenant, move, state):
    clerk = member(in_tenant, Role.AR_CLERK)
    dispute = _in_state(file_dispute(actor=clerk), state)
    target = ALLOWED.get((move, state))
    if move == "customer_replied" and target is None:
        # a customer's message outside "waiting for customer" is just a message: the status stays
        after = _do(move, dispute, clerk)
        assert after.status == state
        return
    if target is None:
        with pytest.raises(ConflictError) as refused:
            _do(move, dispute, clerk)
        assert refused.value.status_code == 409 and dispute.number in refused.value.message
        assert Dispute.objects.get(pk=dispute.pk).status == state
        return
    before_events = AuditEvent.objects.count()
    after = _do(move, dispute, clerk)
    assert after.status == target
    assert AuditEvent.objects.count() > before_events
    stored = Dispute.objects.get(pk=dispute.pk)
    assert stored.status == target
    if target in (S.RESOLVED, S.CLOSED):
        assert stored.due_at is None  # the clock stops
    else:
        assert stored.due_at > stored.state_entered_at  # a fresh clock for the new state


def test_unknown_transition_name_is_a_bad_request(in_tenant):
    dispute = file_dispute()
    with pytest.raises(ApplicationError) as refused:
        services.dispute_transition(dispute=dispute, name="resolve", actor=None)  # has its own service
    assert not isinstance(refused.value, ConflictError)


# --- filing --------------------------------------------------------------------------------------------

def test_portal_filing_on_several_invoices_with_attachment(in_tenant):
    customer = CustomerFactory()
    user = member(in_tenant, Role.PORTAL_USER, customer=customer)
    a, b = invoice(customer, "INV-A", "100.00"), invoice(customer, "INV-B", "50.00")
    pdf = SimpleUploadedFile("proof.pdf", b"%PDF-1.4 proof", content_type="application/pdf")
    dispute = services.dispute_file(membership=user.memberships.get(), actor=user, reason_code="damage",
                                    message="Two cases broken", attachments=[pdf],
                                    lines=[LineInput(a.pk, D("30.00"), "line 2"), LineInput(b.pk, D("50.00"))])
    assert dispute.number == "DS-000001" and dispute.amount == D("80.00") and dispute.channel == "portal"
    assert dispute.status == S.NEW and dispute.due_at is not None
    assert sorted(DisputeLine.objects.filter(dispute=dispute).values_list("amount", flat=True)) == [D("30"), D("50")]
    [message] = DisputeMessage.objects.filter(dispute=dispute)
    assert message.from_customer and not message.internal
    assert DisputeAttachment.objects.get(dispute=dispute).message == message
    assert disputed_invoice_ids() == {a.pk, b.pk}


def test_forged_invoice_of_another_customer_stores_nothing(in_tenant):
    own, other = CustomerFactory(), CustomerFactory(name="Someone Else")
    user = member(in_tenant, Role.PORTAL_USER, customer=own)
    mine, theirs = invoice(own, "INV-MINE", "100.00"), invoice(other, "INV-THEIRS", "100.00")
    pdf = SimpleUploadedFile("proof.pdf", b"%PDF-1.4 proof")
    with pytest.raises(ApplicationError) as refused:
        services.dispute_file(membership=user.memberships.get(), actor=user, reason_code="pricing", message="x",
                              attachments=[pdf], lines=[LineInput(mine.pk, D("10")), LineInput(theirs.pk, D("10"))])
    assert f"invoice id {theirs.pk} is not an invoice of {own.name}" in refused.value.message
    assert not Dispute.objects.exists() and not DisputeLine.objects.exists() and not DisputeMessage.objects.exists()
    assert not DisputeAttachment.objects.exists()


@pytest.mark.parametrize("amount, message", [
    ("120.00", "only 100.00 USD can be"), ("0", "must be positive"), ("10.001", "minor units"),
])
def test_line_amount_is_checked(in_tenant, amount, message):
    with pytest.raises(ApplicationError, match=message):
        file_dispute(amount=amount)
    assert not Dispute.objects.exists()


def test_amounts_on_one_invoice_add_up_against_its_open_balance(in_tenant):
    customer = CustomerFactory()
    inv = invoice(customer, "INV-1", "100.00", open_balance="60.00")
    with pytest.raises(ApplicationError, match="only 60.00 USD"):
        services.dispute_file_for_customer(customer=customer, reason_code="pricing", message="m", actor=None,
                                           lines=[LineInput(inv.pk, D("40")), LineInput(inv.pk, D("30"))])
    paid = invoice(customer, "INV-2", "100.00", open_balance="0")  # a paid invoice: up to its amount (refund)
    assert services.dispute_file_for_customer(customer=customer, reason_code="pricing", message="m", actor=None,
                                              lines=[LineInput(paid.pk, D("100"))]).amount == D("100")


def test_refused_document_stores_nothing(in_tenant):
    exe = SimpleUploadedFile("invoice.pdf", b"MZ\x90\x00 not a pdf")
    with pytest.raises(ApplicationError, match="does not look like a PDF"):
        file_dispute(attachments=[exe])
    assert not Dispute.objects.exists()


def test_unknown_reason_and_empty_message_are_refused(in_tenant):
    with pytest.raises(ApplicationError, match="not one of the dispute reasons"):
        file_dispute(reason_code="nonsense")
    with pytest.raises(ApplicationError, match="write a message"):
        file_dispute(message="  ")


def test_numbers_count_up(in_tenant):
    assert [file_dispute().number for _ in range(2)] == ["DS-000001", "DS-000002"]


def test_numbers_are_per_tenant(tenant, other_tenant):
    from o2c.tenancy import tenant_context

    with tenant_context(tenant):
        file_dispute()
    with tenant_context(other_tenant):
        assert file_dispute().number == "DS-000001"


def test_dispute_from_deduction(in_tenant):
    from tests.test_cross_tenant_probe import _probe_application

    class World:
        pass

    world = World()
    world.invoice = invoice(CustomerFactory(), "INV-DED", "100.00")
    application = _probe_application(world)
    from deductions.models import Deduction

    deduction = Deduction.objects.create(customer=world.invoice.customer, invoice=world.invoice,
                                         payment=application.payment, application=application, amount=D("15.00"),
                                         currency="USD", reason="damaged")
    dispute = services.dispute_from_deduction(deduction=deduction, actor=None)
    assert (dispute.channel, dispute.deduction, dispute.amount, dispute.reason_code.code) == (
        "deduction", deduction, D("15.00"), "damage")
    with pytest.raises(ConflictError, match="already has a dispute"):
        services.dispute_from_deduction(deduction=deduction, actor=None)


def _disputed_deduction(in_tenant, clerk):
    """A 40.00 deduction as cash application leaves it (the invoice's open balance already down) and its dispute."""
    from deductions import services as deduction_services

    inv = invoice(CustomerFactory(), "INV-DED", "100.00", open_balance="0")
    deduction = deduction_services.deduction_create_by_clerk(customer=inv.customer, invoice=inv, amount=D("40.00"),
                                                             reason="pricing", actor=clerk)
    dispute = services.dispute_from_deduction(deduction=deduction, actor=clerk)
    services.dispute_transition(dispute=dispute, name="start_review", actor=clerk)
    return inv, deduction, dispute


def _settled(inv):
    from deductions.models import Deduction

    return sorted(Deduction.objects.filter(invoice=inv, status="resolved").values_list("amount", "resolution"))


def test_an_accepted_dispute_from_a_deduction_settles_the_deduction_by_credit_memo(in_tenant):
    clerk = member(in_tenant, Role.AR_CLERK)
    inv, deduction, dispute = _disputed_deduction(in_tenant, clerk)
    services.dispute_resolve(dispute=dispute, resolution="accepted", actor=clerk)
    assert _settled(inv) == [(D("40.00"), "credit_memo")]
    assert list(PaymentInstruction.objects.values_list("kind", "origin_kind", "origin_id", "status")) == [
        ("credit_memo", "deduction", deduction.pk, "done")]
    assert Invoice.objects.get(pk=inv.pk).open_balance == D("0")  # the memo offsets the deduction only


def test_a_partly_accepted_dispute_from_a_deduction_splits_it(in_tenant):
    clerk = member(in_tenant, Role.AR_CLERK)
    inv, deduction, dispute = _disputed_deduction(in_tenant, clerk)
    services.dispute_resolve(dispute=dispute, resolution="partly_accepted", accepted_amount=D("25.00"),
                             note="only the October lines", actor=clerk)
    assert _settled(inv) == [(D("15.00"), "collection_restart"), (D("25.00"), "credit_memo")]
    assert Invoice.objects.get(pk=inv.pk).open_balance == D("15.00")  # the rejected part is owed again
    deduction.refresh_from_db()
    assert deduction.status == "split"


def test_a_rejected_dispute_from_a_deduction_restarts_collection(in_tenant):
    clerk = member(in_tenant, Role.AR_CLERK)
    inv, deduction, dispute = _disputed_deduction(in_tenant, clerk)
    services.dispute_resolve(dispute=dispute, resolution="rejected", note="delivery note signed", actor=clerk)
    assert _settled(inv) == [(D("40.00"), "collection_restart")]
    deduction.refresh_from_db()
    assert deduction.denial_note == "delivery note signed"
    assert Invoice.objects.get(pk=inv.pk).open_balance == D("40.00")


# --- resolution into instructions and holds -----------------------------------------------------------

def _instructions(dispute):
    return list(PaymentInstruction.objects.filter(origin_kind="dispute", origin_id=dispute.pk).order_by("pk")
                .values_list("kind", "amount", "invoice_id", "status"))


def test_filing_places_a_hold_and_accepting_issues_a_credit_memo(in_tenant):
    clerk = member(in_tenant, Role.AR_CLERK)
    dispute = file_dispute(amount="40.00")
    line = dispute.lines.get()
    [hold] = InvoiceHold.objects.filter(origin_kind="dispute", origin_id=dispute.pk)
    assert (hold.amount, hold.invoice_id, hold.released_at) == (D("40.00"), line.invoice_id, None)
    assert held_invoice_ids() == {line.invoice_id} and disputed_invoice_ids() == {line.invoice_id}
    services.dispute_transition(dispute=dispute, name="start_review", actor=clerk)
    services.dispute_resolve(dispute=dispute, resolution="accepted", actor=clerk)
    assert held_invoice_ids() == set() and disputed_invoice_ids() == set()
    # Within the clerk's approval limit: approved and executed at once, the invoice's balance goes down.
    assert _instructions(dispute) == [("credit_memo", D("40.00"), line.invoice_id, "done")]
    assert Invoice.objects.get(pk=line.invoice_id).open_balance == D("60.00")


def test_partly_accepted_on_a_partly_paid_invoice_splits_credit_memo_and_refund(in_tenant):
    clerk = member(in_tenant, Role.AR_CLERK)
    customer = CustomerFactory()
    inv = invoice(customer, "INV-P", "100.00", open_balance="10.00")
    dispute = services.dispute_file_for_customer(customer=customer, lines=[LineInput(inv.pk, D("10.00"))],
                                                 reason_code="pricing", message="m", actor=None)
    paid = invoice(customer, "INV-Q", "100.00", open_balance="0")
    dispute2 = services.dispute_file_for_customer(customer=customer, lines=[LineInput(paid.pk, D("60.00"))],
                                                  reason_code="pricing", message="m", actor=None)
    services.dispute_transition(dispute=dispute2, name="triage", actor=clerk)
    services.dispute_resolve(dispute=dispute2, resolution="partly_accepted", accepted_amount=D("25.00"), actor=clerk)
    # A refund is approved within the limit; it waits for a refund file to be sent.
    assert _instructions(dispute2) == [("refund", D("25.00"), paid.pk, "approved")]
    services.dispute_transition(dispute=dispute, name="triage", actor=clerk)
    with pytest.raises(ApplicationError, match="above 0 and below 10.00"):
        services.dispute_resolve(dispute=dispute, resolution="partly_accepted", accepted_amount=D("10.00"),
                                 actor=clerk)


def test_accepted_above_the_clerks_limit_waits_for_a_finance_lead(in_tenant):
    clerk = member(in_tenant, Role.AR_CLERK)
    lead = member(in_tenant, Role.FINANCE_LEAD)
    dispute = file_dispute(amount="1500.00", invoice_amount="2000.00")
    services.dispute_transition(dispute=dispute, name="triage", actor=clerk)
    services.dispute_resolve(dispute=dispute, resolution="accepted", actor=clerk)
    [pi] = PaymentInstruction.objects.filter(origin_kind="dispute", origin_id=dispute.pk)
    assert (pi.kind, pi.status) == ("credit_memo", "pending_approval")
    with pytest.raises(ConflictError, match="above your approval limit"):
        instruction_approve(instruction_id=pi.pk, actor=clerk)
    instruction_approve(instruction_id=pi.pk, actor=lead)
    assert _instructions(dispute) == [("credit_memo", D("1500.00"), pi.invoice_id, "done")]
    assert Invoice.objects.get(pk=pi.invoice_id).open_balance == D("500.00")


def test_rejected_releases_the_hold_without_money(in_tenant):
    dispute = file_dispute()
    services.dispute_transition(dispute=dispute, name="triage", actor=None)
    resolved = services.dispute_resolve(dispute=dispute, resolution="rejected", root_cause="customer_error",
                                        actor=None)
    assert (resolved.accepted_amount, resolved.root_cause.code) == (D("0"), "customer_error")
    assert _instructions(dispute) == [] and held_invoice_ids() == set()
    services.dispute_reopen(dispute=resolved, reason="found the delivery note", actor=None)
    assert held_invoice_ids() == {dispute.lines.get().invoice_id}  # held again while it is open again
    assert InvoiceHold.objects.filter(origin_kind="dispute", origin_id=dispute.pk).count() == 2


# --- the thread -----------------------------------------------------------------------------------------

def test_customer_reply_resumes_review_and_internal_notes_stay_internal(in_tenant):
    customer = CustomerFactory()
    portal = member(in_tenant, Role.PORTAL_USER, customer=customer)
    clerk = member(in_tenant, Role.AR_CLERK)
    dispute = file_dispute(customer=customer)
    services.dispute_transition(dispute=dispute, name="triage", actor=clerk)
    services.dispute_transition(dispute=dispute, name="request_info", actor=clerk)
    services.message_post(dispute=dispute, body="Looks like a customer error", actor=clerk, from_customer=False,
                          internal=True)
    with pytest.raises(ApplicationError, match="customers cannot write internal notes"):
        services.message_post(dispute=dispute, body="x", actor=portal, from_customer=True, internal=True)
    services.message_post(dispute=dispute, body="Delivery note attached", actor=portal, from_customer=True)
    assert Dispute.objects.get(pk=dispute.pk).status == S.IN_REVIEW
    bodies = [m.body for m in thread(dispute, include_internal=False)]
    assert "Looks like a customer error" not in bodies and "Delivery note attached" in bodies
    assert "Looks like a customer error" in [m.body for m in thread(dispute, include_internal=True)]


# --- notifications --------------------------------------------------------------------------------------

def test_emails_go_to_contacts_preferring_email_and_the_owner(in_tenant, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    CustomerContactFactory(customer=customer, email="ap@buyer.test", preferred_channel=Channel.EMAIL)
    CustomerContactFactory(customer=customer, email="phone@buyer.test", preferred_channel=Channel.PHONE)
    owner = member(in_tenant, Role.AR_CLERK, email="owner@acme.test")
    with django_capture_on_commit_callbacks(execute=True):
        dispute = file_dispute(customer=customer)
    with django_capture_on_commit_callbacks(execute=True):
        services.dispute_update(dispute=dispute, owner=owner, actor=owner)
        services.message_post(dispute=dispute, body="secret note", actor=owner, from_customer=False, internal=True)
    assert [m.to for m in mail.outbox] == [["ap@buyer.test"]]
    assert f"/disputes/portal/{dispute.pk}/" in mail.outbox[0].body
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.dispute_transition(dispute=dispute, name="start_review", actor=owner)
    assert sorted(m.to[0] for m in mail.outbox) == ["ap@buyer.test", "owner@acme.test"]
    assert all("in review" in m.subject for m in mail.outbox)
    assert any(f"/disputes/{dispute.pk}/" in m.body for m in mail.outbox if m.to == ["owner@acme.test"])
    assert not any("secret note" in m.body for m in mail.outbox)


# --- escalation -----------------------------------------------------------------------------------------

def test_escalation_is_idempotent_and_raises_priority(in_tenant, django_capture_on_commit_callbacks):
    lead = member(in_tenant, Role.FINANCE_LEAD, email="lead@acme.test")
    dispute = file_dispute()
    later = file_dispute()
    Dispute.objects.filter(pk=dispute.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.disputes_escalate() == [dispute.pk]
    assert services.disputes_escalate() == []  # again: nothing overdue any more
    stored = Dispute.objects.get(pk=dispute.pk)
    assert (stored.priority, stored.escalation_level) == ("high", 1) and stored.due_at > timezone.now()
    assert Dispute.objects.get(pk=later.pk).escalation_level == 0
    assert AuditEvent.objects.filter(action="dispute.escalated", object_id=dispute.pk).count() == 1
    assert [m.to for m in mail.outbox if "escalated" in m.subject] == [[lead.email]]


def test_escalation_task_runs_per_tenant(tenant, other_tenant):
    from disputes.tasks import escalate_overdue, escalate_overdue_all_tenants
    from o2c.tenancy import tenant_context

    with tenant_context(tenant):
        dispute = file_dispute()
        Dispute.objects.filter(pk=dispute.pk).update(due_at=timezone.now() - timedelta(hours=1))
    assert escalate_overdue.delay(tenant.pk).get() == [dispute.pk]
    assert escalate_overdue.delay(tenant.pk).get() == []
    assert len(escalate_overdue_all_tenants()) == 2


def test_customer_message_mails_the_owner_not_the_customer(in_tenant, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    CustomerContactFactory(customer=customer, email="ap@buyer.test", preferred_channel=Channel.EMAIL)
    portal = member(in_tenant, Role.PORTAL_USER, customer=customer)
    owner = member(in_tenant, Role.AR_CLERK, email="owner@acme.test")
    dispute = file_dispute(customer=customer)
    services.dispute_update(dispute=dispute, owner=owner, actor=owner)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_post(dispute=dispute, body="Photos attached", actor=portal, from_customer=True)
    assert [m.to for m in mail.outbox] == [["owner@acme.test"]] and "Photos attached" in mail.outbox[0].body
