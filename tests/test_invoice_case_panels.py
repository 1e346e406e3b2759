"""The invoice page's Deductions and Disputes panels: what staff and a portal user see, and the filing link."""

from decimal import Decimal

import pytest
from django.urls import reverse

from deductions import services as deduction_services
from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.disputes_support import file_dispute
from tests.factories import CustomerFactory, InvoiceFactory

D = Decimal


@pytest.fixture
def world(tenant):
    with tenant_context(tenant):
        mine = CustomerFactory(name="Mine Corp")
        inv = InvoiceFactory(customer=mine, number="INV-PANEL", amount=D("500.00"), open_balance=D("500.00"))
        other_inv = InvoiceFactory(customer=mine, number="INV-OTHER", amount=D("300.00"), open_balance=D("300.00"))
        ded = deduction_services.deduction_create_by_clerk(customer=mine, invoice=inv, amount=D("40.00"),
                                                           reason="damaged", actor=None)
        elsewhere = deduction_services.deduction_create_by_clerk(customer=mine, invoice=other_inv,
                                                                 amount=D("12.00"), reason="pricing", actor=None)
        dispute = file_dispute(customer=mine, amount="25.00")
        dispute.lines.update(invoice=inv)
    return {"customer": mine, "invoice": inv, "deduction": ded, "elsewhere": elsewhere, "dispute": dispute}


def test_staff_see_the_invoices_cases_and_may_file(tenant, member_factory, verified_client, world):
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    html = client.get(reverse("invoice_detail", args=[world["invoice"].pk])).content.decode()
    assert world["deduction"].number in html and world["elsewhere"].number not in html
    assert reverse("deductions:detail", args=[world["deduction"].pk]) in html
    assert world["dispute"].number in html and reverse("disputes:detail", args=[world["dispute"].pk]) in html
    assert f'{reverse("disputes:new")}?customer={world["customer"].pk}' in html


def test_an_invoice_without_cases_says_so(tenant, member_factory, verified_client, world):
    with tenant_context(tenant):
        bare = InvoiceFactory(customer=world["customer"], number="INV-BARE", amount=D("10.00"))
    client = verified_client(member_factory(tenant, Role.COLLECTOR))
    html = client.get(reverse("invoice_detail", args=[bare.pk])).content.decode()
    assert "No deduction on this invoice" in html and "No dispute on this invoice" in html
    assert reverse("disputes:new") in html  # collectors work disputes


def test_portal_user_sees_their_cases_through_portal_links(tenant, member_factory, verified_client, world):
    client = verified_client(member_factory(tenant, Role.PORTAL_USER, customer=world["customer"]))
    html = client.get(reverse("invoice_detail", args=[world["invoice"].pk])).content.decode()
    assert reverse("deductions:portal_detail", args=[world["deduction"].pk]) in html
    assert reverse("disputes:portal_detail", args=[world["dispute"].pk]) in html
    assert reverse("disputes:detail", args=[world["dispute"].pk]) not in html
    assert f'{reverse("disputes:new")}?' not in html and reverse("disputes:portal_new") in html


def test_portal_user_of_another_customer_gets_no_invoice(tenant, member_factory, verified_client, world):
    with tenant_context(tenant):
        stranger = CustomerFactory(name="Stranger Ltd")
    client = verified_client(member_factory(tenant, Role.PORTAL_USER, customer=stranger))
    assert client.get(reverse("invoice_detail", args=[world["invoice"].pk])).status_code == 404
