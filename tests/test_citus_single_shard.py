"""On Citus, a clerk's request touches one tenant's shard and no other.

Each page and API endpoint below is requested by a signed-in clerk of a tenant with data, every query the
request ran is captured, and Citus itself is asked where each one goes: EXPLAIN names the tasks a
distributed query is split into ("Task Count: N", also for every subplan Citus plans on its own), and a
query that one shard answers has one. A query on reference tables (users, sessions) is one task as well;
one on no Citus table at all (a catalog look-up) has no task count and goes to no shard.

This is the evidence the strict setting of the Citus run (`citus.multi_task_query_log_level = 'error'` for
the app role) only implies: that setting fails a request whose query fans out, and these tests also show
which query and how far. Runs only on the cluster (O2C_CITUS=1 or all).
"""

from __future__ import annotations

import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from o2c.models import Invoice, Role
from o2c.models.ledger import InvoiceStatus
from o2c.tenancy import tenant_context
from tests import citus_support
from tests.factories import CreditMemoFactory, CustomerContactFactory, CustomerFactory, InvoiceFactory, member

pytestmark = pytest.mark.skipif(not citus_support.CITUS, reason="needs the Citus cluster (O2C_CITUS=1)")

_TASK_COUNT = re.compile(r"Task Count: (\d+)")
# Statements that read or write tables; SAVEPOINT, SET LOCAL and the like go to no shard of their own.
_PLANNED = ("select", "insert", "update", "delete", "with")


def task_counts(sql: str) -> list[int]:
    """Citus's task count of the query and of each subplan it plans apart; [] for a query on no Citus table.

    Asked as the app role inside a savepoint that is rolled back: the strict setting is lifted there only,
    so a fanning query is explained (and its count reported) instead of refused."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL citus.multi_task_query_log_level = 'off'")
        cursor.execute(f"EXPLAIN (COSTS OFF) {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return [int(n) for n in _TASK_COUNT.findall(plan)]


def fanning_queries(queries: list[dict], tenant) -> list[str]:
    """The captured queries Citus would send to more than one shard, each with its task counts."""
    found = []
    with tenant_context(tenant):
        for query in queries:
            sql = query["sql"]
            if not sql.lstrip().lower().startswith(_PLANNED):
                continue
            counts = task_counts(sql)
            if any(count != 1 for count in counts):
                found.append(f"tasks {counts}: {sql[:2000]}")
    return found


def single_shard_findings(client: Client, url: str, tenant) -> list[str]:
    """What is wrong with one request: a status other than 200, or a query that is not one shard's."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    found = [] if response.status_code == 200 else [f"{url}: status {response.status_code}"]
    assert captured.captured_queries, f"{url}: no query captured"
    return found + [f"{url}: {finding}" for finding in fanning_queries(captured.captured_queries, tenant)]


def _fill(tenant) -> SimpleNamespace:
    """Customers, invoices, a credit memo, a payment with a suggestion, a deduction and a dispute."""
    from tests.test_cross_tenant_probe import _probe_deduction, _probe_dispute, _probe_suggestion

    with tenant_context(tenant):
        customer = CustomerFactory(credit_limit=Decimal("5000.00"))
        CustomerFactory(parent=customer)
        CustomerContactFactory(customer=customer)
        invoice = InvoiceFactory(customer=customer)
        InvoiceFactory(customer=customer, status=InvoiceStatus.OPEN)
        CreditMemoFactory(customer=customer, invoice=invoice)
        world = SimpleNamespace(customer=customer, invoice=invoice)
        world.suggestion = _probe_suggestion(world)
        world.payment = world.suggestion.payment
        world.deduction = _probe_deduction(world)
        world.dispute = _probe_dispute(world)
    return world


@pytest.fixture
def world(tenant, other_tenant):
    """Tenant A's objects; tenant B has the same, so A's shard is not the only one with rows."""
    _fill(other_tenant)
    return _fill(tenant)


@pytest.fixture
def clerk(tenant):
    return member(tenant, Role.AR_CLERK)


@pytest.fixture
def clerk_session(clerk, verified_client, world):
    """A clerk of tenant A signed in, as after sign-in: the session holds the company chosen and the
    switcher's list (sign-in's one named fan-out, `access.memberships_of`), so no page asks for them again."""
    return _signed_in(verified_client, clerk)


