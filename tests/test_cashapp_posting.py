"""Posting and reversing applications: balances, deductions, refusals, database guarantees."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from cashapp.models import Application
from deductions.models import Deduction
from o2c.errors import ConflictError
from o2c.ledger import events
from o2c.ledger.posting import Line, Posting, PostingConflict, PostingRefused, post, reverse
from o2c.models import AuditEvent, Invoice
from payments.models import Payment
from tests.cashapp_support import Credit, import_credits
from tests.factories import CustomerFactory, InvoiceFactory

D = Decimal


def _payment(reference="R1", amount="100.00", **kwargs) -> Payment:
    import_credits([Credit(reference, amount, **kwargs)])
    return Payment.objects.get(bank_reference=reference)


def _manual(payment, *lines):
    return Posting(payment_id=payment.pk, lines=list(lines), source="manual")


def test_full_application_settles_invoice_and_payment(in_tenant):
    invoice = InvoiceFactory(amount=D("100.00"))
    payment = _payment(amount="100.00")
    result = post([_manual(payment, Line(invoice.pk, D("100.00")))])
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, payment.unapplied_amount, payment.customer_id) == ("applied", 0, invoice.customer_id)
    assert (invoice.status, invoice.open_balance) == ("paid", 0)
    app = Application.objects.get(pk=result.application_ids[payment.pk][0])
    assert (app.applied_amount, app.customer_id, app.source) == (D("100.00"), invoice.customer_id, "manual")


def test_short_pay_with_deduction_and_bundle(in_tenant):
    customer = CustomerFactory()
    a = InvoiceFactory(customer=customer, amount=D("300.00"))
    b = InvoiceFactory(customer=customer, amount=D("200.00"))
    payment = _payment(amount="450.00")
    post([_manual(payment, Line(a.pk, D("300.00")),
                  Line(b.pk, D("150.00"), deduction=D("50.00"), deduction_reason="damaged",
                       deduction_text="2 broken"))])
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status, b.open_balance) == ("paid", "paid", 0)
    deduction = Deduction.objects.get()
    assert (deduction.invoice_id, deduction.amount, deduction.reason, deduction.reason_text, deduction.status) == (
        b.pk, D("50.00"), "damaged", "2 broken", "open")
    # Linked to the application that created it (joined by payment and invoice inside the posting statement).
    assert (deduction.application.invoice_id, deduction.application.deduction_amount, deduction.payment_id) == (
        b.pk, D("50.00"), payment.pk)


def test_partial_application_leaves_both_partially_open(in_tenant):
    invoice = InvoiceFactory(amount=D("100.00"))
    payment = _payment(amount="80.00")
    post([_manual(payment, Line(invoice.pk, D("30.00")))])
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, payment.unapplied_amount) == ("partially_applied", D("50.00"))
    assert (invoice.status, invoice.open_balance) == ("partially_paid", D("70.00"))


@pytest.mark.parametrize("lines, message", [
    ([("a", "100.01")], "payment has 100.00 unapplied, 100.01 asked"),
    ([("b", "60.00")], "has 50.00 open, 60.00 asked"),
    ([("a", "10.00"), ("a", "5.00")], "appears twice"),
    ([("a", "-1.00")], "must be positive"),
])
def test_refusals_write_nothing(in_tenant, lines, message):
    invoices = {"a": InvoiceFactory(amount=D("200.00")), "b": InvoiceFactory(amount=D("50.00"))}
    payment = _payment(amount="100.00")
    with pytest.raises(PostingRefused, match=message):
        post([_manual(payment, *[Line(invoices[k].pk, D(v)) for k, v in lines])])
    assert not Application.objects.exists()
    payment.refresh_from_db()
    assert payment.unapplied_amount == payment.amount


def test_deduction_needs_reason_and_currency_must_agree(in_tenant):
    invoice = InvoiceFactory(amount=D("100.00"))
    eur = InvoiceFactory(amount=D("100.00"), currency="EUR")
    payment = _payment(amount="100.00")
    with pytest.raises(PostingRefused, match="needs a reason"):
        post([_manual(payment, Line(invoice.pk, D("90.00"), deduction=D("10.00")))])
    with pytest.raises(PostingRefused, match="is in EUR, the payment in USD"):
        post([_manual(payment, Line(eur.pk, D("100.00")))])


def test_one_payment_and_invoice_twice_in_a_batch_is_refused(in_tenant):
    invoice = InvoiceFactory(amount=D("100.00"))
    payment = _payment(amount="100.00")
    twice = [_manual(payment, Line(invoice.pk, D("40.00"))), _manual(payment, Line(invoice.pk, D("10.00")))]
    result = post(twice, partial=True)
    assert [p.refused for p in result.posted] == [""]
    assert "appear in two postings of one batch" in result.refused[0].refused
    assert Application.objects.count() == 1


def test_partial_batch_posts_what_fits_in_order(in_tenant):
    invoice = InvoiceFactory(amount=D("100.00"))
    first, second = _payment("R1", "100.00"), _payment("R2", "100.00")
    result = post([_manual(first, Line(invoice.pk, D("100.00"))), _manual(second, Line(invoice.pk, D("100.00")))],
                  partial=True)
    assert [p.payment_id for p in result.posted] == [first.pk]
    assert "has 0.00 open" in result.refused[0].refused


def test_reverse_restores_balances_and_cancels_deduction(in_tenant):
    invoice = InvoiceFactory(amount=D("100.00"))
    payment = _payment(amount="90.00")
    app_id = post([_manual(payment, Line(invoice.pk, D("90.00"), deduction=D("10.00"),
                                         deduction_reason="pricing"))]).application_ids[payment.pk][0]
    reversal = reverse([app_id], reason="wrong customer")
    [reversal_id] = reversal.application_ids
    assert reversal.events == [events.DeductionCancelled(app_id), events.InvoiceReopened(invoice.pk,
                                                                                         invoice.customer_id)]
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, payment.unapplied_amount) == ("unapplied", D("90.00"))
    assert (invoice.status, invoice.open_balance) == ("open", D("100.00"))
    assert Deduction.objects.get().status == "cancelled"
    reversal = Application.objects.get(pk=reversal_id)
    assert (reversal.applied_amount, reversal.deduction_amount, reversal.reverses_id) == (D("-90"), D("-10"), app_id)
    with pytest.raises(PostingConflict, match="reversed already") as refused:
        reverse([app_id])
    assert isinstance(refused.value, ConflictError) and refused.value.status_code == 409
    with pytest.raises(PostingRefused, match="is a reversal"):
        reverse([reversal_id])


def test_posting_reports_what_it_caused(in_tenant):
    customer = CustomerFactory()
    settled, partly = InvoiceFactory(customer=customer, amount=D("100.00")), InvoiceFactory(customer=customer,
                                                                                           amount=D("100.00"))
    full, half = _payment("R1", "90.00"), _payment("R2", "80.00")
    result = post([_manual(full, Line(settled.pk, D("90.00"), deduction=D("10.00"), deduction_reason="pricing",
                                      deduction_text="price list 2024")),
                   _manual(half, Line(partly.pk, D("30.00")))])
    [app_id] = result.application_ids[full.pk]
    assert result.events == [
        events.InvoiceSettled(settled.pk, customer.pk), events.PaymentFullyApplied(full.pk),
        events.DeductionOpened(app_id, full.pk, settled.pk, customer.pk, D("10.00"), "USD", "pricing",
                               "price list 2024")]
    # The deductions app, not the ledger, wrote the deduction, and audited it in the same statement.
    deduction = Deduction.objects.get()
    assert (deduction.application_id, deduction.status) == (app_id, "open")
    event = AuditEvent.objects.get(action="deduction.opened")
    assert (event.object_type, event.object_id, event.changes["reason"]) == ("deduction", deduction.pk,
                                                                             [None, "pricing"])


def test_the_locked_path_reports_the_same_events(in_tenant):
    customer = CustomerFactory()
    x, y = InvoiceFactory(customer=customer, amount=D("100.00")), InvoiceFactory(customer=customer, amount=D("100.00"))
    p, q = _payment("R1", "150.00"), _payment("R2", "90.00")
    # The same payment and invoice twice in a batch send the optimistic attempt back to the locked path.
    result = post([_manual(p, Line(x.pk, D("60.00"))), _manual(p, Line(x.pk, D("40.00"))),
                   _manual(q, Line(y.pk, D("90.00"), deduction=D("10.00"), deduction_reason="damaged"))],
                  partial=True)
    assert len(result.refused) == 1
    [app_id] = result.application_ids[q.pk]
    assert result.events == [events.InvoiceSettled(y.pk, customer.pk), events.PaymentFullyApplied(q.pk),
                             events.DeductionOpened(app_id, q.pk, y.pk, customer.pk, D("10.00"), "USD", "damaged")]
    assert Deduction.objects.get().application_id == app_id


def test_a_handler_that_refuses_rolls_the_posting_back(in_tenant):
    invoice = InvoiceFactory(amount=D("100.00"))
    payment = _payment(amount="90.00")

    def refuse(batch):
        raise ConflictError("not now")

    events.handles(events.DeductionOpened)(refuse)
    try:
        with pytest.raises(ConflictError, match="not now"):
            post([_manual(payment, Line(invoice.pk, D("90.00"), deduction=D("10.00"), deduction_reason="pricing"))])
    finally:
        events._handlers[events.DeductionOpened].remove(refuse)
    assert not Application.objects.exists() and not Deduction.objects.exists()
    invoice.refresh_from_db()
    assert invoice.open_balance == D("100.00")


def test_a_deduction_being_worked_refuses_the_reversal(in_tenant):
    invoice = InvoiceFactory(amount=D("100.00"))
    payment = _payment(amount="90.00")
    app_id = post([_manual(payment, Line(invoice.pk, D("90.00"), deduction=D("10.00"),
                                         deduction_reason="pricing"))]).application_ids[payment.pk][0]
    with connection.cursor() as cursor:  # a status the deductions workflow sets; not one reversal may undo
        cursor.execute("UPDATE deductions_deduction SET status = 'in_research' WHERE tenant_id = %s", [in_tenant.pk])
    with pytest.raises(ConflictError, match=f"deduction of application {app_id} is being worked"):
        reverse([app_id])
    assert not Application.objects.filter(reverses_id=app_id).exists()
    assert Deduction.objects.get().status == "in_research"
    invoice.refresh_from_db()
    assert invoice.open_balance == 0


def test_applications_are_append_only(in_tenant):
    invoice = InvoiceFactory(amount=D("100.00"))
    payment = _payment(amount="100.00")
    post([_manual(payment, Line(invoice.pk, D("100.00")))])
    for statement in ("UPDATE cashapp_application SET applied_amount = 1", "DELETE FROM cashapp_application"):
        with pytest.raises(Exception, match="permission denied|append-only"), transaction.atomic():
            with connection.cursor() as cursor:  # the tenant's rows only: on Citus, its one shard
                cursor.execute(f"{statement} WHERE tenant_id = %s", [in_tenant.pk])


@pytest.mark.parametrize("statement", [
    "UPDATE payments_payment SET unapplied_amount = -1",
    "UPDATE payments_payment SET unapplied_amount = amount + 1",
    "UPDATE o2c_invoice SET open_balance = -0.01",
])
def test_balances_are_guarded_by_the_database(in_tenant, statement):
    InvoiceFactory(amount=D("100.00"))
    _payment(amount="100.00")
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:  # the tenant's rows only: on Citus, its one shard
            cursor.execute(f"{statement} WHERE tenant_id = %s", [in_tenant.pk])


def test_another_tenants_invoice_is_not_found(tenant, other_tenant):
    from o2c.tenancy import tenant_context

    with tenant_context(other_tenant):
        foreign = InvoiceFactory(amount=D("100.00"))
    with tenant_context(tenant):
        payment = _payment(amount="100.00")
        with pytest.raises(PostingRefused, match=f"invoice {foreign.pk} not found"):
            post([_manual(payment, Line(foreign.pk, D("100.00")))])
    with tenant_context(other_tenant):
        assert Invoice.objects.get(pk=foreign.pk).open_balance == D("100.00")


def test_array_literals_round_trip_through_postgres(in_tenant):
    from o2c.bulk import pg_array as _array

    texts = ['paid', 'a "quoted" word', 'back\\slash', 'comma, {brace}', 'NULL', '', None]
    numbers = [D("1234.56"), D("-0.00"), D("1E+2"), D("0.001"), None, 7]
    with connection.cursor() as cur:
        cur.execute("SELECT array_agg(x) FROM unnest(%s::text[]) AS x", [_array(texts)])
        assert cur.fetchone()[0] == texts
        cur.execute("SELECT array_agg(x) FROM unnest(%s::numeric[]) AS x", [_array(numbers)])
        assert cur.fetchone()[0] == [D("1234.56"), D("0.00"), D("100"), D("0.001"), None, D(7)]
