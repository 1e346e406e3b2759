"""Dispute pages and API: wiring, portal isolation (own customer only, 404 otherwise, internal notes never
shown), filing through the pages all-or-nothing, refused moves as a message (page) and a 409 (API)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from disputes import services
from disputes.models import Dispute, DisputeMessage
from o2c.models import Role
from o2c.tenancy import tenant_context
from tests.disputes_support import file_dispute, invoice
from tests.factories import CustomerFactory, member

D = Decimal
pytestmark = pytest.mark.django_db
SECRET = "INTERNAL-NOTE-QZX credit risk"


@pytest.fixture
def world(tenant):
    with tenant_context(tenant):
        own, other = CustomerFactory(name="Own Buyer"), CustomerFactory(name="Other Buyer")
        portal = member(tenant, Role.PORTAL_USER, customer=own)
        clerk = member(tenant, Role.AR_CLERK)
        own_invoice, other_invoice = invoice(own, "INV-OWN", "100.00"), invoice(other, "INV-OTHER", "100.00")
        mine = file_dispute(customer=own, actor=clerk)
        theirs = file_dispute(customer=other, actor=clerk)
        services.message_post(dispute=mine, body=SECRET, actor=clerk, from_customer=False, internal=True)
        services.message_post(dispute=mine, body="We are looking into it", actor=clerk, from_customer=False)
    return type("World", (), dict(own=own, other=other, portal=portal, clerk=clerk, mine=mine, theirs=theirs,
                                  own_invoice=own_invoice, other_invoice=other_invoice))


def test_staff_pages(world, verified_client):
    client = verified_client(world.clerk)
    listing = client.get(reverse("disputes:index"))
    assert listing.status_code == 200 and world.mine.number.encode() in listing.content
    page = client.get(reverse("disputes:detail", args=[world.mine.pk]))
    assert page.status_code == 200 and SECRET.encode() in page.content and b"Internal note" in page.content
    live = client.get(reverse("disputes:live", args=[world.mine.pk]))
    assert b'hx-trigger="every 2s"' in live.content and b"New" in live.content
    form = client.get(reverse("disputes:new") + f"?customer={world.own.pk}")
    assert b"INV-OWN" in form.content and b"INV-OTHER" not in form.content


def test_worklist_filters_and_paging(world, verified_client, tenant, django_assert_max_num_queries):
    client = verified_client(world.clerk)
    with tenant_context(tenant):
        services.dispute_transition(dispute=world.theirs, name="triage", actor=world.clerk)
    triaged = client.get(reverse("disputes:index") + "?status=triaged").content
    assert world.theirs.number.encode() in triaged and world.mine.number.encode() not in triaged
    with django_assert_max_num_queries(20):
        client.get(reverse("disputes:index") + "?status=")
    from disputes import selectors

    with tenant_context(tenant):
        first = selectors.worklist(world.clerk.memberships.get(), status="")
        assert [d.number for d in first.rows] == [world.theirs.number, world.mine.number] and first.next_cursor is None


def test_clerk_files_on_behalf_and_from_page_errors_store_nothing(world, verified_client, tenant):
    client = verified_client(world.clerk)
    url = reverse("disputes:new")
    refused = client.post(url, {"customer": world.own.pk, f"amount_{world.other_invoice.pk}": "10.00",
                                "reason": "pricing", "message": "wrong price"})
    assert refused.status_code == 400 and b"Nothing was filed" in refused.content
    with tenant_context(tenant):
        assert Dispute.objects.count() == 2
    done = client.post(url, {"customer": world.own.pk, f"amount_{world.own_invoice.pk}": "10.00",
                             "reason": "pricing", "message": "wrong price"})
    with tenant_context(tenant):
        created = Dispute.objects.order_by("-id").first()
        assert (created.channel, created.amount, created.customer_id) == ("clerk", D("10.00"), world.own.pk)
    assert done.status_code == 302 and done["Location"] == reverse("disputes:detail", args=[created.pk])


def test_refused_move_on_the_page_is_a_message(world, verified_client, tenant):
    client = verified_client(world.clerk)
    response = client.post(reverse("disputes:transition", args=[world.mine.pk]), {"transition": "close"},
                           follow=True)
    assert response.status_code == 200 and b"cannot close it now" in response.content
    ok = client.post(reverse("disputes:transition", args=[world.mine.pk]), {"transition": "start_review"})
    assert ok.status_code == 302
    resolved = client.post(reverse("disputes:resolve", args=[world.mine.pk]),
                           {"resolution": "partly_accepted", "accepted_amount": "15.00"})
    assert resolved.status_code == 302
    with tenant_context(tenant):
        stored = Dispute.objects.get(pk=world.mine.pk)
        assert (stored.status, stored.accepted_amount) == ("resolved", D("15.00"))
    reopened = client.post(reverse("disputes:reopen", args=[world.mine.pk]), {"reason": "more proof"})
    assert reopened.status_code == 302


def test_portal_sees_only_its_own_customer_and_never_internal_notes(world, client):
    client.force_login(world.portal)
    listing = client.get(reverse("disputes:portal_list"))
    assert world.mine.number.encode() in listing.content and world.theirs.number.encode() not in listing.content
    for name in ("disputes:portal_detail", "disputes:portal_live"):
        own = client.get(reverse(name, args=[world.mine.pk]))
        assert own.status_code == 200 and b"We are looking into it" in own.content
        assert SECRET.encode() not in own.content
        assert client.get(reverse(name, args=[world.theirs.pk])).status_code == 404
    # staff pages stay closed to the portal user
    assert client.get(reverse("disputes:detail", args=[world.mine.pk])).status_code == 403
    assert client.get(reverse("disputes:index")).status_code == 403
    form = client.get(reverse("disputes:portal_new"))
    assert b"INV-OWN" in form.content and b"INV-OTHER" not in form.content


def test_portal_files_and_a_forged_invoice_is_refused(world, client, tenant):
    client.force_login(world.portal)
    forged = client.post(reverse("disputes:portal_new"), {
        f"amount_{world.own_invoice.pk}": "5.00", f"amount_{world.other_invoice.pk}": "5.00",
        "reason": "shortage", "message": "missing boxes"})
    assert forged.status_code == 400
    assert b"is not an invoice of Own Buyer" in forged.content and b"Nothing was filed" in forged.content
    with tenant_context(tenant):
        assert Dispute.objects.count() == 2
    filed = client.post(reverse("disputes:portal_new"), {
        f"amount_{world.own_invoice.pk}": "5.00", "reason": "shortage", "message": "missing boxes"})
    assert filed.status_code == 302
    with tenant_context(tenant):
        dispute = Dispute.objects.order_by("-id").first()
        assert (dispute.channel, dispute.customer_id) == ("portal", world.own.pk)
    reply = client.post(reverse("disputes:portal_reply", args=[dispute.pk]), {"body": "photos follow"})
    assert reply.status_code == 302
    with tenant_context(tenant):
        assert DisputeMessage.objects.filter(dispute=dispute, from_customer=True).count() == 2


def test_api_portal_isolation_and_internal_notes(world, client):
    client.force_login(world.portal)
    listed = client.get("/api/v1/disputes/").json()["results"]
    assert [d["number"] for d in listed] == [world.mine.number]
    assert client.get(f"/api/v1/disputes/{world.theirs.pk}/").status_code == 404
    thread = client.get(f"/api/v1/disputes/{world.mine.pk}/messages/").json()
    assert SECRET not in str(thread) and "We are looking into it" in str(thread)
    assert client.get(f"/api/v1/disputes/{world.theirs.pk}/messages/").status_code == 404
    # a portal user cannot move the case
    assert client.post(f"/api/v1/disputes/{world.mine.pk}/transitions/", {"transition": "triage"},
                       content_type="application/json").status_code == 403
    forged = client.post("/api/v1/disputes/", {"reason_code": "pricing", "message": "m",
                                               "lines": [{"invoice": world.other_invoice.pk, "amount": "5.00"}]},
                         content_type="application/json")
    assert forged.status_code == 400 and "not an invoice of Own Buyer" in forged.json()["detail"]
    created = client.post("/api/v1/disputes/", {"reason_code": "pricing", "message": "m",
                                                "lines": [{"invoice": world.own_invoice.pk, "amount": "5.00"}]},
                          content_type="application/json")
    assert created.status_code == 201 and created.json()["channel"] == "portal"


def test_api_transitions_answer_409_when_refused(world, verified_client):
    client = verified_client(world.clerk)
    url = f"/api/v1/disputes/{world.mine.pk}/transitions/"
    refused = client.post(url, {"transition": "close"}, content_type="application/json")
    assert refused.status_code == 409 and refused.json()["status"] == "new"
    assert client.post(url, {"transition": "triage"}, content_type="application/json").json()["status"] == "triaged"
    resolved = client.post(url, {"transition": "resolve", "resolution": "accepted"}, content_type="application/json")
    assert resolved.json()["status"] == "resolved" and resolved.json()["accepted_amount"] == "40.0000"
    assert client.post(url, {"transition": "resolve", "resolution": "accepted"},
                       content_type="application/json").status_code == 409
    staff_thread = client.get(f"/api/v1/disputes/{world.mine.pk}/messages/").json()
    assert SECRET in str(staff_thread)
    created = client.post("/api/v1/disputes/", {"customer": world.own.pk, "reason_code": "pricing", "message": "m",
                                                "lines": [{"invoice": world.own_invoice.pk, "amount": "1.00"}]},
                          content_type="application/json")
    assert created.status_code == 201 and created.json()["channel"] == "clerk"


def _deduction(customer, amount="15.00"):
    from deductions.models import Deduction
    from tests.test_cross_tenant_probe import _probe_application

    inv = invoice(customer, f"INV-D{customer.pk}", "100.00")
    application = _probe_application(type("World", (), {"invoice": inv})())
    return Deduction.objects.create(customer=customer, invoice=inv, payment=application.payment,
                                    application=application, amount=D(amount), currency="USD", reason="pricing")


def test_file_from_a_deduction_checks_access(world, verified_client, tenant, other_tenant):
    with tenant_context(other_tenant):
        foreign = _deduction(CustomerFactory(name="Globex buyer"))
    with tenant_context(tenant):
        own = _deduction(world.own)
    client = verified_client(world.clerk)
    assert client.get(reverse("disputes:new") + f"?deduction={foreign.pk}").status_code == 404
    assert client.post(reverse("disputes:new"), {"deduction": foreign.pk, "reason": "pricing",
                                                 "message": "m"}).status_code == 404
    form = client.get(reverse("disputes:new") + f"?deduction={own.pk}")
    assert form.status_code == 200 and f"Deduction {own.pk}".encode() in form.content
    done = client.post(reverse("disputes:new"), {"deduction": own.pk, "reason": "pricing", "message": "see remit"})
    assert done.status_code == 302
    with tenant_context(tenant):
        dispute = Dispute.objects.get(deduction=own)
        assert (dispute.channel, dispute.amount) == ("deduction", D("15.00"))
    with tenant_context(other_tenant):
        assert not Dispute.objects.exists()
    client.force_login(world.portal)  # portal users cannot open the clerk's filing page at all
    assert client.get(reverse("disputes:new") + f"?deduction={own.pk}").status_code == 403


def test_customer_chooser_lists_only_this_tenants_customers(world, verified_client, other_tenant):
    with tenant_context(other_tenant):
        CustomerFactory(name="Globex Secret Customer")
    page = verified_client(world.clerk).get(reverse("disputes:new"))
    assert b"Own Buyer" in page.content and b"Globex Secret Customer" not in page.content


def test_documents_of_internal_notes_stay_with_staff(world, verified_client, client, tenant):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from disputes.models import DisputeAttachment

    with tenant_context(tenant):
        note = services.message_post(dispute=world.mine, body="credit check", actor=world.clerk, from_customer=False,
                                     internal=True, attachments=[SimpleUploadedFile("risk.txt", b"internal")])
        shared = services.message_post(dispute=world.mine, body="our delivery note", actor=world.clerk,
                                       from_customer=False, attachments=[SimpleUploadedFile("pod.txt", b"pod")])
        internal_doc = DisputeAttachment.objects.get(message=note)
        shared_doc = DisputeAttachment.objects.get(message=shared)
    client.force_login(world.portal)
    assert client.get(reverse("disputes:attachment", args=[internal_doc.pk])).status_code == 404
    download = client.get(reverse("disputes:attachment", args=[shared_doc.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"pod"
    assert b"risk.txt" not in client.get(reverse("disputes:portal_detail", args=[world.mine.pk])).content
    staff = verified_client(world.clerk)
    assert staff.get(reverse("disputes:attachment", args=[internal_doc.pk])).status_code == 200
