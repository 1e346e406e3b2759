"""Issue 13 end to end, through the real parts: bank file bytes, the management commands, Celery tasks
(eager here; tests/test_deductions_worker.py runs a real worker), the rules engine, payment instructions,
the ledger and the refund file, with the services a clerk's pages call.

a. A short payment in a bank file opens a deduction; a rule imported by the tenant triages it; the clerk
   decides it valid and resolves it by credit memo.
b. A customer disputes a paid invoice in the portal; the accepted dispute becomes a refund, approved by a
   finance lead, written to a pain.001 that validates against its XSD, and confirmed back to the dispute.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sepaxml
import xmlschema
import yaml
from django.core.management import call_command
from django.urls import reverse

from deductions import services as deduction_services
from deductions.models import Deduction
from disputes import services as dispute_services
from disputes.models import Dispute, DisputeMessage
from o2c.instructions import instruction_approve, instruction_mark_done, refund_file_create
from o2c.instructions.services import treasury_account_update
from o2c.models import AuditEvent, CreditMemo, Invoice, PaymentInstruction, Role
from o2c.rules import latest_triage
from o2c.services.tenants import tenant_create
from o2c.tenancy import tenant_context
from tests.cashapp_support import Credit, camt053
from tests.factories import CustomerBankAccountFactory, CustomerFactory, InvoiceFactory

D = Decimal
XSD = Path(sepaxml.__file__).parent / "schemas" / "pain.001.001.03.xsd"
pytestmark = pytest.mark.django_db(transaction=True)  # the commands commit; intake and triage run after commit

PRICING_FAST = {
    "name": "Small pricing claims",
    "description": "Pricing deductions under 200 go to the fast pricing desk.",
    "condition": 'category == "pricing" && amount < 200.0',
    "actions": {"queue": "pricing-fast", "owner": "clerk@acme.test"},
    "stop": False,
    "enabled": True,
}


def _actions(obj) -> list[str]:
    return list(AuditEvent.objects.filter(object_type=obj._meta.model_name, object_id=obj.pk)
                .order_by("id").values_list("action", flat=True))


def _import_rule(tenant, tmp_path, rule: dict) -> None:
    """The tenant's rules exported, the new rule put first, the file imported: all through the command."""
    exported = tmp_path / "rules.yaml"
    call_command("triage_rules", "--tenant", tenant.slug, "export", str(exported))
    rules = yaml.safe_load(exported.read_text())
    rules["deduction"].insert(0, rule)
    exported.write_text(yaml.safe_dump(rules, sort_keys=False))
    call_command("triage_rules", "--tenant", tenant.slug, "import", str(exported))


def test_short_payment_to_a_triaged_deduction_resolved_valid_by_credit_memo(tmp_path, member_factory):
    tenant = tenant_create(slug="acme-e2e", name="Acme E2E")  # with the default triage rules
    clerk = member_factory(tenant, Role.AR_CLERK, email="clerk@acme.test")
    _import_rule(tenant, tmp_path, PRICING_FAST)
    with tenant_context(tenant):
        customer = CustomerFactory(name="Wayne Enterprises Inc")
        short = InvoiceFactory(customer=customer, number="INV-0000101", amount=D("1000.00"))
        InvoiceFactory(customer=customer, number="INV-0000102", amount=D("500.00"))
    statement = tmp_path / "statement.xml"
    statement.write_bytes(camt053([
        Credit("SHORT-1", "850.00", payer="WAYNE ENTERPRISES", text="INV-0000101 price difference per contract"),
        Credit("FULL-1", "500.00", payer="WAYNE ENTERPRISES", invoices=(("INV-0000102", "500.00"),)),
    ]))
    call_command("import_bank_file", "--tenant", tenant.slug, str(statement))
    call_command("apply_cash", tenant=tenant.slug)

    with tenant_context(tenant):
        [d] = Deduction.objects.filter(status="open")
        assert (d.amount, d.invoice_id, d.reason_code.code, d.source) == (
            D("150.00"), short.pk, "pricing", "cash_application")
        # The posting took the short pay off the invoice: the deduction is the open claim, not the invoice.
        assert Invoice.objects.get(pk=short.pk).open_balance == D("0")
        triage = latest_triage("deduction", d.pk)
        # The imported rule fired first with the values it read; the defaults' pricing and catch-all rules
        # fired too, but the first rule to set a key wins.
        assert triage.rules_fired == ["Small pricing claims", "Pricing and promotions", "Everything else"]
        assert triage.values["Small pricing claims"] == {"category": "pricing", "amount": 150.0}
        assert (d.queue, d.owner, d.priority) == ("pricing-fast", clerk, "normal")

        deduction_services.deduction_transition(deduction_id=d.pk, action="start_research", actor=clerk)
        deduction_services.deduction_transition(deduction_id=d.pk, action="validate", actor=clerk)
        d = deduction_services.deduction_resolve(deduction_id=d.pk, resolution="credit_memo", actor=clerk)

        memo = CreditMemo.objects.get(invoice=short)
        assert (memo.amount, memo.open_balance, memo.customer_id) == (D("150.00"), D("0"), customer.pk)
        pi = PaymentInstruction.objects.get(origin_kind="deduction", origin_id=d.pk)
        assert (pi.kind, pi.amount, pi.status, pi.credit_memo_id) == ("credit_memo", D("150.00"), "done", memo.pk)
        assert (d.status, d.resolution, d.instruction_id) == ("resolved", "credit_memo", pi.pk)
        # A valid deduction is closed, not recovered: the customer was right to keep the money.
        assert (d.closed_amount, d.recovered_amount, d.remaining_amount) == (D("150.00"), D("0"), D("0"))
        assert Invoice.objects.get(pk=short.pk).open_balance == D("0")  # the memo offsets the deduction only
        assert _actions(d) == ["deduction.opened", "deduction.triaged", "deduction.start_research",
                               "deduction.validate", "deduction.resolved", "deduction.resolution_requested"]
        assert _actions(pi) == ["payment_instruction.created", "payment_instruction.approved",
                                "payment_instruction.done"]
        assert "credit_memo.applied" in _actions(memo)

    out = tmp_path / "deductions.csv"
    call_command("export_deductions", tenant=tenant.slug, out=str(out))
    assert list(csv.reader(out.open()))[1:] == [["SHORT-1", "INV-0000101", "150.00", "pricing", "resolved",
                                                 "cash_application"]]


