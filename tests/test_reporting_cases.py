"""The disputes and deductions dashboard: figures on hand-built cases, the page, its role gate, tenancy."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from deductions.models import Deduction, ReasonCode
from deductions.services import reason_codes_ensure
from disputes.catalogue import catalogue_ensure
from disputes.models import Dispute, DisputeReason, RootCause
from o2c.models import Role
from o2c.services.audit import audit_event
from o2c.tenancy import tenant_context
from reporting.cases import _week_start, case_dashboard, period_days
from tests.factories import CustomerFactory

D = Decimal


def deduction(customer, amount, status, *, days_ago, resolved_days_ago=None, resolution="", reason="damaged",
              sla_due=None, currency="USD"):
    code = ReasonCode.objects.get(code=reason)
    d = Deduction(customer=customer, amount=D(amount), currency=currency, reason=reason, reason_code=code,
                  status=status, resolution=resolution, source="clerk", intake_done=True, sla_due=sla_due)
    d.save()
    now = timezone.now()
    resolved_at = now - timedelta(days=resolved_days_ago) if resolved_days_ago is not None else None
    recovered = D(amount) if resolution in ("rebill", "collection_restart", "repayment") else D(0)
    closed = D(amount) if status == "resolved" else D(0)
    Deduction.objects.filter(pk=d.pk).update(created_at=now - timedelta(days=days_ago), resolved_at=resolved_at,
                                             recovered_amount=recovered, closed_amount=closed)
    return d


def dispute(customer, number, amount, status, *, days_ago, resolution="", accepted=None, root_cause=None,
            due_in_hours=None, resolved=False):
    now = timezone.now()
    s = Dispute(number=number, customer=customer, amount=D(amount), currency="USD",
                reason_code=DisputeReason.objects.get(code="pricing"), channel="clerk", status=status,
                resolution=resolution, accepted_amount=D(accepted) if accepted is not None else None,
                root_cause=RootCause.objects.get(code=root_cause) if root_cause else None, state_entered_at=now,
                due_at=now + timedelta(hours=due_in_hours) if due_in_hours is not None else None)
    s.save()
    Dispute.objects.filter(pk=s.pk).update(created_at=now - timedelta(days=days_ago))
    if resolved:
        audit_event("dispute.resolved", s, {"status": ["in_review", "resolved"]})
    return s


@pytest.fixture
def cases(tenant):
    with tenant_context(tenant):
        reason_codes_ensure()
        catalogue_ensure()
        c = CustomerFactory(name="Mine Corp")
        ds = [
            deduction(c, "100.00", "open", days_ago=5, sla_due=timezone.now() - timedelta(hours=1)),
            deduction(c, "50.00", "in_research", days_ago=20, reason="pricing"),
            deduction(c, "30.00", "valid", days_ago=10),
            deduction(c, "20.00", "invalid", days_ago=12, reason="pricing"),
            deduction(c, "40.00", "resolved", days_ago=8, resolved_days_ago=6, resolution="credit_memo"),
            deduction(c, "60.00", "resolved", days_ago=14, resolved_days_ago=4, resolution="repayment",
                      reason="freight"),
            deduction(c, "10.00", "resolved", days_ago=30, resolved_days_ago=0, resolution="write_off"),
            deduction(c, "999.00", "cancelled", days_ago=3),  # bookkeeping: counted by status only
            deduction(c, "500.00", "open", days_ago=200),  # outside 90 days
        ]
        ss = [
            dispute(c, "DS-1", "200.00", "new", days_ago=1, due_in_hours=-2),
            dispute(c, "DS-2", "80.00", "in_review", days_ago=3, due_in_hours=5),
            dispute(c, "DS-3", "100.00", "resolved", days_ago=2, resolution="accepted", accepted="100.00",
                    root_cause="pricing_error", resolved=True),
            dispute(c, "DS-4", "100.00", "closed", days_ago=4, resolution="partly_accepted", accepted="30.00",
                    root_cause="pricing_error", resolved=True),
            dispute(c, "DS-5", "50.00", "resolved", days_ago=10, resolution="rejected", accepted="0.00",
                    root_cause="customer_error", resolved=True),
        ]
        audit_event("dispute.escalated", ss[0], {"escalation_level": [0, 1]})
    return {"customer": c, "deductions": ds, "disputes": ss}


def test_figures_on_hand_built_cases(tenant, cases):
    with tenant_context(tenant):
        board = case_dashboard(currency="USD", days=90)
    volumes = {b.key: (b.count, b.amount) for b in board.deduction_status}
    assert volumes == {"open": (1, D("100.00")), "in_research": (1, D("50.00")), "valid": (1, D("30.00")),
                       "invalid": (1, D("20.00")), "resolved": (3, D("110.00")), "cancelled": (1, D("999.00"))}
    assert {b.key: b.count for b in board.dispute_status} == {"new": 1, "in_review": 1, "resolved": 2, "closed": 1}

    deductions_cycle, disputes_cycle = board.cycle_times
    # Resolved after 2, 10 and 30 days: median 10, p90 = 10 + 0.8 * 20 = 26.
    assert (deductions_cycle.resolved, deductions_cycle.median_days, deductions_cycle.p90_days) == (3, 10.0, 26.0)
    # Resolved now after 2, 4, 10 days: median 4, p90 = 4 + 0.8 * 6 = 8.8.
    assert (disputes_cycle.resolved, disputes_cycle.median_days, disputes_cycle.p90_days) == (3, 4.0, 8.8)

    d = board.decisions
    assert (d.valid, d.valid_amount, d.invalid, d.invalid_amount) == (3, D("80.00"), 2, D("80.00"))
    assert (d.accepted, d.accepted_amount, d.rejected, d.rejected_amount) == (2, D("130.00"), 1, D("120.00"))
    assert (d.deductions_breached_now, d.disputes_breached_now) == (1, 1)
    assert board.breaches_in_period == 2  # the deduction past sla_due, the dispute's escalation
    assert board.weeks[-1].disputes == 1 and board.weeks[-1].deductions == 1
    # Weekly medians: the three disputes all resolved this week (median 4 days); deductions by their week.
    assert board.weeks[-1].dispute_median_days == 4.0
    by_week = {}
    for resolved_days_ago, cycle_days in ((6, 2.0), (4, 10.0), (0, 30.0)):
        by_week.setdefault(_week_start(timezone.now() - timedelta(days=resolved_days_ago)), []).append(cycle_days)
    expected = {week: sum(days) / len(days) for week, days in by_week.items()}  # one or two per week: the mean
    assert {w.week: w.deduction_median_days for w in board.weeks if w.deduction_median_days is not None} == expected

    assert [(b.key, b.count) for b in board.dispute_root_causes] == [("pricing_error", 2), ("", 2),
                                                                      ("customer_error", 1)]
    categories = {b.key: (b.count, b.amount) for b in board.deduction_categories}
    assert categories == {"damage": (4, D("180.00")), "pricing": (2, D("70.00")), "freight": (1, D("60.00"))}
    # Recovery: 60 repaid of 110 resolved; DDO: 700 open (incl. the old one) / 310 opened in 90 days * 90.
    assert board.recovery["recovery_rate"] == D("54.5")
    assert board.recovery["outstanding"] == D("700.00")
    assert board.recovery["ddo"] == D("203.2")


def test_period_narrows_the_cases(tenant, cases):
    with tenant_context(tenant):
        board = case_dashboard(currency="USD", days=30)
        year = case_dashboard(currency="USD", days=365)
    assert sum(b.count for b in board.deduction_status) == 7  # opened 30 days ago is just outside
    assert sum(b.count for b in year.deduction_status) == 9
    assert len(year.weeks) >= 52
    assert [period_days(v) for v in ("30", "365", "7", "x", None)] == [30, 365, 90, 90, 90]


def test_page_shows_the_figures_and_charts(tenant, cases, member_factory, verified_client):
    client = verified_client(member_factory(tenant, Role.FINANCE_LEAD))
    html = client.get(reverse("reporting:index")).content.decode()
    assert 'data-kind="deduction" data-status="resolved"><td>Deductions</td><td>Resolved</td><td class="num">3' in html
    assert 'aria-label="Disputes opened in the period by root cause"' in html
    assert "Pricing error: 2" in html and "Customer error: 1" in html
    assert 'id="kpi-recovery">54.5%' in html
    assert 'id="kpi-breached">2<' in html
    assert 'aria-current="page">90 days' in html
    assert "style=" not in html.split("<main", 1)[-1]  # the CSP forbids inline styles
    narrow = client.get(reverse("reporting:index"), {"days": "30"}).content.decode()
    assert 'aria-current="page">30 days' in narrow


def test_page_queries_do_not_grow_with_cases(tenant, cases, member_factory, verified_client, django_assert_num_queries):
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    client.get(reverse("reporting:index"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("reporting:index"))
    assert len(few) <= 30  # session, membership, tenant, then one aggregate per figure
    with tenant_context(tenant):
        for i in range(20):
            deduction(cases["customer"], "5.00", "resolved", days_ago=9, resolved_days_ago=1, resolution="rebill")
            dispute(cases["customer"], f"DS-X{i}", "10.00", "resolved", days_ago=3, resolution="rejected",
                    accepted="0.00", root_cause="other", resolved=True)
    with django_assert_num_queries(len(few)):
        client.get(reverse("reporting:index"))


def test_empty_tenant_page_renders(tenant, member_factory, verified_client):
    client = verified_client(member_factory(tenant, Role.COLLECTOR))
    response = client.get(reverse("reporting:index"))
    assert response.status_code == 200
    assert "No deductions or disputes opened in the period." in response.content.decode()


def test_portal_user_may_not_see_the_dashboard(tenant, cases, member_factory, verified_client):
    client = verified_client(member_factory(tenant, Role.PORTAL_USER, customer=cases["customer"]))
    assert client.get(reverse("reporting:index")).status_code == 403


def test_other_tenants_cases_never_show(tenant, other_tenant, cases, member_factory, verified_client):
    with tenant_context(other_tenant):
        reason_codes_ensure()
        catalogue_ensure()
        theirs = CustomerFactory(name="Globex Buyer")
        deduction(theirs, "7777.00", "open", days_ago=2, reason="tax")
        dispute(theirs, "DS-THEIRS", "8888.00", "waiting_customer", days_ago=2, root_cause="shipping_error")
    client = verified_client(member_factory(tenant, Role.TENANT_ADMIN))
    html = client.get(reverse("reporting:index")).content.decode()
    for marker in ("7,777", "8,888", "Shipping error", "Waiting for customer", "Tax:"):
        assert marker not in html
