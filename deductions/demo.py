"""Demo deductions: a few dozen in every state and for every reason, worked by the demo clerk and lead through
the real services (credit memos and write-offs go through payment instructions and the ledger), some filed
for the portal user's own customer. Only the dates are moved back afterwards, so that aging, SLA breaches and
cycle times have a history to show."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from o2c.models import Customer, Membership, Role
from o2c.money import quantize

from . import services
from .models import Deduction, DeductionSource

REASONS = ("damaged", "shortage", "pricing", "freight", "promotion", "return", "unearned_discount", "tax",
           "short_payment", "compliance")
REMITTANCE_TEXT = {"damaged": "3 cases damaged on arrival", "shortage": "short 2 pallets",
                   "pricing": "price per contract 12.40", "promotion": "Q3 promo allowance",
                   "freight": "freight not agreed", "return": "returned goods RMA 5512"}
# (share of the cases, what happens to them): the rest stay open.
PLAN = ("open", "research", "open", "credit_memo", "research", "valid", "write_off", "invalid", "repayment",
        "credit_memo", "collection_restart", "open", "rebill", "research", "credit_memo", "valid", "write_off",
        "invalid", "repayment", "open")
SLA_DAYS = 10


def demo_members() -> dict[str, Membership]:
    """The demo tenant's clerk, lead and portal user (seeded before the apps' steps)."""
    wanted = (Role.AR_CLERK, Role.FINANCE_LEAD, Role.PORTAL_USER)
    found = {}
    for m in Membership.objects.filter(role__in=wanted).select_related("user", "customer").order_by("pk"):
        found.setdefault(m.role, m)
    return found


def portal_family_ids(members) -> set[int]:
    portal = members.get(Role.PORTAL_USER)
    if portal is None or portal.customer_id is None:
        return set()
    return set(Customer.objects.filter(Q(pk=portal.customer_id) | Q(parent_id=portal.customer_id))
               .values_list("pk", flat=True))


def demo_deductions(*, invoices, customers, currency: str, today: date, seed: int) -> dict[str, int]:
    rng = random.Random(seed * 31 + 7)  # noqa: S311 - demo data
    members = demo_members()
    clerk, lead = members[Role.AR_CLERK].user, members[Role.FINANCE_LEAD].user
    family = portal_family_ids(members)
    settled = [i for i in invoices if i.status in ("paid", "partially_paid")]
    # The portal user's invoices first, so their customer has deductions to see in the portal.
    settled.sort(key=lambda i: (i.customer_id not in family, i.pk))
    # A few dozen on the full demo; ten (every state still) on the small seed the tests use, to stay quick.
    chosen = settled[:min(36, max(10, len(invoices) // 20))]
    items = []
    for n, inv in enumerate(chosen):
        reason = REASONS[n % len(REASONS)]
        amount = max(Decimal("1.00"), quantize(inv.amount * Decimal(rng.choice(("0.02", "0.05", "0.1", "0.2"))),
                                               currency))
        source = (DeductionSource.PORTAL if inv.customer_id in family and n % 2
                  else rng.choice((DeductionSource.REMITTANCE, DeductionSource.CLERK)))
        items.append(services.NewDeduction(customer_id=inv.customer_id, amount=amount, currency=currency,
                                           reason=reason, source=source, invoice_id=inv.pk,
                                           reason_text=REMITTANCE_TEXT.get(reason, ""), origin="demo"))
    created = services.deductions_create(items, actor=clerk)
    for n, d in enumerate(created):
        _work(d, PLAN[n % len(PLAN)], clerk=clerk, lead=lead)
    pending = _pending_approval(invoices, currency, clerk)
    _spread_dates(rng, [d.pk for d in created] + ([pending.pk] if pending else []))
    return {"deductions": len(created) + (1 if pending else 0)}


def _work(d: Deduction, plan: str, *, clerk, lead) -> None:
    if plan == "open":
        return
    if plan == "research":
        services.deduction_transition(deduction_id=d.pk, action="start_research", actor=clerk)
        return
    if plan in ("valid", "credit_memo", "write_off"):
        services.deduction_transition(deduction_id=d.pk, action="validate", actor=clerk)
        if plan != "valid":
            services.deduction_resolve(deduction_id=d.pk, resolution=plan, actor=lead)
        return
    services.deduction_transition(deduction_id=d.pk, action="invalidate", actor=clerk,
                                  note="Delivered in full and signed for (proof of delivery on file).")
    if plan != "invalid":
        services.deduction_resolve(deduction_id=d.pk, resolution=plan, actor=lead)


def _pending_approval(invoices, currency, clerk) -> Deduction | None:
    """A valid deduction whose credit memo is above the clerk's approval limit: it waits for the lead."""
    big = max((i for i in invoices if i.status in ("paid", "partially_paid")), key=lambda i: i.amount, default=None)
    if big is None or big.amount < Decimal("1500"):
        return None
    amount = quantize(min(big.amount * Decimal("0.5"), Decimal("4800")), currency)
    [d] = services.deductions_create([services.NewDeduction(
        customer_id=big.customer_id, amount=amount, currency=currency, reason="pricing",
        source=DeductionSource.REMITTANCE, invoice_id=big.pk, reason_text="contract price not applied",
        origin="demo")], actor=clerk)
    services.deduction_transition(deduction_id=d.pk, action="validate", actor=clerk)
    services.deduction_resolve(deduction_id=d.pk, resolution="credit_memo", actor=clerk)
    return d


def _spread_dates(rng, ids) -> None:
    """Opened 1-150 days ago, an SLA of ten days, resolved a few days to weeks later (never in the future)."""
    now = timezone.now()
    rows = list(Deduction.objects.filter(pk__in=ids))
    for d in rows:
        d.created_at = now - timedelta(days=rng.randint(1, 150), hours=rng.randint(0, 23))
        d.sla_due = d.created_at + timedelta(days=SLA_DAYS)
        if d.resolved_at is not None:
            d.resolved_at = min(now, d.created_at + timedelta(days=rng.randint(2, 45)))
    Deduction.objects.bulk_update(rows, ["created_at", "sla_due", "resolved_at"])