def test_portal_dispute_on_a_paid_invoice_to_a_refund_in_a_valid_pain001(client, member_factory):
    tenant = tenant_create(slug="acme-eu", name="Acme EU", base_currency="EUR")
    clerk = member_factory(tenant, Role.AR_CLERK, email="clerk@acme.test")
    lead = member_factory(tenant, Role.FINANCE_LEAD, email="lead@acme.test")
    with tenant_context(tenant):
        buyer = CustomerFactory(name="Müller & Söhne KG", currency="EUR")
        CustomerBankAccountFactory(customer=buyer, account_identifier="NL91ABNA0417164300")
        paid = InvoiceFactory(customer=buyer, number="INV-EU-1", amount=D("2400.00"), currency="EUR",
                              open_balance=D("0"), status="paid")
    portal_user = member_factory(tenant, Role.PORTAL_USER, email="ap@mueller.test", customer=buyer)

    client.force_login(portal_user)
    response = client.post(reverse("disputes:portal_new"), {
        f"amount_{paid.pk}": "1200.00", "reason": "pricing", "message": "Billed at the old price list."})
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant_context(tenant):
        dispute = Dispute.objects.get()
        assert response.url == reverse("disputes:portal_detail", args=[dispute.pk])
        # Filed, then triaged by the default rules' catch-all (Celery eager, after the filing committed).
        assert (dispute.status, dispute.queue, dispute.channel) == ("triaged", "disputes", "portal")
        assert latest_triage("dispute", dispute.pk).rules_fired == ["Everything else"]

        dispute_services.dispute_transition(dispute=dispute, name="start_review", actor=clerk)
        dispute_services.dispute_resolve(dispute=dispute, resolution="accepted", actor=clerk)
        refund = PaymentInstruction.objects.get(origin_kind="dispute", origin_id=dispute.pk)
        # A paid invoice: the accepted money goes back as a refund; 1,200 is above the clerk's 1,000 limit.
        assert (refund.kind, refund.amount, refund.currency, refund.invoice_id, refund.status) == (
            "refund", D("1200.00"), "EUR", paid.pk, "pending_approval")
        instruction_approve(instruction_id=refund.pk, actor=lead)

        treasury_account_update(data={"debtor_name": "Acme EU GmbH", "iban": "DE89 3704 0044 0532 0130 00",
                                      "bic": "COBADEFFXXX"}, actor=lead)
        refund_file = refund_file_create(format="pain.001", instruction_ids=[refund.pk], actor=lead,
                                         execution_date=date(2026, 12, 7))
        content = refund_file.content
        schema = xmlschema.XMLSchema(str(XSD))
        schema.validate(content)  # raises on any violation
        [payment] = schema.to_dict(content)["CstmrCdtTrfInitn"]["PmtInf"]
        [transfer] = payment["CdtTrfTxInf"]
        assert transfer["PmtId"]["EndToEndId"] == refund.number
        assert transfer["CdtrAcct"]["Id"]["IBAN"] == "NL91ABNA0417164300"
        assert D(str(transfer["Amt"]["InstdAmt"]["$"])) == D("1200.00")
        assert PaymentInstruction.objects.get(pk=refund.pk).status == "sent"

        instruction_mark_done(instruction_id=refund.pk, actor=lead)
        assert PaymentInstruction.objects.get(pk=refund.pk).status == "done"
        dispute.refresh_from_db()
        assert (dispute.status, dispute.resolution, dispute.accepted_amount) == ("resolved", "accepted", D("1200.00"))
        # The dispute heard InstructionCompleted: audited, and the customer is told in the thread.
        completed = AuditEvent.objects.get(object_type="dispute", object_id=dispute.pk,
                                           action="dispute.instruction_completed")
        assert completed.changes["kind"] == [None, "refund"]
        note = DisputeMessage.objects.filter(dispute=dispute).order_by("id").last()
        assert not note.internal and "refund of 1,200.00 EUR was paid" in note.body
        assert _actions(dispute) == ["dispute.filed", "dispute.updated", "dispute.triage", "dispute.start_review",
                                     "dispute.resolved", "dispute.instruction_completed"]
    assert "refund of 1,200.00 EUR was paid" in client.get(
        reverse("disputes:portal_detail", args=[dispute.pk])).content.decode()
