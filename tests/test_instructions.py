"""Payment instructions: the state machine, approval limits, each kind's effect on the ledger, dunning holds."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from o2c.errors import ApplicationError, ConflictError
from o2c.instructions import (
    held_invoice_ids,
    instruction_approve,
    instruction_cancel,
    instruction_create,
    instruction_mark_done,
    invoice_hold_place,
    invoice_hold_release,
)
from o2c.instructions.services import approval_limit_update, approval_limits
from o2c.ledger import events as ev
from o2c.models import (
    ApprovalLimit,
    AuditEvent,
    CreditMemo,
    Invoice,
    InvoiceHold,
    PaymentInstruction,
    Role,
    WriteOff,
)
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, InvoiceFactory, member

D = Decimal


@pytest.fixture
def people(tenant):
    return {role: member(tenant, role) for role in (Role.AR_CLERK, Role.FINANCE_LEAD, Role.COLLECTOR,
                                                    Role.TENANT_ADMIN)}


@pytest.fixture
def clerk(people):
    return people[Role.AR_CLERK]


@pytest.fixture
def lead(people):
    return people[Role.FINANCE_LEAD]


@pytest.fixture
def seen():
    """Every ledger event dispatched during the test, by type (a real subscriber, removed afterwards)."""
    got: list = []
    types = (ev.InstructionCompleted, ev.CreditMemoIssued, ev.CreditMemoApplied, ev.InvoiceWrittenOff,
             ev.InvoiceIssued, ev.InvoiceSettled, ev.InvoiceReopened)

    def handler(batch):
        got.extend(batch)

    ev.handles(*types)(handler)
    yield got
    for t in types:
        ev._handlers[t].remove(handler)


def make(actor, kind="credit_memo", amount="100.00", origin_kind="dispute", invoice=None, **kw):
    invoice = invoice if invoice is not None else InvoiceFactory(amount=D("5000.00"))
    return instruction_create(kind=kind, customer_id=invoice.customer_id, amount=D(amount),
                              currency=invoice.currency, origin_kind=origin_kind, origin_id=kw.pop("origin_id", 7),
                              invoice_id=invoice.pk, actor=actor, **kw)


def fresh(pi):
    return PaymentInstruction.objects.get(pk=pi.pk)


# --- state machine ------------------------------------------------------------------------------

def test_created_by_the_system_waits_for_approval_and_is_numbered(in_tenant):
    first, second = make(None), make(None)
    assert (first.status, first.number, second.number) == ("pending_approval", "PI-000001", "PI-000002")
    created = AuditEvent.objects.filter(object_type="paymentinstruction", action="payment_instruction.created")
    assert created.count() == 2


def test_refund_walks_pending_approved_sent_done_and_refuses_every_other_move(in_tenant, lead, seen):
    from o2c.models import RefundFile

    pi = make(None, kind="refund", amount="50.00")
    with pytest.raises(ConflictError, match="pending approval; it cannot be marked done"):
        instruction_mark_done(instruction_id=pi.pk, actor=lead)
    instruction_approve(instruction_id=pi.pk, actor=lead)
    assert fresh(pi).status == "approved"
    with pytest.raises(ConflictError, match="approved; it cannot be approved"):
        instruction_approve(instruction_id=pi.pk, actor=lead)
    with pytest.raises(ConflictError, match="approved; it cannot be marked done"):
        instruction_mark_done(instruction_id=pi.pk, actor=lead)
    # sent is reached only through a refund file (tests/test_instructions_files.py); set it up by hand here
    pi = fresh(pi)
    pi.send()
    pi.refund_file = RefundFile.objects.create(format="pain.001", file_name="f.xml", content="x", sha256="0" * 64,
                                               currency="USD", total=D("50"), count=1)
    pi.save(update_fields=["status", "refund_file"])
    with pytest.raises(ConflictError, match="sent; it cannot be cancelled"):
        instruction_cancel(instruction_id=pi.pk, actor=lead)
    done = instruction_mark_done(instruction_id=pi.pk, actor=lead)
    assert done.status == "done" and done.done_at
    with pytest.raises(ConflictError, match="done; it cannot be cancelled"):
        instruction_cancel(instruction_id=pi.pk, actor=lead)
    with pytest.raises(ConflictError, match="done; it cannot be marked done"):
        instruction_mark_done(instruction_id=pi.pk, actor=lead)
    assert [e for e in seen if isinstance(e, ev.InstructionCompleted)] == [
        ev.InstructionCompleted(pi.pk, "refund", "dispute", 7, D("50.0000"))]


def test_cancel_from_pending_and_from_approved_then_nothing_more(in_tenant, lead):
    pending = make(None)
    approved = make(None, kind="refund")
    instruction_approve(instruction_id=approved.pk, actor=lead)
    for pi in (pending, approved):
        assert instruction_cancel(instruction_id=pi.pk, actor=lead, reason="customer withdrew").status == "cancelled"
        with pytest.raises(ConflictError, match="cancelled; it cannot be approved"):
            instruction_approve(instruction_id=pi.pk, actor=lead)
    assert CreditMemo.objects.count() == 0


def test_status_is_protected_from_direct_assignment(in_tenant):
    pi = make(None)
    with pytest.raises(AttributeError):
        pi.status = "done"


def test_bad_input_is_refused_with_a_message_and_stores_nothing(in_tenant, clerk):
    invoice = InvoiceFactory()
    other = CustomerFactory()
    cases = [
        (dict(kind="gift"), "unknown instruction kind"),
        (dict(origin_kind="lawsuit"), "unknown origin"),
        (dict(amount="0"), "above zero"),
        (dict(amount="-5"), "above zero"),
        (dict(amount="1.234"), "more decimals"),
        (dict(kind="write_off"), "needs the GL account"),
        (dict(kind="withhold", invoice=None), "needs the invoice"),
    ]
    for overrides, message in cases:
        kwargs = dict(kind="credit_memo", customer_id=invoice.customer_id, amount="10.00", currency="USD",
                      origin_kind="dispute", origin_id=1, invoice_id=invoice.pk, actor=clerk)
        if "invoice" in overrides:
            kwargs["invoice_id"] = overrides.pop("invoice")
        kwargs.update(overrides)
        with pytest.raises(ApplicationError, match=message):
            instruction_create(**kwargs)
    with pytest.raises(ApplicationError, match="is not .*'s"):
        instruction_create(kind="credit_memo", customer_id=other.pk, amount="1", currency="USD",
                           origin_kind="dispute", origin_id=1, invoice_id=invoice.pk, actor=clerk)
    with pytest.raises(ApplicationError, match="in USD, not EUR"):
        instruction_create(kind="credit_memo", customer_id=invoice.customer_id, amount="1", currency="EUR",
                           origin_kind="dispute", origin_id=1, invoice_id=invoice.pk, actor=clerk)
    assert PaymentInstruction.objects.count() == 0


def test_amount_must_be_positive_in_the_database_too(in_tenant):
    pi = make(None)
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentInstruction.objects.filter(pk=pi.pk).update(amount=D("0"))


# --- approval limits ----------------------------------------------------------------------------

def test_default_limits_are_seeded_on_first_use(in_tenant):
    assert not ApprovalLimit.objects.exists()
    limits = {(limit.role, limit.currency): limit.max_amount for limit in approval_limits()}
    assert limits == {("ar_clerk", "USD"): D("1000.0000"), ("collector", "USD"): D("0.0000"),
                      ("finance_lead", "USD"): None, ("tenant_admin", "USD"): None}


def test_clerk_approves_up_to_the_limit_at_once(in_tenant, clerk, seen):
    pi = make(clerk, amount="1000.00")
    assert fresh(pi).status == "done" and fresh(pi).approved_by == clerk
    assert any(isinstance(e, ev.InstructionCompleted) for e in seen)


def test_clerk_above_limit_is_told_who_must_approve_and_a_lead_can(in_tenant, clerk, lead):
    pi = make(clerk, amount="1000.01")
    assert fresh(pi).status == "pending_approval"
    with pytest.raises(ConflictError) as exc:
        instruction_approve(instruction_id=pi.pk, actor=clerk)
    assert "above your approval limit (1,000.00 USD as AR clerk)" in exc.value.message
    assert "a finance lead or a tenant admin must approve it" in exc.value.message
    assert exc.value.status_code == 409
    assert fresh(pi).status == "pending_approval"
    instruction_approve(instruction_id=pi.pk, actor=lead)
    assert fresh(pi).status == "done" and fresh(pi).approved_by == lead


def test_a_raised_clerk_limit_applies_and_a_collector_may_approve_nothing(in_tenant, people, clerk):
    admin = people[Role.TENANT_ADMIN]
    approval_limit_update(role="ar_clerk", currency="USD", max_amount=D("5000"), actor=admin)
    assert fresh(make(clerk, amount="4000.00")).status == "done"
    pi = make(people[Role.COLLECTOR], amount="1.00")
    assert fresh(pi).status == "pending_approval"
    with pytest.raises(ConflictError, match="as Collector"):
        instruction_approve(instruction_id=pi.pk, actor=people[Role.COLLECTOR])


def test_limits_are_per_currency(in_tenant, clerk, lead):
    invoice = InvoiceFactory(currency="EUR", amount=D("500.00"))
    pi = make(clerk, amount="10.00", invoice=invoice)  # the clerk has a USD limit only
    assert fresh(pi).status == "pending_approval"
    instruction_approve(instruction_id=pi.pk, actor=lead)  # unlimited in USD: unlimited everywhere
    assert fresh(pi).status == "done"


# --- each kind's ledger effect ------------------------------------------------------------------

def test_credit_memo_for_a_dispute_is_applied_to_the_invoice(in_tenant, lead, seen):
    invoice = InvoiceFactory(amount=D("500.00"))
    pi = make(lead, amount="120.00", invoice=invoice)
    invoice.refresh_from_db()
    memo = CreditMemo.objects.get()
    assert (invoice.open_balance, invoice.status) == (D("380.0000"), "partially_paid")
    assert (memo.number, memo.amount, memo.open_balance, memo.status, memo.invoice_id) == \
        ("CM-000001", D("120.0000"), D("0.0000"), "applied", invoice.pk)
    assert fresh(pi).credit_memo_id == memo.pk
    kinds = [type(e).__name__ for e in seen]
    assert kinds == ["CreditMemoIssued", "CreditMemoApplied", "InstructionCompleted"]


def test_credit_memo_settling_a_dispute_invoice_settles_it(in_tenant, lead, seen):
    invoice = InvoiceFactory(amount=D("80.00"))
    make(lead, amount="80.00", invoice=invoice)
    invoice.refresh_from_db()
    assert (invoice.open_balance, invoice.status) == (0, "paid")
    assert ev.InvoiceSettled(invoice.pk, invoice.customer_id) in seen


def test_credit_memo_above_the_open_balance_is_refused_and_leaves_no_trace(in_tenant, lead):
    invoice = InvoiceFactory(amount=D("100.00"), open_balance=D("30.00"))
    with pytest.raises(ConflictError, match="would take it below zero"):
        make(lead, amount="40.00", invoice=invoice)
    assert not PaymentInstruction.objects.exists() and not CreditMemo.objects.exists()
    invoice.refresh_from_db()
    assert invoice.open_balance == D("30.00")


def test_credit_memo_for_a_deduction_offsets_it_and_leaves_the_invoice(in_tenant, lead, seen):
    invoice = InvoiceFactory(amount=D("500.00"), open_balance=D("0"))  # the short pay already took it off
    Invoice.objects.filter(pk=invoice.pk).update(status="paid")
    make(lead, amount="75.00", invoice=invoice, origin_kind="deduction")
    invoice.refresh_from_db()
    memo = CreditMemo.objects.get()
    assert (invoice.open_balance, invoice.status) == (0, "paid")
    assert (memo.status, memo.open_balance, memo.invoice_id) == ("applied", 0, invoice.pk)
    assert [type(e).__name__ for e in seen] == ["CreditMemoIssued", "InstructionCompleted"]


def test_write_off_of_a_dispute_reduces_the_invoice(in_tenant, lead, seen):
    invoice = InvoiceFactory(amount=D("500.00"))
    pi = make(lead, kind="write_off", amount="500.00", invoice=invoice, account="6800-bad-debt")
    invoice.refresh_from_db()
    wo = WriteOff.objects.get()
    assert (invoice.open_balance, invoice.status) == (0, "paid")
    assert (wo.number, wo.account, wo.amount, wo.reduced_open_balance) == ("WO-000001", "6800-bad-debt",
                                                                           D("500.0000"), True)
    assert fresh(pi).write_off_id == wo.pk
    assert ev.InvoiceWrittenOff(invoice.pk, invoice.customer_id, D("500.0000"), "6800-bad-debt",
                                f"{pi.number}") in seen


def test_write_off_of_a_deduction_records_it_without_touching_the_invoice(in_tenant, lead):
    invoice = InvoiceFactory(amount=D("500.00"), open_balance=D("450.00"))
    Invoice.objects.filter(pk=invoice.pk).update(status="partially_paid")
    make(lead, kind="write_off", amount="50.00", invoice=invoice, origin_kind="deduction", account="4910")
    invoice.refresh_from_db()
    assert invoice.open_balance == D("450.00")
    assert WriteOff.objects.get().reduced_open_balance is False


def test_rebill_issues_a_new_invoice_numbered_after_the_original_due_per_terms(in_tenant, lead, seen):
    invoice = InvoiceFactory(amount=D("500.00"), number="INV-9")
    invoice.customer.payment_terms = "net 45"
    invoice.customer.save()
    first = make(lead, kind="rebill", amount="60.00", invoice=invoice, origin_kind="deduction")
    second = make(lead, kind="rebill", amount="10.00", invoice=invoice, origin_kind="deduction")
    rb1 = Invoice.objects.get(pk=fresh(first).rebill_invoice_id)
    rb2 = Invoice.objects.get(pk=fresh(second).rebill_invoice_id)
    assert (rb1.number, rb2.number) == ("RB-INV-9-1", "RB-INV-9-2")
    assert (rb1.amount, rb1.open_balance, rb1.status, rb1.customer_id) == (D("60.0000"), D("60.0000"), "open",
                                                                           invoice.customer_id)
    assert (rb1.due_date - rb1.issue_date).days == 45
    assert ev.InvoiceIssued(rb1.pk, invoice.customer_id, D("60.00"), "USD") in seen


def test_collection_restart_puts_the_deduction_back_on_the_invoice_never_above_its_amount(in_tenant, lead, seen):
    invoice = InvoiceFactory(amount=D("500.00"), open_balance=D("0"))
    Invoice.objects.filter(pk=invoice.pk).update(status="paid")
    make(lead, kind="collection_restart", amount="40.00", invoice=invoice, origin_kind="deduction")
    invoice.refresh_from_db()
    assert (invoice.open_balance, invoice.status) == (D("40.0000"), "partially_paid")
    assert ev.InvoiceReopened(invoice.pk, invoice.customer_id) in seen
    with pytest.raises(ConflictError, match="would exceed its amount"):
        make(lead, kind="collection_restart", amount="460.01", invoice=invoice, origin_kind="deduction")
    invoice.refresh_from_db()
    assert invoice.open_balance == D("40.00")


def test_withhold_places_a_hold_and_collection_restart_of_the_dispute_releases_it(in_tenant, lead):
    invoice = InvoiceFactory(amount=D("500.00"))
    pi = make(lead, kind="withhold", amount="200.00", invoice=invoice, origin_id=31)
    assert fresh(pi).status == "done"
    assert held_invoice_ids() == {invoice.pk}
    make(lead, kind="collection_restart", amount="200.00", invoice=invoice, origin_id=31)
    assert held_invoice_ids() == set()
    invoice.refresh_from_db()
    assert invoice.open_balance == D("500.00")  # a dispute's invoice was never paid down


def test_void_invoice_cannot_be_adjusted(in_tenant, lead):
    invoice = InvoiceFactory(amount=D("100.00"))
    Invoice.objects.filter(pk=invoice.pk).update(status="void", open_balance=0)
    with pytest.raises(ConflictError, match="is void"):
        make(lead, amount="10.00", invoice=invoice)


def test_every_transition_writes_an_audit_event(in_tenant, clerk, lead):
    pi = make(clerk, amount="2000.00")
    instruction_approve(instruction_id=pi.pk, actor=lead)
    actions = list(AuditEvent.objects.filter(object_type="paymentinstruction", object_id=pi.pk)
                   .order_by("id").values_list("action", "actor_id"))
    assert actions == [("payment_instruction.created", clerk.pk), ("payment_instruction.approved", lead.pk),
                       ("payment_instruction.done", lead.pk)]


# --- holds --------------------------------------------------------------------------------------

def test_holds_place_release_and_held_invoice_ids(in_tenant, clerk):
    a, b = InvoiceFactory(amount=D("100.00")), InvoiceFactory(amount=D("100.00"))
    hold = invoice_hold_place(invoice_id=a.pk, amount="60.00", origin_kind="dispute", origin_id=1, reason="x",
                              actor=clerk)
    again = invoice_hold_place(invoice_id=a.pk, amount="70.00", origin_kind="dispute", origin_id=1, reason="x",
                               actor=clerk)
    assert again.pk == hold.pk and again.amount == D("70.00")
    invoice_hold_place(invoice_id=b.pk, amount="10.00", origin_kind="deduction", origin_id=1, actor=clerk)
    assert held_invoice_ids() == {a.pk, b.pk}
    assert invoice_hold_release(origin_kind="dispute", origin_id=1, actor=clerk) == 1
    assert invoice_hold_release(origin_kind="dispute", origin_id=1, actor=clerk) == 0
    assert held_invoice_ids() == {b.pk}
    # a new hold for the same case after release is a new row; the released one stays as history
    invoice_hold_place(invoice_id=a.pk, amount="5.00", origin_kind="dispute", origin_id=1, actor=clerk)
    assert InvoiceHold.objects.filter(invoice=a).count() == 2
    with pytest.raises(ApplicationError, match="more than invoice"):
        invoice_hold_place(invoice_id=a.pk, amount="100.01", origin_kind="dispute", origin_id=2, actor=clerk)


def test_one_active_hold_per_case_and_invoice_in_the_database(in_tenant, clerk):
    invoice = InvoiceFactory()
    invoice_hold_place(invoice_id=invoice.pk, amount="5.00", origin_kind="dispute", origin_id=1, actor=clerk)
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceHold.objects.create(invoice=invoice, amount=D("1"), origin_kind="dispute", origin_id=1)


def test_other_tenants_holds_are_not_listed(tenant, other_tenant, member_factory):
    with tenant_context(other_tenant):
        invoice = InvoiceFactory()
        invoice_hold_place(invoice_id=invoice.pk, amount="5.00", origin_kind="dispute", origin_id=1, actor=None)
    with tenant_context(tenant):
        assert held_invoice_ids() == set()


def test_the_data_migration_seeds_existing_tenants(in_tenant):
    from importlib import import_module
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    seed = import_module("o2c.migrations.0010_seed_approval_limits").seed
    editor = SimpleNamespace(connection=connection)  # what seed() reads of the schema editor: its connection
    seed(apps, editor)
    seed(apps, editor)  # repeatable: the unique key ignores what is there
    assert sorted(ApprovalLimit.objects.values_list("role", "max_amount")) == [
        ("ar_clerk", D("1000.0000")), ("collector", D("0.0000")), ("finance_lead", None), ("tenant_admin", None)]


def test_a_batch_asked_for_by_the_system_is_checked_one_by_one_and_stored_at_once(in_tenant):
    from o2c.instructions import InstructionRequest, instructions_request
    from o2c.models import AuditEvent

    customer = CustomerFactory()
    invoice = InvoiceFactory(customer=customer, amount=D("100.00"))
    first = instruction_create(kind="write_off", customer_id=customer.pk, amount="1.00", currency="USD",
                               origin_kind="deduction", origin_id=1, invoice_id=invoice.pk, account="6100", actor=None)

    def ask(**kw):
        return InstructionRequest(**{"kind": "write_off", "customer_id": customer.pk, "amount": D("2.00"),
                                     "currency": "USD", "origin_kind": "deduction", "origin_id": 2,
                                     "invoice_id": invoice.pk, "account": "6100", **kw})

    results = instructions_request([ask(), ask(account=""), ask(amount=D("0.001")), ask(origin_id=3)])
    assert [type(r).__name__ for r in results] == ["PaymentInstruction", "ApplicationError", "ApplicationError",
                                                   "PaymentInstruction"]
    assert "GL account" in results[1].message and "decimals" in results[2].message
    stored = list(PaymentInstruction.objects.order_by("pk").values_list("number", "status", "origin_id"))
    n = int(first.number.split("-")[1])
    assert stored[1:] == [(f"PI-{n + 1:06d}", "pending_approval", 2), (f"PI-{n + 2:06d}", "pending_approval", 3)]
    assert AuditEvent.objects.filter(action="payment_instruction.created").count() == 3
    assert instructions_request([]) == []
