"""The demo seed (small scale) and the aging snapshot it feeds."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from o2c.models import CreditMemo, Customer, Invoice, Membership, Role, Tenant, User
from o2c.models.ledger import InvoiceStatus
from o2c.selectors import AGING_BUCKETS, aging
from o2c.services.demo import DEMO_PASSWORD, SUPERUSER_EMAIL
from o2c.tenancy import tenant_context
from reporting.models import AgingSnapshot
from reporting.services import aging_snapshot_take
from reporting.tasks import snapshot_aging_all_tenants


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", "--customers", "20", "--invoices", "200", *args, stdout=out)
    return out.getvalue()


def counts(tenant) -> tuple:
    with tenant_context(tenant):
        return Customer.objects.count(), Invoice.objects.count(), CreditMemo.objects.count(), Membership.objects.count()


@pytest.fixture
def seeded(db):
    out = seed()
    return out, {t.slug: t for t in Tenant.objects.all()}


def test_seed_fills_every_aging_bucket_in_both_tenants(seeded):
    _, tenants = seeded
    assert set(tenants) == {"acme", "globex"}
    assert tenants["globex"].base_currency == "EUR"
    for tenant in tenants.values():
        with tenant_context(tenant):
            buckets = aging(Invoice.objects.all())
            assert [b.key for b in buckets] == [k for k, *_ in AGING_BUCKETS]
            assert all(b.count > 0 and b.amount > 0 for b in buckets), buckets
            statuses = set(Invoice.objects.values_list("status", flat=True))
            assert {InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID} <= statuses
            assert Invoice.objects.filter(discount_percent__gt=0, discount_due_date__isnull=False).exists()
            assert Customer.objects.filter(parent__isnull=False).exists()
            assert CreditMemo.objects.exists()
            assert not Invoice.objects.exclude(currency=tenant.base_currency).exists()


def test_seed_creates_every_role_with_the_demo_password(seeded):
    out, tenants = seeded
    for tenant in tenants.values():
        with tenant_context(tenant):
            memberships = list(Membership.objects.select_related("user", "customer"))
        roles = {m.role for m in memberships}
        assert roles == set(Role.values)
        for membership in memberships:
            assert membership.user.check_password(DEMO_PASSWORD), membership.user.email
            assert membership.user.email in out
        portal = next(m for m in memberships if m.role == Role.PORTAL_USER)
        assert portal.customer is not None
    superuser = User.objects.get(email=SUPERUSER_EMAIL)
    assert superuser.is_superuser and superuser.check_password(DEMO_PASSWORD)
    assert DEMO_PASSWORD in out


def test_seed_twice_duplicates_nothing(seeded):
    _, tenants = seeded
    before = {slug: counts(t) for slug, t in tenants.items()}
    out = seed()
    assert "already exists" in out
    assert {slug: counts(t) for slug, t in tenants.items()} == before
    assert Tenant.objects.count() == 2


def test_seed_if_empty_leaves_a_used_database_alone(other_tenant):
    out = seed("--if-empty")
    assert "skipped" in out
    assert list(Tenant.objects.values_list("slug", flat=True)) == [other_tenant.slug]
    assert counts(other_tenant) == (0, 0, 0, 0)


def test_aging_snapshot_matches_aging_and_is_idempotent(seeded):
    _, tenants = seeded
    tenant = tenants["acme"]
    with tenant_context(tenant):
        buckets = {b.key: b for b in aging(Invoice.objects.all())}
        snapshot = aging_snapshot_take()
        again = aging_snapshot_take()
        assert again.pk == snapshot.pk
        assert AgingSnapshot.objects.count() == 1
    for key, field in AgingSnapshot.BUCKET_FIELDS.items():
        assert getattr(snapshot, field) == buckets[key].amount
    assert snapshot.total == sum((b.amount for b in buckets.values()), Decimal("0"))
    assert snapshot.open_invoices == sum(b.count for b in buckets.values())
    assert snapshot.currency == "USD"


def test_aging_snapshot_as_of_an_earlier_date_moves_invoices_back_a_bucket(seeded):
    _, tenants = seeded
    today = timezone.localdate()
    with tenant_context(tenants["acme"]):
        now, earlier = aging_snapshot_take(as_of=today), aging_snapshot_take(as_of=today - timedelta(days=60))
        assert AgingSnapshot.objects.count() == 2
    # Sixty days ago fewer invoices were 90+ days late, more were current.
    assert earlier.days_90_plus < now.days_90_plus
    assert earlier.current > now.current


def test_snapshot_all_tenants_task_scopes_each_tenant(seeded):
    _, tenants = seeded
    # Eager here (no REDIS_URL in tests); tests/test_celery_worker.py runs the same through a real worker.
    assert len(snapshot_aging_all_tenants.delay().get()) == 2
    for tenant in tenants.values():
        with tenant_context(tenant):
            snapshot = AgingSnapshot.objects.get()
            assert snapshot.total == sum((b.amount for b in aging(Invoice.objects.all())), Decimal("0"))
            assert snapshot.currency == tenant.base_currency


def test_seed_gives_every_case_area_something_to_show(seeded):
    from deductions.models import Deduction
    from deductions.selectors import deduction_scope
    from disputes.models import Dispute, DisputeMessage
    from disputes.selectors import dispute_scope
    from o2c.models import PaymentInstruction, TreasuryAccount
    from reporting.cases import case_dashboard

    _, tenants = seeded
    for tenant in tenants.values():
        with tenant_context(tenant):
            statuses = set(Deduction.objects.values_list("status", flat=True))
            assert {"open", "in_research", "valid", "invalid", "resolved"} <= statuses, statuses
            resolutions = set(Deduction.objects.filter(status="resolved").values_list("resolution", flat=True))
            assert {"credit_memo", "write_off", "repayment"} <= resolutions, resolutions
            assert {"new", "triaged", "in_review", "waiting_customer", "resolved", "closed"} <= set(
                Dispute.objects.values_list("status", flat=True))
            assert DisputeMessage.objects.filter(internal=True).exists()
            replied = Dispute.objects.filter(status="in_review", messages__from_customer=True)
            assert replied.filter(messages__internal=True).exists()  # the customer answered, staff noted
            assert Dispute.objects.filter(status__in=("new", "triaged", "in_review", "waiting_customer"),
                                          due_at__lte=timezone.now()).exists()
            assert Dispute.objects.filter(escalation_level__gt=0).exists()
            assert Dispute.objects.filter(root_cause__isnull=False).exists()
            instructions = set(PaymentInstruction.objects.values_list("kind", "status"))
            assert {("credit_memo", "pending_approval"), ("refund", "approved"), ("credit_memo", "done"),
                    ("write_off", "done")} <= instructions, instructions
            assert TreasuryAccount.objects.exists()
            portal = Membership.objects.get(role=Role.PORTAL_USER)
            assert deduction_scope(portal).exists() and dispute_scope(portal).exists()
            board = case_dashboard(currency=tenant.base_currency, days=365)
            assert board.dispute_root_causes and board.deduction_categories and board.breaches_in_period
            assert all(c.resolved for c in board.cycle_times)
