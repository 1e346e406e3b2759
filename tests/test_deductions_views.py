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


def test_configuration_pages_save_codes_promotions_and_import_maps(tenant, member_factory, verified_client, world):
    client = verified_client(member_factory(tenant, Role.TENANT_ADMIN))
    saved = client.post(reverse("deductions:reason_codes"), {
        "code": "pricing", "name": "Pricing", "category": "pricing", "gl_account": "6810",
        "tolerance_max_amount": "25.00", "tolerance_max_share": "0.02"})
    assert saved.status_code == 302
    refused = client.post(reverse("deductions:promotions"), {
        "customer_id": world["mine"].pk, "name": "Bad", "start_date": "2026-02-01", "end_date": "2026-01-01",
        "budget": "100", "currency": "USD"})
    assert refused.status_code == 400 and "give a rate or an amount" in refused.content.decode()
    made = client.post(reverse("deductions:promotions"), {
        "customer_id": world["mine"].pk, "name": "Spring", "start_date": "2026-01-01", "end_date": "2026-03-31",
        "rate_percent": "2.5", "budget": "1000", "currency": "usd", "invoice_numbers": "INV-MINE", "approved": "on"})
    assert made.status_code == 302
    csv_file = SimpleUploadedFile("codes.csv", f"customer_id,customer_code,reason_code,description\n"
                                  f"{world['mine'].external_id},DC22,shortage,\n".encode())
    imported = client.post(reverse("deductions:customer_codes_import"), {"file": csv_file}, follow=True)
    assert "1 customer codes imported" in imported.content.decode()
    bad = SimpleUploadedFile("codes.csv", b"customer_id,customer_code,reason_code\nNOPE,1,pricing\n")
    shown = client.post(reverse("deductions:customer_codes_import"), {"file": bad}, follow=True).content.decode()
    assert "nothing imported: line 2: unknown customer &#x27;NOPE&#x27;" in shown
    with tenant_context(tenant):
        from deductions.models import CustomerReasonCode, ReasonCode, TradePromotion

        pricing = ReasonCode.objects.get(code="pricing")
        assert (pricing.gl_account, pricing.tolerance_max_amount, pricing.tolerance_max_share) == (
            "6810", D("25.00"), D("0.0200"))
        promo = TradePromotion.objects.get()
        assert (promo.invoice_numbers, promo.currency, promo.approved) == (["INV-MINE"], "USD", True)
        assert CustomerReasonCode.objects.get().reason_code == ReasonCode.objects.get(code="shortage")


def test_clerk_creates_merges_splits_and_uploads_on_the_pages(tenant, member_factory, verified_client, world):
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    created = client.post(reverse("deductions:new"), {
        "customer_id": world["mine"].pk, "invoice_number": "INV-MINE", "amount": "15.00", "reason": "freight",
        "documents": [SimpleUploadedFile("bol.pdf", b"%PDF-1.4 bill of lading")]})
    assert created.status_code == 302
    wrong = client.post(reverse("deductions:new"), {"customer_id": world["mine"].pk, "invoice_number": "INV-THEIRS",
                                                    "amount": "1", "reason": "tax"})
    assert wrong.status_code == 400 and "is not Mine Corp" in wrong.content.decode()
    with tenant_context(tenant):
        new = Deduction.objects.get(amount=D("15.00"))
    merged = client.post(reverse("deductions:merge"), {"ids": [world["d_mine"].pk, new.pk]})
    assert merged.status_code == 302
    with tenant_context(tenant):
        total = Deduction.objects.get(status="open", customer=world["mine"])
    assert total.amount == D("55.00")
    split = client.post(reverse("deductions:action", args=[total.pk]), {"action": "split", "amounts": "50.00 4.00"})
    assert split.status_code == 400 and "the parts sum to 54.00, not the remaining 55.00" in split.content.decode()
    assert client.post(reverse("deductions:action", args=[total.pk]),
                       {"action": "split", "amounts": "50.00 5.00"}).status_code == 302
    upload = client.post(reverse("deductions:document_upload", args=[world["d_theirs"].pk]),
                         {"kind": "pod", "file": SimpleUploadedFile("evil.pdf", b"MZ not a pdf")}, follow=True)
    assert "evil.pdf does not look like a PDF file" in upload.content.decode()
    cross = client.post(reverse("deductions:merge"), {"ids": [world["d_theirs"].pk, world["d_mine"].pk]},
                        follow=True)
    assert "only deductions of one customer and one currency can be merged" in cross.content.decode()


def test_remittance_upload_page_reads_an_812(tenant, member_factory, verified_client, world):
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    isa = "ISA*00*          *00*          *ZZ*BUYER          *ZZ*SELLER         *251103*1200*U*00401*000000901*0*P*>~"
    data = (isa + "GS*CD*B*S*20251103*1200*901*X*004010~ST*812*0001~BCD*20251103*ADJ-9*I*12.00*D**INV-MINE~"
            "CDD*DAMAGED*D**12.00~SE*4*0001~GE*1*901~IEA*1*000000901~").encode()
    shown = client.post(reverse("deductions:remittance_upload"),
                        {"file": SimpleUploadedFile("adj.812", data)}, follow=True).content.decode()
    assert "1 deductions created, 0 known already" in shown
    with tenant_context(tenant):
        d = Deduction.objects.get(source="remittance")
        assert (d.invoice_id, d.amount, d.reason_code.code) == (world["inv_mine"].pk, D("12.00"), "damaged")


def test_metrics_days_outstanding_and_recovery(tenant, world):
    from deductions import selectors

    with tenant_context(tenant):
        services.deduction_transition(deduction_id=world["d_mine"].pk, action="invalidate", note="no", actor=None)
        services.deduction_resolve(deduction_id=world["d_mine"].pk, resolution="repayment", actor=None)
        m = selectors.metrics(Deduction.objects.all(), days=90)
        # Open: 30.00 of 70.00 opened in 90 days -> 30/70*90 = 38.6 days; recovered 40 of 40 resolved.
        assert (m["outstanding"], m["ddo"], m["recovery_rate"], m["recovered"]) == (
            D("30.00"), D("38.6"), D("100.0"), D("40.00"))
        buckets = selectors.aging(Deduction.objects.all())
        assert [(b["label"], b["count"]) for b in buckets] == [("0-30", 1), ("31-60", 0), ("61-90", 0), ("90+", 0)]
        member = type("M", (), {"role": Role.AR_CLERK})()
        assert selectors.deduction_for_dispute(member, world["d_theirs"].pk) == world["d_theirs"]


def test_worklist_queries_do_not_grow_with_rows(tenant, member_factory, verified_client, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    client.get(reverse("deductions:index"))  # warm the session and the seeded catalogue
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("deductions:index"))
    with tenant_context(tenant):
        services.deductions_create([services.NewDeduction(customer_id=world["mine"].pk, amount=D("1.00") + i,
                                                          currency="USD", reason="freight", source="clerk")
                                    for i in range(40)])
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("deductions:index"))
    assert page.content.decode().count('name="ids"') == 42
    assert len(many) == len(few)
