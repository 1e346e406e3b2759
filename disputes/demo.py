"""Demo disputes, worked through the real services: filed in the portal and by clerks, in every state, a thread
with the customer's answer and an internal note, resolutions that produce payment instructions (credit memos
executed at once, one above the clerk's approval limit waiting for the lead, a refund ready for the bank file
with the treasury account set up), and some whose SLA clock ran out. Only dates are moved back afterwards,
so that the SLA and cycle-time figures have a history."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from deductions.models import Deduction
from o2c.access import customer_scope
from o2c.instructions.services import treasury_account_update
from o2c.models import CustomerBankAccount, Invoice, Membership, Role
from o2c.money import quantize

from . import services
from .catalogue import catalogue_ensure
from .models import Dispute
from .services import LineInput

REASONS = ("pricing", "shortage", "damage", "returns", "promotion", "freight", "tax", "unknown")
MESSAGES = {"pricing": "We were charged the list price, not our contract price.",
            "shortage": "Two cartons were missing from the delivery.",
            "damage": "Part of the shipment arrived damaged; photos attached to our claim.",
            "returns": "These goods were returned last month and should be credited.",
            "promotion": "The summer promotion was not applied to this invoice.",
            "freight": "Freight was agreed as included.", "tax": "We are tax exempt; certificate on file.",
            "unknown": "Please call us about this invoice."}
# What happens to each filed dispute, in order (the portal user's come first).
PLAN = ("thread_new", "thread_replied", "triaged", "in_review", "waiting", "accepted", "accepted", "partly",
        "rejected", "rejected", "closed", "accepted", "in_review", "triaged")
ROOT_CAUSES = {"accepted": ("pricing_error", "shipping_error", "damaged_in_transit"), "partly": ("wrong_quantity",),
               "rejected": ("customer_error", "other"), "closed": ("billing_error",)}
# Treasury accounts refunds are paid from: valid check digits, as the bank-file builders verify them.
TREASURY = {"EUR": {"debtor_name": "Globex Foods EU", "iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
            "USD": {"debtor_name": "Acme Industrial Supply", "nacha_immediate_destination": "021000021",
                    "nacha_destination_name": "JPMORGAN CHASE", "nacha_immediate_origin": "1234567890",
                    "nacha_origin_name": "ACME INDUSTRIAL", "nacha_company_name": "ACME INDUSTRIAL",
                    "nacha_company_id": "1234567890", "nacha_routing": "021000021", "nacha_account": "55501234"}}
REFUND_ACCOUNT = {"EUR": "NL91ABNA0417164300", "USD": "021000021:7700112233"}


def demo_disputes(*, invoices, customers, currency: str, today: date, seed: int) -> dict[str, int]:
    rng = random.Random(seed * 17 + 3)  # noqa: S311 - demo data
    catalogue_ensure()
    members = _members()
    clerk, lead, portal = members[Role.AR_CLERK].user, members[Role.FINANCE_LEAD].user, members[Role.PORTAL_USER]
    family = set(customer_scope(portal).values_list("pk", flat=True))
    pool = sorted(Invoice.objects.filter(pk__in=[i.pk for i in invoices], open_balance__gt=0,
                                         status__in=("open", "partially_paid"), holds__isnull=True),
                  key=lambda i: (i.customer_id not in family, -i.pk))
    filed = []
    for n, inv in enumerate(pool[:len(PLAN)]):
        reason = REASONS[n % len(REASONS)]
        amount = max(Decimal("1.00"), quantize(inv.open_balance * Decimal(rng.choice(("0.1", "0.25", "0.5"))),
                                               currency))
        lines = [LineInput(inv.pk, amount)]
        if inv.customer_id in family and n < 2:
            dispute = services.dispute_file(membership=portal, lines=lines, reason_code=reason,
                                            message=MESSAGES[reason], actor=portal.user)
        else:
            dispute = services.dispute_file_for_customer(customer=inv.customer, lines=lines, reason_code=reason,
                                                         message=MESSAGES[reason], actor=clerk)
        _work(dispute, PLAN[n], rng, clerk=clerk, lead=lead, portal=portal)
        filed.append(dispute.pk)
    filed += _above_the_clerks_limit(pool[len(PLAN):], clerk)
    filed += _refund_ready_for_the_bank_file(invoices, currency, lead)
    filed += _from_a_deduction(clerk)
    _clocks_ran_out(rng, filed)
    return {"disputes": len(filed)}


def _members() -> dict[str, Membership]:
    found = {}
    for m in Membership.objects.filter(role__in=(Role.AR_CLERK, Role.FINANCE_LEAD, Role.PORTAL_USER)) \
            .select_related("user", "customer").order_by("pk"):
        found.setdefault(m.role, m)
    return found


def _work(dispute: Dispute, plan: str, rng, *, clerk, lead, portal) -> None:
    def move(name):
        services.dispute_transition(dispute=dispute, name=name, actor=clerk)

    if plan == "thread_new":
        services.message_post(dispute=dispute, body="Checked the delivery note: 2 cartons short indeed; "
                              "waiting for the carrier's report before we answer.", actor=clerk,
                              from_customer=False, internal=True)
        return
    if plan == "thread_replied":
        move("triage")
        move("request_info")
        services.message_post(dispute=dispute, body="Could you send the delivery note signed at your dock?",
                              actor=clerk, from_customer=False)
        # The portal user answers their own customer's case; another customer's answer came by email.
        own = dispute.customer_id == portal.customer_id or dispute.customer.parent_id == portal.customer_id
        services.message_post(dispute=dispute, body="Attached is the signed delivery note, see the remark.",
                              actor=portal.user if own else None, from_customer=True)
        services.message_post(dispute=dispute, body="Remark confirms the shortage; propose a credit.",
                              actor=clerk, from_customer=False, internal=True)
        return
    if plan == "triaged":
        move("triage")
        return
    move("start_review")
    if plan == "in_review":
        return
    if plan == "waiting":
        move("request_info")
        return
    resolution = {"partly": "partly_accepted", "closed": "accepted"}.get(plan, plan)
    accepted = quantize(dispute.amount / 2, dispute.currency) if plan == "partly" else None
    services.dispute_resolve(dispute=dispute, resolution=resolution, accepted_amount=accepted,
                             root_cause=rng.choice(ROOT_CAUSES[plan]), note="Checked against contract and POD.",
                             actor=lead)
    if plan == "closed":
        services.dispute_close(dispute=dispute, actor=clerk)


def _above_the_clerks_limit(pool, clerk) -> list[int]:
    """The clerk accepts a large dispute: its credit memo waits for a lead's approval."""
    big = max(pool, key=lambda i: i.open_balance, default=None)
    if big is None or big.open_balance < Decimal("1200"):
        return []
    dispute = services.dispute_file_for_customer(
        customer=big.customer, lines=[LineInput(big.pk, quantize(big.open_balance * Decimal("0.8"), big.currency))],
        reason_code="pricing", message=MESSAGES["pricing"], actor=clerk)
    services.dispute_transition(dispute=dispute, name="start_review", actor=clerk)
    services.dispute_resolve(dispute=dispute, resolution="accepted", root_cause="pricing_error", actor=clerk)
    return [dispute.pk]


