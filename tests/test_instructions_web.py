"""Payment-instruction pages, the API and the CSV export: wiring, roles, limits shown, 409s, stable columns."""

import csv
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from o2c.instructions import instruction_create
from o2c.instructions.selectors import CSV_COLUMNS
from o2c.models import ApprovalLimit, PaymentInstruction, RefundFile, Role, TreasuryAccount
from o2c.tenancy import tenant_context
from tests.factories import CustomerBankAccountFactory, CustomerFactory, InvoiceFactory, member

D = Decimal


@pytest.fixture
def as_role(tenant, verified_client):
    def login(role, **kw):
        return verified_client(member(tenant, role, **kw))

    return login


def create(tenant, kind="credit_memo", amount="100.00", actor=None, **kw):
    with tenant_context(tenant):
        invoice = kw.pop("invoice", None) or InvoiceFactory(amount=D("5000.00"), currency=kw.get("currency", "USD"))
        return instruction_create(kind=kind, customer_id=invoice.customer_id, amount=amount,
                                  currency=kw.pop("currency", "USD"), origin_kind="dispute", origin_id=5,
                                  invoice_id=invoice.pk, actor=actor, **kw)


def status_of(tenant, pi):
    with tenant_context(tenant):
        return PaymentInstruction.objects.get(pk=pi.pk).status


def test_list_shows_instructions_filters_and_the_approval_limit(tenant, as_role):
    refund = create(tenant, kind="refund")
    credit = create(tenant)
    client = as_role(Role.AR_CLERK)
    page = client.get(reverse("instructions:index")).content.decode()
    assert refund.number in page and credit.number in page
    assert "You may approve up to 1,000.00 USD; above that a finance lead must." in page
    filtered = client.get(reverse("instructions:index"), {"kind": "refund"}).content.decode()
    assert refund.number in filtered and credit.number not in filtered
    assert 'href="/payment-instructions/"' in client.get(reverse("dashboard")).content.decode()  # nav link


def test_list_queries_do_not_grow_with_rows(tenant, as_role):
    client = as_role(Role.FINANCE_LEAD)
    create(tenant, kind="refund")
    client.get(reverse("instructions:index"))  # the first visit stores the default approval limits
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("instructions:index"))
    for _ in range(5):
        create(tenant, kind="refund")
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("instructions:index")).status_code == 200
    assert len(many) == len(few)


@pytest.mark.parametrize("role", [Role.COLLECTOR, Role.PORTAL_USER])
def test_roles_without_the_capability_are_turned_away(tenant, as_role, role):
    kw = {}
    if role == Role.PORTAL_USER:
        with tenant_context(tenant):
            kw["customer"] = CustomerFactory()
    client = as_role(role, **kw)
    assert client.get(reverse("instructions:index")).status_code == 403
    assert client.get(reverse("api_instruction_list")).status_code == 403


def test_approve_button_above_limit_says_who_must_and_lead_approves(tenant, as_role):
    pi = create(tenant, amount="1500.00")
    clerk = as_role(Role.AR_CLERK)
    response = clerk.post(reverse("instructions:approve", args=[pi.pk]), follow=True)
    assert "a finance lead or a tenant admin must approve it" in response.content.decode()
    assert status_of(tenant, pi) == "pending_approval"
    lead = as_role(Role.FINANCE_LEAD)
    response = lead.post(reverse("instructions:approve", args=[pi.pk]), {"next": "detail"}, follow=True)
    assert f"{pi.number} approved." in response.content.decode()
    assert "payment_instruction.done" in response.content.decode()  # the detail page's history
    assert status_of(tenant, pi) == "done"


def test_cancel_and_mark_done_buttons(tenant, as_role):
    pi = create(tenant, kind="refund")
    client = as_role(Role.FINANCE_LEAD)
    client.post(reverse("instructions:cancel", args=[pi.pk]))
    assert status_of(tenant, pi) == "cancelled"
    response = client.post(reverse("instructions:mark_done", args=[pi.pk]), follow=True)
    assert "cancelled; it cannot be marked done" in response.content.decode()


