"""Two matching runs and a bank-file import at once, for one tenant, against real Postgres.

Three threads, each on its own connection, are released together: two clerks (or two `apply_cash`) start a
run each, and a bank file arrives whose import starts a run of its own when it commits. Afterwards the
review queue and the ERP export must be what one run after the other gives on identical data (the same
ledger built in a second tenant and worked sequentially): every payment applied once, no pending suggestion
on a payment that is applied, and a payment's export rows summing to its amount.
"""

import io
import threading
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import connections
from django.db.models import Count

from cashapp.exports import cash_application_export
from cashapp.models import Application, CashAppSettings, MatchingRun, Suggestion
from cashapp.services import matching_run_create, matching_run_execute
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import Credit, import_credits
from tests.factories import CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal
EXACT, OVERPAID, TWINS, STRANGERS, LATE = 150, 60, 10, 10, 40


def build_ledger(tenant):
    """Invoices for every payment below; a payment's invoices are its own, so the answer does not depend on
    which run matched it first."""
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
        payer = CustomerFactory(name="Initech Corporation")
        for i in range(EXACT + OVERPAID + LATE):
            InvoiceFactory(customer=payer, number=f"ITC-{i:05d}", amount=D("100.00") + i)
        for i in range(TWINS):  # two invoices of one amount per payer, and nothing else of theirs is open
            twin_payer = CustomerFactory(name=f"Twinning {i} Holdings")
            for k in range(2):
                InvoiceFactory(customer=twin_payer, number=f"TWN-{i:03d}-{k}", amount=D("700.00") + i)


def first_file():
    credits = [Credit(f"EX{i:05d}", D("100.00") + i, payer="INITECH CORPORATION",
                      invoices=((f"ITC-{i:05d}", D("100.00") + i),)) for i in range(EXACT)]
    # Overpayments: the invoice in full, the rest left on account (the payment stays partly unapplied).
    credits += [Credit(f"OV{i:05d}", D("100.00") + i + 45, payer="INITECH CORPORATION", text=f"ITC-{i:05d}")
                for i in range(EXACT, EXACT + OVERPAID)]
    credits += [Credit(f"TW{i:03d}", D("700.00") + i, payer=f"TWINNING {i} HOLDINGS") for i in range(TWINS)]
    credits += [Credit(f"ST{i:03d}", D("55.55") + i, payer="Nobody We Know GmbH", text="thanks")
                for i in range(STRANGERS)]
    return credits


def second_file():
    first = EXACT + OVERPAID
    return [Credit(f"LT{i:05d}", D("100.00") + i, payer="INITECH CORPORATION",
                   invoices=((f"ITC-{i:05d}", D("100.00") + i),)) for i in range(first, first + LATE)]


def import_file(tenant, credits, *, match_after_import=False):
    with tenant_context(tenant):
        CashAppSettings.objects.update(match_after_import=match_after_import)
        import_credits(credits)


def run_matching(tenant):
    with tenant_context(tenant):
        run = matching_run_create(trigger="command")
    return matching_run_execute(tenant_id=tenant.pk, run_id=run.pk)


def at_once(*jobs):
    """Each job in its own thread (and connection), released together; re-raises the first failure."""
    barrier, errors = threading.Barrier(len(jobs)), []

    def work(job):
        try:
            barrier.wait(timeout=10)
            job()
        except Exception as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def export_rows(tenant):
    with tenant_context(tenant):
        out = io.StringIO()
        cash_application_export(out)
    return [line.split(",") for line in out.getvalue().splitlines()[1:]]


def assert_consistent(tenant):
    with tenant_context(tenant):
        assert not MatchingRun.objects.filter(status__in=["queued", "running"]).exists(), "a run never ended"
        assert not Application.objects.values("payment_id").annotate(n=Count("id")).filter(n__gt=1).exists()
        stale = Suggestion.objects.filter(status="pending").exclude(payment__status="unapplied")
        assert not stale.exists(), f"{stale.values('payment').distinct().count()} applied payments still suggested"
        amounts = dict(Payment.objects.values_list("bank_reference", "amount"))
    per_payment = defaultdict(Decimal)
    for ref, _, amount, _, status in export_rows(tenant):
        assert D(amount) > 0, (ref, amount, status)
        per_payment[ref] += D(amount)
    assert per_payment == amounts


def test_two_runs_and_an_import_at_once_leave_what_runs_one_after_the_other_leave(tenant, other_tenant):
    for t in (tenant, other_tenant):
        build_ledger(t)
        import_file(t, first_file())

    # The reference: one run, then the second file with its automatic run.
    run_matching(other_tenant)
    import_file(other_tenant, second_file(), match_after_import=True)

    at_once(lambda: run_matching(tenant), lambda: run_matching(tenant),
            lambda: import_file(tenant, second_file(), match_after_import=True))

    assert_consistent(other_tenant)
    assert_consistent(tenant)
    assert export_rows(tenant) == export_rows(other_tenant)
    with tenant_context(tenant):
        assert Payment.objects.filter(status="applied").count() == EXACT + LATE
