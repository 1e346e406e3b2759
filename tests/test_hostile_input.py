"""The clerk-input defects of issue 11, one test each: every one answered 500 (or redirected off-site)
before o2c.inputs, the input guard middleware, the signed API cursor and the safe `next` existed."""

from base64 import b64encode
from decimal import Decimal

import pytest
from django.urls import reverse

from cashapp.models import Application
from o2c.models import Role
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import ledger_with_one_suggestion
from tests.factories import CustomerFactory, InvoiceFactory


@pytest.fixture
def ledger(tenant):
    return ledger_with_one_suggestion(tenant)


@pytest.fixture
def clerk(tenant, member_factory, verified_client):
    return verified_client(member_factory(tenant, Role.TENANT_ADMIN))


@pytest.mark.parametrize("applied, message", [
    ("NaN", "is not a number"), ("sNaN", "is not a number"), ("Infinity", "is not a number"),
    ("0.00001", "more decimals than USD allows"), ("1e999999", "is too large"),
    ("100000000000000", "is too large")])
@pytest.mark.parametrize("field", ["applied", "deduction"])
def test_manual_apply_refuses_hostile_amounts_with_a_message(tenant, clerk, ledger, applied, message, field):
    _, payment, _ = ledger
    row = {"invoice": ["INV-7"], "applied": ["1.00"], "deduction": ["0"], "reason": ["pricing"]}
    row[field] = [applied]
    response = clerk.post(reverse("cashapp:payment_apply", args=[payment.pk]), row)
    assert response.status_code == 422
    page = response.content.decode()
    assert f"{field} of invoice INV-7" in page and message in page
    with tenant_context(tenant):
        assert not Application.objects.exists()
        assert Payment.objects.get().status == "unapplied"


@pytest.mark.parametrize("url", ["customer_list", "payments:index", "invoice_list", "cashapp:invoice_search",
                                 "deductions:index", "disputes:index"])
def test_a_nul_in_a_search_is_a_400_with_a_message(clerk, ledger, url):
    response = clerk.get(reverse(url), {"q": "INV\x00"})
    assert response.status_code == 400
    assert "control character" in response.content.decode()


@pytest.mark.parametrize("q", ["1e999999", "NaN", "sNaN", "-Infinity", "1e-999999", "0.00001"])
def test_a_number_like_invoice_search_is_no_error(clerk, ledger, q):
    for url in ("cashapp:invoice_search", "invoice_list", "customer_list", "payments:index"):
        assert clerk.get(reverse(url), {"q": q}).status_code == 200, url


def test_the_invoice_search_still_finds_an_open_balance(clerk, ledger):
    assert "INV-7" in clerk.get(reverse("cashapp:invoice_search"), {"q": "100.00"}).content.decode()


def _cursor(querystring: str) -> str:
    return b64encode(querystring.encode()).decode()


@pytest.mark.parametrize("cursor", [_cursor("p=abc"), _cursor("p=%00"), _cursor("p=1e999999"), _cursor("o=5&p=-1"),
                                    _cursor("r=1&p=99999999999999999999999"), "not-a-cursor", "%00", "é"])
@pytest.mark.parametrize("url", ["api_invoice_list", "api_customer_list", "api_deductions", "api_dispute_list"])
def test_a_tampered_api_cursor_is_a_400(tenant, member_factory, ledger, cursor, url):
    from django.test import Client

    from o2c.services.tenants import api_token_create
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        _, key = api_token_create(name="erp", role=Role.TENANT_ADMIN, created_by=admin)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").get(f"{reverse(url)}?cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in response.json()["detail"]


