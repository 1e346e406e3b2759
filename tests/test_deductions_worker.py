"""Deduction research and intake on a real Celery worker (Redis, the test database)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from deductions import services
from deductions.models import Deduction, TradePromotion
from deductions.tasks import deductions_intake_all_tenants, deductions_research
from o2c.celery import app
from o2c.models import Customer, Invoice
from o2c.tenancy import tenant_context
from tests.test_celery_worker import celery_on_redis, queue, wait, worker  # noqa: F401 - the worker fixtures

D = Decimal
pytestmark = pytest.mark.django_db(transaction=True)


def _promotion_ledger(tenant):
    with tenant_context(tenant):
        customer = Customer.objects.create(external_id="C-PROMO", name="Promo Buyer")
        invoice = Invoice.objects.create(number="INV-PROMO", customer=customer, issue_date=date.today(),
                                         due_date=date.today() + timedelta(days=30), amount=D("800.00"),
                                         open_balance=D("800.00"), currency="USD")
        TradePromotion.objects.create(customer=customer, name="Spring display", start_date=date.today()
                                      - timedelta(days=10), end_date=date.today() + timedelta(days=10),
                                      amount=D("40.00"), budget=D("100.00"), approved=True)
    return customer, invoice


def test_a_new_deduction_is_researched_by_the_worker(worker, tenant):  # noqa: F811
    customer, invoice = _promotion_ledger(tenant)
    with tenant_context(tenant):
        d = services.deduction_create_by_clerk(customer=customer, invoice=invoice, amount=D("40.00"),
                                               reason="promotion", actor=None)
    # The research task went to the worker when the creation committed; one more task on the same
    # single-process worker returns only after it.
    assert wait(deductions_research.delay(tenant.pk, [d.pk])) == 0  # nothing left to find: already valid
    with tenant_context(tenant):
        d.refresh_from_db()
        assert d.status == "valid" and d.evidence["promotion"]["name"] == "Spring display"
        assert TradePromotion.objects.get().budget_used == D("40.00")


def test_the_intake_sweep_finishes_deductions_inserted_without_the_app(worker, tenant, other_tenant):  # noqa: F811
    customer, invoice = _promotion_ledger(tenant)
    with tenant_context(tenant):
        # As cash application's SQL insert leaves it: no reason code, intake pending.
        raw = Deduction.objects.create(customer=customer, invoice=invoice, amount=D("40.00"), currency="USD",
                                       reason="promotion")
    task_ids = wait(deductions_intake_all_tenants.delay())
    assert [wait(app.AsyncResult(t)) for t in task_ids] == [1, 0]
    assert wait(deductions_research.delay(tenant.pk, [raw.pk])) == 0
    with tenant_context(tenant):
        raw.refresh_from_db()
        assert (raw.intake_done, raw.reason_code.code, raw.status) == (True, "promotion", "valid")


SHORT_PAY_RULES = """
version: 1
deduction:
- name: Pricing desk
  condition: category == "pricing" && amount < 200.0
  actions: {queue: pricing-desk, priority: high}
"""


def test_deductions_from_a_posting_are_triaged_by_the_worker(worker, tenant):  # noqa: F811
    """apply_cash posts in this process; the intake task (one per batch, after the posting commits) and the
    rule run it enqueues both run in the worker, where the "deduction" case source was registered by
    DeductionsConfig.ready()."""
    from django.core.management import call_command

    from o2c.models import TriageResult
    from o2c.rules.services import triage_rules_replace
    from o2c.tasks import triage_run
    from tests.cashapp_support import Credit, import_credits

    with tenant_context(tenant):
        triage_rules_replace(content=SHORT_PAY_RULES, format="yaml")
        customer = Customer.objects.create(external_id="C-WAYNE", name="Wayne Enterprises Inc")
        for number in ("INV-0000101", "INV-0000102"):
            Invoice.objects.create(number=number, customer=customer, issue_date=date.today(),
                                   due_date=date.today() + timedelta(days=30), amount=D("1000.00"),
                                   open_balance=D("1000.00"), currency="USD")
        import_credits([Credit("SHORT-1", "900.00", payer="WAYNE ENTERPRISES", text="INV-0000101 price difference"),
                        Credit("SHORT-2", "700.00", payer="WAYNE ENTERPRISES", text="INV-0000102 price difference")])
    call_command("apply_cash", tenant=tenant.slug)
    # The worker is one process taking tasks in order: the first no-op rule run returns after the intake
    # task (queued by the posting's commit), the second after the rule run the intake queued on its commit.
    assert wait(triage_run.delay(tenant.pk, "deduction", [])) == 0
    assert wait(triage_run.delay(tenant.pk, "deduction", [])) == 0
    with tenant_context(tenant):
        small, large = Deduction.objects.order_by("amount")
        assert (small.amount, small.queue, small.priority, small.intake_done) == (D("100.00"), "pricing-desk", "high",
                                                                                 True)
        assert (large.amount, large.queue) == (D("300.00"), "")  # the rule's condition was false for it
        results = {r.case_id: r for r in TriageResult.objects.filter(kind="deduction")}
        assert set(results) == {small.pk, large.pk}  # both evaluated, in one batch
        assert results[small.pk].rules_fired == ["Pricing desk"] and results[large.pk].rules_fired == []
        assert results[small.pk].values["Pricing desk"] == {"category": "pricing", "amount": 100.0}