def test_select_refunds_create_a_nacha_file_download_it_and_mark_done(tenant, as_role):
    lead_user = member(tenant, Role.FINANCE_LEAD, email="lead-files@example.test")
    with tenant_context(tenant):
        TreasuryAccount.objects.create(debtor_name="Acme", nacha_immediate_destination="021000021",
                                       nacha_immediate_origin="1234567890", nacha_company_name="ACME",
                                       nacha_company_id="1234567890", nacha_routing="026009593")
        customer = CustomerFactory()
        CustomerBankAccountFactory(customer=customer, account_identifier="021000021:55667788")
        invoice = InvoiceFactory(customer=customer, amount=D("900.00"))
    pi = create(tenant, kind="refund", amount="75.50", actor=lead_user, invoice=invoice)
    client = as_role(Role.AR_CLERK)
    assert f'value="{pi.pk}" form="refund-file-form"' in client.get(reverse("instructions:index")).content.decode()
    response = client.post(reverse("instructions:refund_file_create"), {"format": "nacha", "instruction_id": [pi.pk]},
                           follow=True)
    assert "1 refund(s) marked sent" in response.content.decode()
    with tenant_context(tenant):
        refund_file = RefundFile.objects.get()
    download = client.get(reverse("instructions:refund_file", args=[refund_file.pk]))
    assert download["Content-Disposition"] == f'attachment; filename="{refund_file.file_name}"'
    assert download.content.decode().splitlines()[2][29:39] == "0000007550"
    client.post(reverse("instructions:mark_done", args=[pi.pk]))
    assert status_of(tenant, pi) == "done"


def test_refund_file_errors_are_shown_and_nothing_is_stored(tenant, as_role):
    pi = create(tenant, kind="refund", actor=member(tenant, Role.FINANCE_LEAD, email="lead2@example.test"))
    client = as_role(Role.AR_CLERK)
    response = client.post(reverse("instructions:refund_file_create"), {"format": "nacha", "instruction_id": [pi.pk]},
                           follow=True)
    assert "set up the treasury account" in response.content.decode()
    with tenant_context(tenant):
        assert not RefundFile.objects.exists()


def test_settings_treasury_and_limits(tenant, as_role):
    admin = as_role(Role.TENANT_ADMIN)
    url = reverse("instructions:settings")
    bad = admin.post(url, {"section": "treasury", "debtor_name": "Acme", "iban": "DE00 0000", "nacha_routing": "1"})
    assert bad.status_code == 422
    assert "not a valid IBAN" in bad.content.decode() and "valid check digit" in bad.content.decode()
    ok = admin.post(url, {"section": "treasury", "debtor_name": "Acme GmbH", "iban": "de89 3704 0044 0532 0130 00",
                          "bic": "cobadeffxxx"})
    assert ok.status_code == 302
    admin.post(url, {"section": "limit", "role": "ar_clerk", "currency": "USD", "max_amount": "2500.00"})
    with tenant_context(tenant):
        treasury = TreasuryAccount.objects.get()
        assert (treasury.iban, treasury.bic) == ("DE89370400440532013000", "COBADEFFXXX")
        assert ApprovalLimit.objects.get(role="ar_clerk", currency="USD").max_amount == D("2500.00")
    admin.post(url, {"section": "limit", "role": "ar_clerk", "currency": "eur", "max_amount": "300"})
    page = admin.get(url).content.decode()
    assert 'value="2500.00"' in page and 'value="300.00"' in page
    with tenant_context(tenant):
        assert ApprovalLimit.objects.get(role="ar_clerk", currency="EUR").max_amount == D("300")
    refused = admin.post(url, {"section": "limit", "role": "portal_user", "currency": "EUR", "max_amount": "1"})
    assert refused.status_code == 422
    assert as_role(Role.AR_CLERK).get(url).status_code == 403


