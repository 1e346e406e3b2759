"""API v1: key authentication scoped to the key's tenant, clean refusals, cursor paging, session use."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from o2c.models import Role
from o2c.services.tenants import api_token_create, api_token_revoke
from o2c.tenancy import current_tenant_id_or_none, tenant_context
from tests.factories import CustomerFactory, InvoiceFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(tenant, other_tenant):
    admin_a = member(tenant, Role.TENANT_ADMIN)
    admin_b = member(other_tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        a_customer = CustomerFactory(name="A Customer")
        a_invoices = [InvoiceFactory(customer=a_customer, number=f"A-{i}", amount=Decimal("10.50") * (i + 1))
                      for i in range(5)]
        a_token, a_key = api_token_create(name="A ERP", role=Role.AR_CLERK, created_by=admin_a)
    with tenant_context(other_tenant):
        b_invoice = InvoiceFactory(number="B-SECRET-1")
        b_token, b_key = api_token_create(name="B ERP", role=Role.AR_CLERK, created_by=admin_b)
    return {"a_key": a_key, "a_token": a_token, "a_invoices": a_invoices, "a_customer": a_customer,
            "b_key": b_key, "b_token": b_token, "b_invoice": b_invoice, "admin_a": admin_a}


def api(key=None, header=None):
    if header is None and key is not None:
        header = f"Bearer {key}"
    return Client(HTTP_AUTHORIZATION=header) if header else Client()


def test_token_sees_its_tenant_only(world):
    response = api(world["a_key"]).get(reverse("api_invoice_list"))
    assert response.status_code == 200
    numbers = {row["number"] for row in response.json()["results"]}
    assert numbers == {f"A-{i}" for i in range(5)}
    b_numbers = {row["number"] for row in api(world["b_key"]).get(reverse("api_invoice_list")).json()["results"]}
    assert b_numbers == {"B-SECRET-1"}


def test_invoice_detail_and_money_as_exact_strings(world):
    invoice = world["a_invoices"][2]
    body = api(world["a_key"]).get(reverse("api_invoice_detail", args=[invoice.pk])).json()
    assert body["number"] == "A-2"
    assert isinstance(body["amount"], str) and Decimal(body["amount"]) == Decimal("31.50")
    assert body["customer_external_id"] == world["a_customer"].external_id


def test_other_tenants_objects_are_404(world):
    client = api(world["a_key"])
    for url in (reverse("api_invoice_detail", args=[world["b_invoice"].pk]),
                reverse("api_customer_detail", args=[world["b_invoice"].customer_id])):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json() == {"detail": "not found"}
        assert b"B-SECRET" not in response.content


@pytest.mark.parametrize("header", [
    "Bearer",
    "Bearer a b",
    "Bearer garbage",
    "Bearer o2c_notanumber_abcd_secret",
    "Bearer o2c_999999_abcd1234_secret",
    "Bearer o2c_99999999999999999999999_abcd1234_secret",  # beyond bigint
    "Bearer o2c_-1_abcd1234_secret",
    "Bearer \u00e9\u00e9\u00e9",
])
def test_malformed_or_unknown_keys_are_401_not_500(header, world):
    response = api(header=header).get(reverse("api_invoice_list"))
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Bearer"
    assert current_tenant_id_or_none() is None


def test_no_credentials_is_refused():
    response = Client().get(reverse("api_invoice_list"))
    assert response.status_code in (401, 403)


def test_forged_secret_for_a_real_prefix_is_refused(world):
    key = world["a_key"]
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert api(forged).get(reverse("api_invoice_list")).status_code == 401


def test_a_key_replayed_against_another_tenant_is_refused(world, other_tenant, tenant):
    # Same prefix and secret, but the key claims tenant B: looked up in B, it does not exist.
    _, tenant_id, rest = world["a_key"].split("_", 2)
    assert int(tenant_id) == tenant.pk
    swapped = f"o2c_{other_tenant.pk}_{rest}"
    assert api(swapped).get(reverse("api_invoice_list")).status_code == 401


def test_revoked_key_is_refused(world, tenant):
    client = api(world["a_key"])
    assert client.get(reverse("api_invoice_list")).status_code == 200
    with tenant_context(tenant):
        api_token_revoke(token=world["a_token"], actor=world["admin_a"])
    assert client.get(reverse("api_invoice_list")).status_code == 401


def test_api_is_read_only(world):
    client = api(world["a_key"])
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(reverse("api_invoice_detail", args=[world["a_invoices"][0].pk]))
        assert response.status_code == 405, method


def test_cursor_pagination_walks_every_row_once(world):
    client = api(world["a_key"])
    url, seen, pages = reverse("api_invoice_list") + "?page_size=2", [], 0
    while url:
        body = client.get(url).json()
        seen += [row["number"] for row in body["results"]]
        url, pages = body["next"], pages + 1
        assert pages < 10
    assert pages == 3
    assert sorted(seen) == [f"A-{i}" for i in range(5)] and len(seen) == len(set(seen))


def test_a_tampered_cursor_is_a_client_error(world):
    response = api(world["a_key"]).get(reverse("api_invoice_list") + "?cursor=not-a-cursor")
    assert response.status_code == 400  # a cursor the API did not sign (tests/test_hostile_input.py), not a 500
    assert "cursor" in response.json()["detail"]


def test_status_filter(world, tenant):
    with tenant_context(tenant):
        inv = world["a_invoices"][0]
        inv.status, inv.open_balance = "paid", 0
        inv.save()
    rows = api(world["a_key"]).get(reverse("api_invoice_list") + "?status=paid").json()["results"]
    assert [r["number"] for r in rows] == ["A-0"]


def test_session_auth_for_signed_in_staff(world, verified_client):
    client = verified_client(world["admin_a"])
    response = client.get(reverse("api_invoice_list"))
    assert response.status_code == 200
    assert {r["number"] for r in response.json()["results"]} == {f"A-{i}" for i in range(5)}


def test_session_without_mfa_gets_no_data(world, client, tenant):
    staff = member(tenant, Role.COLLECTOR)
    client.force_login(staff)
    response = client.get(reverse("api_invoice_list"))
    assert response.status_code != 200
    assert b"A-0" not in response.content


def test_portal_user_sees_only_their_customer(world, tenant, client):
    with tenant_context(tenant):
        mine = CustomerFactory(name="Mine")
        child = CustomerFactory(name="Child", parent=mine)
        InvoiceFactory(customer=mine, number="MINE-1")
        InvoiceFactory(customer=child, number="CHILD-1")
    portal = member(tenant, Role.PORTAL_USER, customer=mine)
    client.force_login(portal)
    invoices = {r["number"] for r in client.get(reverse("api_invoice_list")).json()["results"]}
    assert invoices == {"MINE-1", "CHILD-1"}
    customers = {r["name"] for r in client.get(reverse("api_customer_list")).json()["results"]}
    assert customers == {"Mine", "Child"}
    other = world["a_invoices"][0]
    assert client.get(reverse("api_invoice_detail", args=[other.pk])).status_code == 404


def test_a_session_of_one_tenant_with_another_tenants_key_is_refused(world, tenant, verified_client):
    client = verified_client(member(tenant, Role.AR_CLERK))
    response = client.get(reverse("api_invoice_list"), HTTP_AUTHORIZATION=f"Bearer {world['b_key']}")
    assert response.status_code == 401
    assert b"B-SECRET" not in response.content
    # The tenant's own key alongside its session is fine.
    response = client.get(reverse("api_invoice_list"), HTTP_AUTHORIZATION=f"Bearer {world['a_key']}")
    assert response.status_code == 200