def _refund_ready_for_the_bank_file(invoices, currency, lead) -> list[int]:
    """A paid invoice disputed and accepted: the money goes back by a refund, approved and waiting for the
    treasury's bank file (pain.001 for EUR, NACHA for USD), with the accounts both ends need."""
    paid = [i for i in invoices if i.status == "paid"]
    if not paid or currency not in TREASURY:
        return []
    invoice = paid[0]
    treasury_account_update(data=TREASURY[currency], actor=lead)
    CustomerBankAccount.objects.get_or_create(customer_id=invoice.customer_id,
                                              account_identifier=REFUND_ACCOUNT[currency],
                                              defaults={"bank_name": "Refund account"})
    amount = quantize(min(invoice.amount * Decimal("0.1"), Decimal("900")), currency)
    dispute = services.dispute_file_for_customer(
        customer=invoice.customer, lines=[LineInput(invoice.pk, max(amount, Decimal("1.00")))],
        reason_code="returns", message=MESSAGES["returns"], actor=lead)
    services.dispute_transition(dispute=dispute, name="start_review", actor=lead)
    services.dispute_resolve(dispute=dispute, resolution="accepted", root_cause="billing_error", actor=lead)
    return [dispute.pk]


def _from_a_deduction(clerk) -> list[int]:
    deduction = Deduction.objects.filter(status="open", invoice__isnull=False, disputes__isnull=True) \
        .order_by("pk").first()
    if deduction is None:
        return []
    dispute = services.dispute_from_deduction(deduction=deduction, message="The customer contests our denial.",
                                              actor=clerk)
    services.dispute_transition(dispute=dispute, name="start_review", actor=clerk)
    return [dispute.pk]


def _clocks_ran_out(rng, ids) -> None:
    """Filed 1-60 days ago. A few open ones ran out of time long ago and were escalated (the escalation resets
    their clock), a few more ran out since and are overdue now."""
    now = timezone.now()
    rows = list(Dispute.objects.filter(pk__in=ids).order_by("pk"))
    open_rows = [d for d in rows if d.is_open]
    for d in rows:
        d.created_at = now - timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 23))
        d.state_entered_at = max(d.state_entered_at - (now - d.created_at), d.created_at)
    for d in open_rows[::2]:
        d.due_at = now - timedelta(days=rng.randint(8, 40))
    Dispute.objects.bulk_update(rows, ["created_at", "state_entered_at", "due_at"])
    services.disputes_escalate(now=now)
    overdue_now = open_rows[1::3]
    for d in overdue_now:
        d.due_at = now - timedelta(hours=rng.randint(2, 30))
    Dispute.objects.bulk_update(overdue_now, ["due_at"])