def test_customer_page_shows_write_offs_and_instructions_under_way(tenant, as_role):
    lead_user = member(tenant, Role.FINANCE_LEAD, email="lead3@example.test")
    with tenant_context(tenant):
        invoice = InvoiceFactory(amount=D("400.00"))
    create(tenant, kind="write_off", amount="40.00", actor=lead_user, invoice=invoice, account="6800")
    pending = create(tenant, kind="refund", amount="9.00", invoice=invoice)
    page = as_role(Role.AR_CLERK).get(reverse("customer_detail", args=[invoice.customer_id])).content.decode()
    assert 'id="write-offs"' in page and "WO-000001" in page and "6800" in page
    assert 'id="pending-instructions"' in page and pending.number in page


# --- API ----------------------------------------------------------------------------------------

def test_api_list_detail_and_approve_with_409s(tenant, as_role):
    pi = create(tenant, amount="1500.00")
    clerk = as_role(Role.AR_CLERK)
    listed = clerk.get(reverse("api_instruction_list"), {"status": "pending_approval"}).json()
    assert [row["number"] for row in listed["results"]] == [pi.number]
    detail = clerk.get(reverse("api_instruction_detail", args=[pi.pk])).json()
    assert (detail["kind"], detail["amount"], detail["status"]) == ("credit_memo", "1500.0000", "pending_approval")
    refused = clerk.post(reverse("api_instruction_approve", args=[pi.pk]))
    assert refused.status_code == 409 and "a finance lead" in refused.json()["detail"]
    lead = as_role(Role.FINANCE_LEAD)
    approved = lead.post(reverse("api_instruction_approve", args=[pi.pk]))
    assert approved.status_code == 200 and approved.json()["status"] == "done"
    assert approved.json()["credit_memo_number"] == "CM-000001"
    twice = lead.post(reverse("api_instruction_approve", args=[pi.pk]))
    assert twice.status_code == 409 and "is done; it cannot be approved" in twice.json()["detail"]


def test_api_token_caller_uses_its_roles_limit(tenant):
    from django.test import Client

    from o2c.services.tenants import api_token_create

    admin = member(tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        _, key = api_token_create(name="erp", role=Role.AR_CLERK, created_by=admin)
    pi = create(tenant, amount="1000.01")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.post(reverse("api_instruction_approve", args=[pi.pk])).status_code == 409
    small = create(tenant, amount="999.99")
    assert client.post(reverse("api_instruction_approve", args=[small.pk])).json()["status"] == "done"


def test_csv_export_has_the_stable_columns(tenant, as_role):
    lead_user = member(tenant, Role.FINANCE_LEAD, email="lead4@example.test")
    with tenant_context(tenant):
        invoice = InvoiceFactory(amount=D("400.00"), number="INV-CSV-1")
    done = create(tenant, amount="25.00", actor=lead_user, invoice=invoice, memo="=HYPERLINK(evil)")
    create(tenant, kind="refund")
    response = as_role(Role.AR_CLERK).get(reverse("api_instruction_csv"), {"kind": "credit_memo"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == CSV_COLUMNS == [
        "id", "number", "kind", "status", "customer_external_id", "customer_name", "invoice_number", "amount",
        "currency", "origin_kind", "origin_id", "memo", "account", "requested_by", "approved_by", "created_at",
        "approved_at", "sent_at", "done_at", "cancelled_at", "credit_memo_number", "rebill_invoice_number",
        "write_off_number", "refund_file_name"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["number"], row["status"], row["invoice_number"], row["amount"], row["credit_memo_number"]) == \
        (done.number, "done", "INV-CSV-1", "25.0000", "CM-000001")
    assert row["memo"] == "'=HYPERLINK(evil)" and row["approved_by"] == "lead4@example.test"
