"""Wiring of every web page: it renders for the right roles, hides other tenants' objects behind 404,
keeps a constant number of queries on list pages, and its forms reach the services."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from o2c.models import ApiToken, AuditEvent, Customer, Invitation, Invoice, Membership, Role
from o2c.tenancy import tenant_context

pytestmark = pytest.mark.django_db

CSV_HEADER = ("invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,"
              "discount_percent,discount_due_date\n")


def make_customer(tenant, name="Acme Retail", external_id="C-1", **extra):
    with tenant_context(tenant):
        return Customer.objects.create(name=name, external_id=external_id, **extra)


def make_invoices(customer, count=1, *, prefix="INV", start=0, days_overdue=10, amount="100.00", **extra):
    """`count` open invoices of `customer`, due `days_overdue` days ago (negative: not yet due)."""
    today = timezone.localdate()
    due = today - timedelta(days=days_overdue)
    with tenant_context(customer.tenant_id):
        return Invoice.objects.bulk_create([
            Invoice(number=f"{prefix}-{start + i:05d}", customer=customer, issue_date=due - timedelta(days=30),
                    due_date=due, amount=Decimal(amount), open_balance=Decimal(amount), currency=customer.currency,
                    **extra)
            for i in range(count)
        ])


@pytest.fixture
def clerk(tenant, member_factory):
    return member_factory(tenant, Role.AR_CLERK)


@pytest.fixture
def clerk_client(clerk, verified_client):
    return verified_client(clerk)


@pytest.fixture
def admin_client(tenant, member_factory, verified_client):
    return verified_client(member_factory(tenant, Role.TENANT_ADMIN))


def count_queries(client, url, **headers):
    client.get(url, **headers)  # the first request after login also saves the session
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **headers)
    assert response.status_code == 200
    return len(ctx.captured_queries)


# --- access basics ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["dashboard", "customer_list", "invoice_list", "invoice_import", "user_list",
                                  "collections", "payments:index"])
def test_anonymous_is_sent_to_sign_in(client, tenant, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_staff_without_mfa_is_sent_to_mfa(client, tenant, clerk):
    client.force_login(clerk)
    response = client.get(reverse("customer_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("mfa"))


# --- dashboard ----------------------------------------------------------------------------------

def test_dashboard_shows_totals_aging_and_top_overdue(tenant, clerk_client):
    customer = make_customer(tenant, "Bolt Hardware", "C-9")
    make_invoices(customer, 2, days_overdue=45, amount="1000.00")
    make_invoices(customer, 1, prefix="CUR", days_overdue=-5, amount="250.00")
    response = clerk_client.get(reverse("dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "2,250.00" in html  # total open
    assert "2,000.00" in html  # overdue
    assert 'class="aging-chart"' in html and "31–60" in html
    assert "Bolt Hardware" in html
    assert reverse("user_list") not in html  # settings only for admins


def test_dashboard_of_portal_user_is_their_statement(tenant, member_factory, client):
    customer = make_customer(tenant)
    user = member_factory(tenant, Role.PORTAL_USER, customer=customer)
    client.force_login(user)  # no MFA device: portal users are not forced to enrol
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"] == reverse("customer_detail", args=[customer.pk])


# --- customers ----------------------------------------------------------------------------------

def test_customer_list_shows_balances_and_searches(tenant, clerk_client):
    acme = make_customer(tenant, "Acme Retail", "C-1")
    make_customer(tenant, "Zenith Foods", "Z-7")
    make_invoices(acme, 3, days_overdue=5, amount="10.00")
    make_invoices(acme, 1, prefix="NEW", days_overdue=-3, amount="7.50")
    response = clerk_client.get(reverse("customer_list"))
    html = response.content.decode()
    assert "Acme Retail" in html and "Zenith Foods" in html
    assert "37.50" in html and "30.00" in html  # balance and overdue of Acme in the same row set

    partial = clerk_client.get(reverse("customer_list"), {"q": "zen"}, HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert body.lstrip().startswith("<tbody")  # the htmx fragment, not the page
    assert "Zenith Foods" in body and "Acme Retail" not in body
    by_id = clerk_client.get(reverse("customer_list"), {"q": "C-"}).content.decode()
    assert "Acme Retail" in by_id and "Zenith Foods" not in by_id


def test_customer_list_pages_by_keyset(tenant, clerk_client):
    for i in range(55):
        make_customer(tenant, f"Customer {i:03d}", f"K-{i:03d}")
    first = clerk_client.get(reverse("customer_list")).content.decode()
    assert "Customer 049" in first and "Customer 050" not in first
    after = re.search(r"after=(\d+)", first).group(1)
    second = clerk_client.get(reverse("customer_list"), {"after": after}).content.decode()
    assert "Customer 050" in second and "Customer 054" in second and "Customer 049" not in second


def test_customer_list_query_count_is_constant(tenant, clerk_client):
    for i in range(3):
        make_invoices(make_customer(tenant, f"Small {i}", f"S-{i}"), 2, prefix=f"S{i}")
    few = count_queries(clerk_client, reverse("customer_list"))
    for i in range(30):
        make_invoices(make_customer(tenant, f"More {i}", f"M-{i}"), 3, prefix=f"M{i}")
    many = count_queries(clerk_client, reverse("customer_list"))
    assert few == many
    assert many <= 18  # session, user, MFA device, membership lookups, scope, the page's own queries; +2 here: inside
    # the test's wrapping transaction the scope and the membership lookup hand their settings back (o2c.tenancy)


def test_customer_detail_shows_account_balance_aging_and_invoices(tenant, clerk_client):
    parent = make_customer(tenant, "Acme Group", "G-1")
    customer = make_customer(tenant, "Acme Retail", "C-1", parent=parent, credit_limit=Decimal("1000"),
                             payment_terms="2/10 net 30")
    make_invoices(customer, 2, days_overdue=70, amount="200.00")
    paid = make_invoices(customer, 1, prefix="PAID", amount="50.00")[0]
    with tenant_context(tenant):
        paid = Invoice.objects.get(pk=paid.pk)
        paid.status, paid.open_balance = "paid", 0
        paid.save()
    response = clerk_client.get(reverse("customer_detail", args=[customer.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme Retail" in html and "2/10 net 30" in html and "Acme Group" in html
    assert re.search(r'id="customer-balance">400\.00', html)
    assert "40%" in html  # credit used
    assert 'class="aging-chart"' in html
    assert "INV-00000" in html and "PAID-00000" not in html  # outstanding tab first

    paid_tab = clerk_client.get(reverse("customer_detail", args=[customer.pk]), {"status": "paid"},
                                HTTP_HX_REQUEST="true").content.decode()
    assert paid_tab.startswith('<div id="customer-invoices"') or 'id="customer-invoices"' in paid_tab[:80]
    assert "PAID-00000" in paid_tab and "INV-00000" not in paid_tab


def test_customer_of_other_tenant_is_404(tenant, other_tenant, clerk_client):
    foreign = make_customer(other_tenant, "Globex Buyer", "G-1")
    assert clerk_client.get(reverse("customer_detail", args=[foreign.pk])).status_code == 404
    assert clerk_client.get(reverse("customer_detail", args=[foreign.pk + 10_000])).status_code == 404


def test_portal_user_sees_only_their_customer(tenant, member_factory, client):
    own = make_customer(tenant, "Own Co", "O-1")
    other = make_customer(tenant, "Neighbour Co", "N-1")
    make_invoices(own, 1, prefix="OWN")
    make_invoices(other, 1, prefix="NEIGH")
    client.force_login(member_factory(tenant, Role.PORTAL_USER, customer=own))

    page = client.get(reverse("customer_detail", args=[own.pk]))
    assert page.status_code == 200 and "OWN-00000" in page.content.decode()
    assert client.get(reverse("customer_detail", args=[other.pk])).status_code == 404
    invoices = client.get(reverse("invoice_list")).content.decode()
    assert "OWN-00000" in invoices and "NEIGH" not in invoices
    assert client.get(reverse("invoice_list"), {"customer": other.pk}).content.decode().count("NEIGH") == 0
    with tenant_context(tenant):
        neighbour_invoice = Invoice.objects.get(number="NEIGH-00000")
    assert client.get(reverse("invoice_detail", args=[neighbour_invoice.pk])).status_code == 404
    customers = client.get(reverse("customer_list")).content.decode()
    assert "Own Co" in customers and "Neighbour Co" not in customers
    nav = page.content.decode()
    assert reverse("payments:index") not in nav and reverse("user_list") not in nav
    for name in ["invoice_import", "user_list", "payments:index", "collections"]:
        assert client.get(reverse(name)).status_code == 403


# --- invoices -----------------------------------------------------------------------------------

def test_invoice_list_filters(tenant, clerk_client):
    acme = make_customer(tenant, "Acme Retail", "C-1")
    euro = make_customer(tenant, "Euro GmbH", "E-1", currency="EUR")
    make_invoices(acme, 2, prefix="OLD", days_overdue=100, po_number="PO-77")
    make_invoices(acme, 2, prefix="NEW", days_overdue=-10)
    make_invoices(euro, 1, prefix="EUR", days_overdue=15)
    url = reverse("invoice_list")

    def numbers(**params):
        html = clerk_client.get(url, params).content.decode()
        return set(re.findall(r">((?:OLD|NEW|EUR)-\d+)<", html))

    assert numbers() == {"OLD-00000", "OLD-00001", "NEW-00000", "NEW-00001", "EUR-00000"}
    assert numbers(bucket="90_plus") == {"OLD-00000", "OLD-00001"}
    assert numbers(bucket="current") == {"NEW-00000", "NEW-00001"}
    assert numbers(q="NEW-00001") == {"NEW-00001"}
    assert numbers(q="PO-77") == {"OLD-00000", "OLD-00001"}
    assert numbers(currency="eur") == {"EUR-00000"}
    assert numbers(customer=euro.pk) == {"EUR-00000"}
    assert numbers(status="paid") == set()
    today = timezone.localdate()
    assert numbers(due_from=(today - timedelta(days=20)).isoformat(), due_to=today.isoformat()) == {"EUR-00000"}
    # A malformed filter is ignored, not a server error.
    assert numbers(due_from="yesterday") == numbers()


def test_invoice_list_pages_keep_filters_and_go_back(tenant, clerk_client):
    acme = make_customer(tenant)
    make_invoices(acme, 60, prefix="A", days_overdue=5)
    make_invoices(acme, 5, prefix="B", days_overdue=-5)
    url = reverse("invoice_list")
    first = clerk_client.get(url, {"status": "outstanding", "bucket": "1_30"}).content.decode()
    assert first.count('class="mono strong"') == 50
    next_href = url + re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "status=outstanding" in next_href and "bucket=1_30" in next_href and "after=" in next_href
    second = clerk_client.get(next_href).content.decode()
    assert second.count('class="mono strong"') == 10  # the 60 overdue only; the B ones are not in the bucket
    assert "A-00059" in second and "B-" not in second and 'rel="next"' not in second
    prev_href = url + re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    back = clerk_client.get(prev_href).content.decode()
    assert "A-00000" in back and "A-00049" in back and "A-00050" not in back

    fragment = clerk_client.get(next_href, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.startswith('<div id="invoice-results"') and "<html" not in fragment


def test_invoice_list_query_count_is_constant(tenant, clerk_client):
    acme = make_customer(tenant)
    make_invoices(acme, 3)
    few = count_queries(clerk_client, reverse("invoice_list") + "?status=outstanding")
    for i in range(10):
        make_invoices(make_customer(tenant, f"C{i}", f"X-{i}"), 10, prefix=f"X{i}")
    many = count_queries(clerk_client, reverse("invoice_list") + "?status=outstanding")
    assert few == many
    assert many <= 18  # session, user, MFA device, membership lookups, scope, the page's own queries; +2 here: inside
    # the test's wrapping transaction the scope and the membership lookup hand their settings back (o2c.tenancy)


def test_invoice_detail_shows_balance_and_audit_trail(tenant, clerk_client):
    customer = make_customer(tenant)
    csv = CSV_HEADER + "INV-9,C-1,Acme Retail,2026-01-01,2026-01-31,120.00,USD,PO-5,,\n"
    clerk_client.post(reverse("invoice_import"), {"file": _upload(csv)})
    csv2 = CSV_HEADER + "INV-9,C-1,Acme Retail,2026-01-01,2026-02-15,120.00,USD,PO-5,,\n"
    clerk_client.post(reverse("invoice_import"), {"file": _upload(csv2)})
    with tenant_context(tenant):
        invoice = Invoice.objects.get(number="INV-9")
    assert invoice.customer_id == customer.pk
    html = clerk_client.get(reverse("invoice_detail", args=[invoice.pk])).content.decode()
    assert "INV-9" in html and "120.00" in html and "PO-5" in html
    assert "invoice.updated" in html and "2026-01-31 → 2026-02-15" in html


def test_history_of_an_imported_invoice_says_which_import_of_which_file_by_whom_created_it(tenant, clerk_client):
    """An import writes one event for the invoices it creates, not one each: the invoice page tells the creation
    from the invoice's batch, so a clerk or an auditor still sees who brought the invoice in, from which file,
    when; later changes keep their own events, newest first, and the creation stays last."""
    csv = CSV_HEADER + "INV-9,C-1,Acme Retail,2026-01-01,2026-01-31,120.00,USD,PO-5,,\n"
    clerk_client.post(reverse("invoice_import"), {"file": _upload(csv, name="erp-jan.csv")})
    clerk_client.post(reverse("invoice_import"), {"file": _upload(csv.replace("120.00", "125.00"), name="fix.csv")})
    with tenant_context(tenant):
        invoice = Invoice.objects.get(number="INV-9")
        created_by = invoice.import_batch
        assert not AuditEvent.objects.filter(action="invoice.created").exists()
    html = clerk_client.get(reverse("invoice_detail", args=[invoice.pk])).content.decode()
    trail = html[html.index("Audit trail"):]
    entry = re.search(r'<li data-testid="created-by-import">(.*?)</li>', trail, re.S)
    assert entry, trail
    text = " ".join(re.sub(r"<[^>]+>", " ", entry.group(1)).split())
    assert "invoice.created" in text and "created by import of erp-jan.csv" in text
    assert created_by.imported_by.email in text
    assert timezone.localtime(created_by.created_at).strftime("%Y-%m-%d %H:%M") in text
    assert trail.index("invoice.updated") < trail.index("created by import")  # newest first
    assert re.search(r"amount</span>: 120.00* → 125.00*<", trail), trail
    # The customer page lists the imports that brought its invoices in, with what each did.
    with tenant_context(tenant):
        customer = invoice.customer
    page = clerk_client.get(reverse("customer_detail", args=[customer.pk])).content.decode()
    assert "invoice_import.completed" in page and "erp-jan.csv" in page and "fix.csv" not in page.split(
        "invoice_import.completed")[1].split("</li>")[0]


def test_history_of_an_invoice_made_by_hand_has_no_import_entry(tenant, clerk_client):
    invoice = make_invoices(make_customer(tenant), 1)[0]
    html = clerk_client.get(reverse("invoice_detail", args=[invoice.pk])).content.decode()
    assert "created-by-import" not in html and "No activity recorded" in html


def test_invoice_of_other_tenant_is_404(tenant, other_tenant, clerk_client):
    foreign = make_invoices(make_customer(other_tenant), 1)[0]
    assert clerk_client.get(reverse("invoice_detail", args=[foreign.pk])).status_code == 404


# --- invoice import -----------------------------------------------------------------------------

def _upload(text, name="invoices.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_invoice_import_happy_path(tenant, clerk_client):
    csv = CSV_HEADER + ("INV-1,C-1,Acme Retail,2026-01-01,2026-01-31,100.00,USD,PO1,,\n"
                        "INV-2,C-2,Bolt Ltd,2026-01-02,2026-02-01,250.50,USD,,2,2026-01-12\n")
    response = clerk_client.post(reverse("invoice_import"), {"file": _upload(csv)}, follow=True)
    html = response.content.decode()
    assert "2 new, 0 updated, 0 unchanged invoices; 2 new customers" in html
    assert "invoices.csv" in html  # in the past imports table
    with tenant_context(tenant):
        assert Invoice.objects.count() == 2
    again = clerk_client.post(reverse("invoice_import"), {"file": _upload(csv)}, follow=True).content.decode()
    assert "0 new, 0 updated, 2 unchanged" in again


def test_invoice_import_bad_file_stores_nothing_and_names_the_line(tenant, clerk_client):
    csv = CSV_HEADER + ("INV-1,C-1,Acme Retail,2026-01-01,2026-01-31,100.00,USD,,,\n"
                        "INV-2,C-1,Acme Retail,2026-01-05,2026-01-01,100.00,USD,,,\n")
    response = clerk_client.post(reverse("invoice_import"), {"file": _upload(csv)})
    assert response.status_code == 422
    html = response.content.decode()
    assert "nothing was imported" in html
    assert "line 3: due_date 2026-01-01 is before issue_date 2026-01-05" in html
    with tenant_context(tenant):
        assert Invoice.objects.count() == 0 and Customer.objects.count() == 0


def test_invoice_import_is_not_for_collectors(tenant, member_factory, verified_client):
    collector = verified_client(member_factory(tenant, Role.COLLECTOR))
    assert collector.get(reverse("invoice_import")).status_code == 403
    csv = CSV_HEADER + "INV-1,C-1,Acme Retail,2026-01-01,2026-01-31,100.00,USD,,,\n"
    assert collector.post(reverse("invoice_import"), {"file": _upload(csv)}).status_code == 403
    with tenant_context(tenant):
        assert Invoice.objects.count() == 0


# --- users, invitations, API tokens -------------------------------------------------------------

def test_users_page_is_for_tenant_admins_only(tenant, admin_client, member_factory, verified_client):
    response = admin_client.get(reverse("user_list"))
    assert response.status_code == 200 and "tenant_admin-acme@example.test" in response.content.decode()
    for role in (Role.AR_CLERK, Role.FINANCE_LEAD, Role.COLLECTOR):
        other_client = verified_client(member_factory(tenant, role))
        assert other_client.get(reverse("user_list")).status_code == 403
        assert other_client.post(reverse("api_token_create"), {"name": "x", "role": Role.AR_CLERK}).status_code == 403
    with tenant_context(tenant):
        assert ApiToken.objects.count() == 0


def test_invite_sends_an_email_and_stores_the_invitation(tenant, admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("invitation_new"),
                                     {"email": "New.Clerk@Example.test", "role": Role.AR_CLERK})
    assert response.status_code == 302
    with tenant_context(tenant):
        invitation = Invitation.objects.get()
    assert invitation.email == "new.clerk@example.test" and invitation.role == Role.AR_CLERK
    assert len(mail.outbox) == 1 and "/invite/" in mail.outbox[0].body
    page = admin_client.get(reverse("user_list")).content.decode()
    assert "new.clerk@example.test" in page  # pending

    admin_client.post(reverse("invitation_revoke", args=[invitation.pk]))
    with tenant_context(tenant):
        assert Invitation.objects.get().expires_at <= timezone.now()


def test_portal_invitation_needs_a_customer_of_this_tenant(tenant, other_tenant, admin_client):
    foreign = make_customer(other_tenant, "Globex Buyer", "G-1")
    response = admin_client.post(reverse("invitation_new"), {"email": "ap@buyer.test", "role": Role.PORTAL_USER})
    assert response.status_code == 422 and "Choose the customer" in response.content.decode()
    response = admin_client.post(reverse("invitation_new"),
                                 {"email": "ap@buyer.test", "role": Role.PORTAL_USER, "customer": foreign.pk})
    assert response.status_code == 422
    own = make_customer(tenant)
    response = admin_client.post(reverse("invitation_new"),
                                 {"email": "ap@buyer.test", "role": Role.PORTAL_USER, "customer": own.pk})
    assert response.status_code == 302
    with tenant_context(tenant):
        assert Invitation.objects.get().customer_id == own.pk


def test_api_token_key_is_shown_once_and_can_be_revoked(tenant, admin_client):
    response = admin_client.post(reverse("api_token_create"), {"name": "SAP export", "role": Role.AR_CLERK})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = re.search(r'id="new-api-key">([^<]+)<', response.content.decode()).group(1)
    assert key.startswith("o2c_")
    later = admin_client.get(reverse("user_list")).content.decode()
    assert "SAP export" in later and key not in later

    api = admin_client.__class__()
    assert api.get("/api/v1/invoices/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    with tenant_context(tenant):
        token = ApiToken.objects.get()
    assert admin_client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 302
    with tenant_context(tenant):
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert AuditEvent.objects.filter(action="api_token.revoked", object_id=token.pk).exists()
    assert api.get("/api/v1/invoices/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_membership_can_be_deactivated_but_not_ones_own(tenant, admin_client, member_factory):
    clerk = member_factory(tenant, Role.AR_CLERK)
    with tenant_context(tenant):
        clerk_membership = Membership.objects.get(user=clerk)
        own = Membership.objects.get(role=Role.TENANT_ADMIN)
    admin_client.post(reverse("membership_deactivate", args=[clerk_membership.pk]))
    admin_client.post(reverse("membership_deactivate", args=[own.pk]))
    with tenant_context(tenant):
        assert not Membership.objects.get(pk=clerk_membership.pk).is_active
        assert Membership.objects.get(pk=own.pk).is_active


def test_settings_objects_of_other_tenant_are_404(tenant, other_tenant, admin_client, member_factory):
    from o2c.services.tenants import api_token_create, invitation_create

    stranger = member_factory(other_tenant, Role.TENANT_ADMIN)
    with tenant_context(other_tenant):
        token, _ = api_token_create(name="theirs", role=Role.AR_CLERK, created_by=stranger)
        invitation_create(email="x@globex.test", role=Role.AR_CLERK, invited_by=stranger)
        invitation = Invitation.objects.get()
        membership = Membership.objects.get(user=stranger)
    assert admin_client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    assert admin_client.post(reverse("invitation_revoke", args=[invitation.pk])).status_code == 404
    assert admin_client.post(reverse("membership_deactivate", args=[membership.pk])).status_code == 404
    with tenant_context(other_tenant):
        assert ApiToken.objects.get().revoked_at is None
        assert Membership.objects.get(pk=membership.pk).is_active


# --- areas still to come, admin -----------------------------------------------------------------

@pytest.mark.parametrize("name,title", [("collections", "Collections")])
def test_area_placeholders_explain_what_comes(clerk_client, name, title):
    response = clerk_client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"<h2>{title}</h2>" in html and "Coming next" in html


def test_admin_shows_only_the_current_tenants_rows(tenant, other_tenant, member_factory, verified_client):
    make_invoices(make_customer(tenant), 1, prefix="MINE")
    make_invoices(make_customer(other_tenant, "Globex Buyer", "G-1"), 1, prefix="THEIRS")
    staff = member_factory(tenant, Role.TENANT_ADMIN)
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client = verified_client(staff)
    html = client.get("/admin/o2c/invoice/").content.decode()
    assert "MINE-00000" in html and "THEIRS" not in html
    assert client.get("/admin/o2c/auditevent/add/").status_code == 403


def test_admin_global_tables_are_for_superusers_only(tenant, member_factory, verified_client):
    staff = member_factory(tenant, Role.TENANT_ADMIN)
    staff.is_staff = True
    staff.save()
    client = verified_client(staff)
    assert client.get("/admin/o2c/user/").status_code == 403
    assert client.get("/admin/o2c/tenant/").status_code == 403


def test_number_prefix_search_matches_startswith(tenant):
    from o2c.selectors import _prefix_upper_bound, invoice_filter

    customer = make_customer(tenant)
    for prefix in ("AB-1", "AB-2", "AB-10", "AB", "ABC", "AB-1\U0010ffff"):
        make_invoices(customer, 1, prefix=prefix)
    with tenant_context(tenant):
        for search in ("AB-1", "AB", "AB-1\U0010ffff", "Z"):
            got = set(invoice_filter(Invoice.objects.all(), search=search).values_list("number", flat=True))
            assert got == set(Invoice.objects.filter(number__startswith=search).values_list("number", flat=True))
    assert _prefix_upper_bound("AB") == "AC" and _prefix_upper_bound("\U0010ffff") is None