def _signed_in(verified_client, user) -> Client:
    from o2c.access import SESSION_TENANT_KEY, memberships_of

    client = verified_client(user)
    session = client.session
    session[SESSION_TENANT_KEY] = memberships_of(user, session)[0].tenant_id
    session.save()
    return client


def _pages(world) -> list[str]:
    cursor = f"{world.invoice.due_date.isoformat()}_{world.invoice.pk}"
    return [
        reverse("dashboard"),
        reverse("customer_list"),
        reverse("customer_list") + f"?q=Customer&after={world.customer.pk}",  # the cursor's name subquery
        reverse("customer_detail", args=[world.customer.pk]),
        reverse("customer_detail", args=[world.customer.pk]) + "?status=all",
        reverse("invoice_list"),
        reverse("invoice_list") + f"?status=outstanding&bucket=1_30&q=INV&customer={world.customer.pk}",
        reverse("invoice_list") + f"?after={cursor}",
        reverse("invoice_list") + f"?before={cursor}",
        reverse("invoice_detail", args=[world.invoice.pk]),
        reverse("payments:index"),
        reverse("cashapp:index"),
        reverse("cashapp:payment", args=[world.payment.pk]),
        reverse("deductions:index"),
        reverse("deductions:detail", args=[world.deduction.pk]),
        reverse("disputes:index"),
        reverse("disputes:detail", args=[world.dispute.pk]),
    ]


def _api(world) -> list[str]:
    return [
        reverse("api_customer_list"),
        reverse("api_customer_detail", args=[world.customer.pk]),
        reverse("api_invoice_list"),
        reverse("api_invoice_detail", args=[world.invoice.pk]),
        reverse("api_payment_list"),
        reverse("api_payment_detail", args=[world.payment.pk]),
        reverse("api_deductions"),
        reverse("api_deduction", args=[world.deduction.pk]),
        reverse("api_dispute_list"),
        reverse("api_dispute_detail", args=[world.dispute.pk]),
    ]


def test_a_clerks_pages_each_touch_one_shard(tenant, world, clerk_session):
    findings = [f for url in _pages(world) for f in single_shard_findings(clerk_session, url, tenant)]
    assert not findings, "\n".join(findings)


def test_the_api_touches_one_shard_by_session_and_by_key(tenant, world, clerk, clerk_session):
    from o2c.services.tenants import api_token_create

    with tenant_context(tenant):
        _, key = api_token_create(name="single shard", role=Role.AR_CLERK, created_by=clerk)
    by_key = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    findings = [f for client in (clerk_session, by_key) for url in _api(world)
                for f in single_shard_findings(client, url, tenant)]
    second_page = by_key.get(reverse("api_invoice_list") + "?page_size=1").json()["next"]
    assert second_page, "the tenant has two invoices: a page of one links to the next"
    findings += single_shard_findings(by_key, second_page, tenant)
    assert not findings, "\n".join(findings)


def test_the_admin_and_settings_pages_touch_one_shard(tenant, world, verified_client):
    """A tenant admin who is also operator staff: the settings pages and the Django admin's lists (with
    their filters and search), a change page with its inlines."""
    admin = member(tenant, Role.TENANT_ADMIN)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = _signed_in(verified_client, admin)
    urls = [reverse("user_list"), reverse("invoice_import"), "/admin/", "/admin/o2c/customer/?currency=USD",
            f"/admin/o2c/customer/{world.customer.pk}/change/", f"/admin/o2c/invoice/?q={world.invoice.number}",
            "/admin/o2c/auditevent/", "/admin/o2c/membership/"]
    findings = [f for url in urls for f in single_shard_findings(client, url, tenant)]
    assert not findings, "\n".join(findings)


def test_the_check_sees_a_query_that_fans_out(tenant, world):
    """The control: a query without the tenant's filter is explained as one task per shard, and the
    strict setting of the Citus run refuses to run it, so the tests above can fail."""
    with tenant_context(tenant):
        fanning = task_counts(_sql(Invoice.unscoped.filter(number="x")))
        assert fanning and all(count > 1 for count in fanning)
        assert task_counts(_sql(Invoice.objects.filter(number="x"))) == [1]
        with pytest.raises(DatabaseError, match="multi-task query"), transaction.atomic():
            Invoice.unscoped.filter(number="x").exists()


def _sql(queryset) -> str:
    return connection.ops.compose_sql(*queryset.query.sql_with_params())
