"""Real concurrency: clerks and workers on separate connections (threads) posting and reversing at once.

Each thread opens its own database connection and transaction; a barrier releases them together so the
second really waits on the first one's row locks. The assertions are on what the database holds after.
"""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connections

from cashapp.models import Application, CashAppSettings
from o2c.ledger.posting import Line, Posting, PostingRefused, post, reverse
from o2c.models import Invoice
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import Credit, import_credits
from tests.factories import CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def race(tenant, *jobs):
    """Run each job in its own thread, connection and tenant transaction, released together.
    Returns what each returned or raised."""
    barrier = threading.Barrier(len(jobs))
    outcomes = [None] * len(jobs)

    def work(i, job):
        try:
            with tenant_context(tenant):
                barrier.wait(timeout=10)
                outcomes[i] = job()
        except Exception as exc:  # noqa: BLE001 - the outcome is the assertion
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return outcomes


def setup(tenant, invoice_amounts, payment_amounts):
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)  # the clerks apply by hand here
        customer = CustomerFactory()
        invoices = [InvoiceFactory(customer=customer, amount=D(a)) for a in invoice_amounts]
        import_credits([Credit(f"R{i}", a) for i, a in enumerate(payment_amounts)])
        payments = list(Payment.objects.order_by("pk"))
    return invoices, payments


def apply(payment, *lines):
    return lambda: post([Posting(payment_id=payment.pk, lines=[Line(i.pk, D(a)) for i, a in lines],
                                 source="manual")])


def test_two_clerks_cannot_both_settle_one_invoice(tenant):
    [invoice], [p1, p2] = setup(tenant, ["100.00"], ["100.00", "100.00"])
    outcomes = race(tenant, apply(p1, (invoice, "100.00")), apply(p2, (invoice, "100.00")))
    refused = [o for o in outcomes if isinstance(o, PostingRefused)]
    assert len(refused) == 1 and "has 0.00 open" in refused[0].message
    with tenant_context(tenant):
        assert Invoice.objects.get(pk=invoice.pk).open_balance == 0
        assert Application.objects.count() == 1
        assert sorted(Payment.objects.values_list("status", flat=True)) == ["applied", "unapplied"]


def test_one_payment_is_never_applied_beyond_its_amount(tenant):
    [a, b], [payment] = setup(tenant, ["100.00", "100.00"], ["100.00"])
    outcomes = race(tenant, apply(payment, (a, "100.00")), apply(payment, (b, "100.00")))
    assert sum(isinstance(o, PostingRefused) for o in outcomes) == 1
    with tenant_context(tenant):
        payment.refresh_from_db()
        assert (payment.unapplied_amount, payment.status) == (0, "applied")
        assert sorted(Invoice.objects.values_list("open_balance", flat=True)) == [0, D("100")]


def test_crossing_bundles_do_not_deadlock(tenant):
    # Each payment touches both invoices, listed in opposite orders: locks taken in id order, not in the
    # order given, so the two transactions queue instead of deadlocking.
    [a, b], [p1, p2] = setup(tenant, ["100.00", "100.00"], ["50.00", "50.00"])
    for _ in range(5):
        outcomes = race(tenant, apply(p1, (a, "5.00"), (b, "5.00")), apply(p2, (b, "5.00"), (a, "5.00")))
        assert outcomes[0] is not None and not isinstance(outcomes[0], Exception), outcomes
        assert outcomes[1] is not None and not isinstance(outcomes[1], Exception), outcomes
    with tenant_context(tenant):
        assert list(Invoice.objects.order_by("pk").values_list("open_balance", flat=True)) == [D("50"), D("50")]
        assert list(Payment.objects.order_by("pk").values_list("unapplied_amount", flat=True)) == [0, 0]


def test_a_double_reversal_reverses_once(tenant):
    [invoice], [payment] = setup(tenant, ["100.00"], ["100.00"])
    with tenant_context(tenant):
        app_id = post([Posting(payment_id=payment.pk, lines=[Line(invoice.pk, D("100.00"))],
                               source="manual")]).application_ids[payment.pk][0]
    outcomes = race(tenant, lambda: reverse([app_id]), lambda: reverse([app_id]))
    assert sum(isinstance(o, PostingRefused) for o in outcomes) == 1, outcomes
    with tenant_context(tenant):
        assert Application.objects.filter(reverses_id=app_id).count() == 1
        assert Invoice.objects.get(pk=invoice.pk).open_balance == D("100")
        assert Payment.objects.get(pk=payment.pk).unapplied_amount == D("100")


def test_a_posting_that_read_a_balance_another_clerk_then_changed_is_checked_again_under_locks(tenant):
    """Posting reads balances without locks and writes only rows still as read. Here the second clerk reads
    100.00 open while the first clerk's 60.00 is written but not committed; when it commits, the second
    clerk's write finds the row moved, starts over under row locks and is refused on the balance as it is."""
    [invoice], [p1, p2] = setup(tenant, ["100.00"], ["60.00", "100.00"])
    first_written, release_first = threading.Event(), threading.Event()

    def first_clerk():
        result = apply(p1, (invoice, "60.00"))()
        first_written.set()
        assert release_first.wait(10)
        return result

    def second_clerk():
        assert first_written.wait(10)
        return apply(p2, (invoice, "100.00"))()

    def release_when_second_waits():
        # The second clerk blocks on the invoice row the first one holds; then let the first commit.
        # On Citus the row waits on a worker: citus_lock_waits sees the whole cluster's waits.
        waits = ("SELECT count(*) FROM citus_lock_waits" if connections["owner"].is_citus else
                 "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'")
        with connections["owner"].cursor() as cur:
            for _ in range(1000):
                cur.execute(waits)
                if cur.fetchone()[0]:
                    break
                time.sleep(0.01)  # polling for the condition, not waiting out a race
        release_first.set()

    watcher = threading.Thread(target=release_when_second_waits)
    watcher.start()
    outcomes = race(tenant, first_clerk, second_clerk)
    watcher.join(30)
    assert not isinstance(outcomes[0], Exception), outcomes
    assert isinstance(outcomes[1], PostingRefused) and "has 40.00 open, 100.00 asked" in outcomes[1].message
    with tenant_context(tenant):
        assert Invoice.objects.get(pk=invoice.pk).open_balance == D("40.00")
        assert Application.objects.count() == 1