def test_an_api_cursor_of_one_tenant_shows_nothing_of_another(tenant, other_tenant, member_factory):
    """A cursor is signed, but carries no tenant: replayed by another tenant's key it pages that tenant's
    own rows (the scope decides), never the first tenant's."""
    from django.test import Client

    from o2c.services.tenants import api_token_create
    keys = {}
    for t in (tenant, other_tenant):
        admin = member_factory(t, Role.TENANT_ADMIN)
        with tenant_context(t):
            for i in range(3):
                InvoiceFactory(customer=CustomerFactory(), number=f"{t.slug}-{i}")
            keys[t.slug] = api_token_create(name="erp", role=Role.TENANT_ADMIN, created_by=admin)[1]
    a = Client(HTTP_AUTHORIZATION=f"Bearer {keys['acme']}").get(reverse("api_invoice_list") + "?page_size=1")
    next_url = a.json()["next"]
    b = Client(HTTP_AUTHORIZATION=f"Bearer {keys['globex']}").get(next_url)
    assert b.status_code == 200
    assert all(row["number"].startswith("globex-") for row in b.json()["results"])


@pytest.mark.parametrize("after", ["abc", "99999999999999999999999", "-1", "\x00", "2025-13-45_1", "2025-01-01_x"])
@pytest.mark.parametrize("url", ["customer_list", "invoice_list", "deductions:index", "disputes:index"])
def test_a_tampered_page_cursor_is_a_400_not_a_500(clerk, ledger, after, url):
    response = clerk.get(reverse(url), {"after": after})
    assert response.status_code == 400
    assert "after" in response.content.decode()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "https:evil.example",
                                    "/\\evil.example", "javascript:alert(1)"])
def test_cash_application_actions_do_not_redirect_off_site(clerk, ledger, target):
    _, payment, suggestion = ledger
    response = clerk.post(reverse("cashapp:suggestion_reject", args=[suggestion.pk]), {"next": target})
    assert response.status_code == 302
    assert response["Location"] == reverse("cashapp:index")


def test_cash_application_actions_follow_a_local_next(clerk, ledger):
    _, payment, suggestion = ledger
    local = reverse("cashapp:payment", args=[payment.pk])
    response = clerk.post(reverse("cashapp:suggestion_reject", args=[suggestion.pk]), {"next": local})
    assert response["Location"] == local


def test_control_characters_in_a_form_post_are_refused_before_any_view(tenant, clerk, ledger):
    _, payment, _ = ledger
    response = clerk.post(reverse("cashapp:payment_apply", args=[payment.pk]),
                          {"invoice": ["INV-7"], "applied": ["1.00"], "deduction": ["0"], "reason": ["pri\x07cing"]})
    assert response.status_code == 400
    assert "reason" in response.content.decode()
    with tenant_context(tenant):
        assert not Application.objects.exists()


def test_an_api_query_with_a_nul_is_a_400_json_error(tenant, member_factory):
    from django.test import Client

    from o2c.services.tenants import api_token_create
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        _, key = api_token_create(name="erp", role=Role.TENANT_ADMIN, created_by=admin)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").get(reverse("api_invoice_list") + "?status=%00")
    assert response.status_code == 400
    assert "control character" in response.json()["detail"]


@pytest.mark.parametrize("amount, message", [("1e999999", "is too large"), ("NaN", "is not a number"),
                                             ("sNaN", "is not a number"), ("0.000001", "more than 4 decimals")])
def test_disputed_amounts_through_the_api_are_refused_not_a_500(tenant, member_factory, amount, message):
    """The API's dispute lines took any Decimal; the service's check of 1e999999 against the invoice's
    currency raised InvalidOperation (a 500)."""
    from django.test import Client

    from disputes.models import Dispute
    from o2c.services.tenants import api_token_create
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        invoice = InvoiceFactory(amount=Decimal("100.00"))
        _, key = api_token_create(name="erp", role=Role.TENANT_ADMIN, created_by=admin)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").post(reverse("api_dispute_list"), {
        "customer": invoice.customer_id, "reason_code": "pricing", "message": "wrong price",
        "lines": [{"invoice": invoice.pk, "amount": amount}]}, content_type="application/json")
    assert response.status_code == 400
    assert "line 1: amount" in response.json()["detail"] and message in response.json()["detail"]
    with tenant_context(tenant):
        assert not Dispute.objects.exists()
