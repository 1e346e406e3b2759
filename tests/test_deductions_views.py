"""Deduction pages and API: wiring, roles, 409 on illegal moves, portal isolation."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from deductions import services
from deductions.models import Deduction
from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, InvoiceFactory

D = Decimal


@pytest.fixture
def world(tenant):
    with tenant_context(tenant):
        mine = CustomerFactory(name="Mine Corp")
        theirs = CustomerFactory(name="Theirs Corp")
        inv_mine = InvoiceFactory(customer=mine, number="INV-MINE", amount=D("500.00"))
        inv_theirs = InvoiceFactory(customer=theirs, number="INV-THEIRS", amount=D("500.00"))
        d_mine = services.deduction_create_by_clerk(customer=mine, invoice=inv_mine, amount=D("40.00"),
                                                    reason="damaged", actor=None)
        d_theirs = services.deduction_create_by_clerk(customer=theirs, invoice=inv_theirs, amount=D("30.00"),
                                                      reason="pricing", actor=None,
                                                      documents=[SimpleUploadedFile("pod.pdf", b"%PDF-1.4 pod")])
    return {"mine": mine, "theirs": theirs, "inv_mine": inv_mine, "inv_theirs": inv_theirs, "d_mine": d_mine,
            "d_theirs": d_theirs}


def test_worklist_detail_and_config_pages_render(tenant, member_factory, verified_client, world):
    client = verified_client(member_factory(tenant, Role.FINANCE_LEAD))
    page = client.get(reverse("deductions:index")).content.decode()
    assert world["d_mine"].number in page and "Days deductions outstanding" in page and "90+" in page
    filtered = client.get(reverse("deductions:index"), {"category": "damage"}).content.decode()
    assert world["d_mine"].number in filtered and world["d_theirs"].number not in filtered
    detail = client.get(reverse("deductions:detail", args=[world["d_theirs"].pk])).content.decode()
    assert "pod.pdf" in detail and "deduction.created" in detail
    assert client.get(reverse("deductions:reason_codes")).status_code == 200
    assert client.get(reverse("deductions:promotions")).status_code == 200
    with tenant_context(tenant):
        doc = world["d_theirs"].documents.get()
    download = client.get(reverse("deductions:document_download", args=[doc.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"%PDF-1.4 pod"


def test_an_illegal_move_on_the_page_shows_the_message(tenant, member_factory, verified_client, world):
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    url = reverse("deductions:action", args=[world["d_mine"].pk])
    response = client.post(url, {"action": "reopen", "note": "changed my mind"})
    assert response.status_code == 409
    assert "is open; it cannot be reopened" in response.content.decode()
    assert client.post(url, {"action": "validate"}).status_code == 302
    with tenant_context(tenant):
        assert Deduction.objects.get(pk=world["d_mine"].pk).status == "valid"


def test_collector_may_work_but_not_decide(tenant, member_factory, verified_client, world):
    client = verified_client(member_factory(tenant, Role.COLLECTOR))
    url = reverse("deductions:action", args=[world["d_mine"].pk])
    assert client.post(url, {"action": "validate"}).status_code == 403
    assert client.post(url, {"action": "start_research"}).status_code == 302
    assert client.get(reverse("deductions:reason_codes")).status_code == 403


class _Json:
    def __init__(self, client):
        self.client = client

    def get(self, url, data=None):
        return self.client.get(url, data or {})

    def post(self, url, data, format="json"):  # noqa: A002 - mirrors DRF's APIClient
        return self.client.post(url, data, content_type="application/json")


def test_api_transitions_answer_409_on_an_illegal_move(tenant, member_factory, verified_client, world):
    api = _Json(verified_client(member_factory(tenant, Role.AR_CLERK)))
    url = reverse("api_deduction_transition", args=[world["d_mine"].pk])
    refused = api.post(url, {"action": "reopen", "note": "x"}, format="json")
    assert refused.status_code == 409 and "cannot be reopened" in refused.json()["detail"]
    ok = api.post(url, {"action": "start_research"}, format="json")
    assert ok.status_code == 200 and ok.json()["status"] == "in_research"
    split = api.post(url, {"action": "split", "amounts": ["10.00", "30.00"]}, format="json")
    assert split.status_code == 200 and [p["amount"] for p in split.json()["parts"]] == ["10.0000", "30.0000"]
    again = api.post(url, {"action": "split", "amounts": ["10.00", "30.00"]}, format="json")
    assert again.status_code == 409
    listed = api.get(reverse("api_deductions"), {"status": "open"}).json()
    assert {r["number"] for r in listed["results"]} >= {world["d_theirs"].number}
    created = api.post(reverse("api_deduction_create"), {"customer": world["mine"].pk, "invoice_number": "INV-MINE",
                                                         "amount": "12.50", "reason": "freight"}, format="json")
    assert created.status_code == 201 and created.json()["source"] == "clerk"
    export = api.get(reverse("api_deductions_export"))
    assert export.content.decode().splitlines()[0] == "payment_reference,invoice_number,amount,reason,status,source"


@pytest.fixture
def portal_client(tenant, member_factory, verified_client, world):
    return verified_client(member_factory(tenant, Role.PORTAL_USER, customer=world["mine"]))


def test_portal_user_sees_only_their_own_customer(portal_client, world):
    page = portal_client.get(reverse("deductions:portal_list")).content.decode()
    assert world["d_mine"].number in page and world["d_theirs"].number not in page
    assert 'hx-trigger="every 5s"' in page
    assert portal_client.get(reverse("deductions:portal_detail", args=[world["d_theirs"].pk])).status_code == 404
    assert portal_client.get(reverse("deductions:portal_detail", args=[world["d_mine"].pk])).status_code == 200
    with tenant_context(world["mine"].tenant):
        doc = world["d_theirs"].documents.get()
    # Another customer's document: not found, as if it did not exist.
    assert portal_client.get(reverse("deductions:document_download", args=[doc.pk])).status_code == 404
    assert portal_client.get(reverse("deductions:detail", args=[world["d_mine"].pk])).status_code == 403
    assert portal_client.get(reverse("deductions:index")).status_code == 403


def test_portal_files_a_deduction_on_their_own_invoice_only(tenant, portal_client, world):
    refused = portal_client.post(reverse("deductions:portal_new"), {
        "invoice_id": world["inv_theirs"].pk, "amount": "10.00", "reason": "damaged"})
    assert refused.status_code == 400 and "choose one of your invoices" in refused.content.decode()
    filed = portal_client.post(reverse("deductions:portal_new"), {
        "invoice_id": world["inv_mine"].pk, "amount": "10.00", "reason": "damaged", "reason_text": "broken",
        "documents": [SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n....")]})
    assert filed.status_code == 302
    with tenant_context(tenant):
        d = Deduction.objects.get(source="portal")
        assert (d.customer_id, d.invoice_id, d.amount) == (world["mine"].pk, world["inv_mine"].pk, D("10.00"))
        assert d.documents.get().name == "photo.png"
