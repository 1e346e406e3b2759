"""Payment instructions: create, approve (within the approver's limit), execute, cancel, confirm; dunning holds.

Ledger kinds (credit memo, write-off, re-bill, collection restart, withholding) execute when approved, in the
approving transaction, through `o2c.ledger.adjustments`, and are then done. Refunds stay approved until a
bank file includes them (`refund_files.refund_file_create`: sent) and the treasury confirms them
(`instruction_mark_done`: done). On done the ledger dispatches `InstructionCompleted`, for the deduction or
dispute that asked for it to close its side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from ..errors import ApplicationError, ConflictError
from ..ledger import adjustments
from ..ledger import events as ev
from ..models import (
    ApprovalLimit,
    Customer,
    InstructionKind,
    InstructionStatus,
    Invoice,
    InvoiceHold,
    Membership,
    OriginKind,
    PaymentInstruction,
    Role,
    Tenant,
    TreasuryAccount,
)
from ..money import fmt
from ..numbering import next_number, next_numbers
from ..permissions import roles_with
from ..services.audit import audit_event, audit_events
from ..tenancy import current_tenant_id

DEFAULT_LIMITS = {Role.AR_CLERK: Decimal("1000.00"), Role.COLLECTOR: Decimal("0"), Role.FINANCE_LEAD: None,
                  Role.TENANT_ADMIN: None}
# Kinds that act on one invoice and cannot do without it.
NEEDS_INVOICE = {InstructionKind.WITHHOLD}


def _user(actor):
    return actor if getattr(actor, "pk", None) else None


# --- approval limits ------------------------------------------------------------------------------

def approval_limits() -> list[ApprovalLimit]:
    """The tenant's limits; the defaults are stored on first use (a tenant made after the data migration)."""
    limits = list(ApprovalLimit.objects.order_by("role", "currency"))
    if not limits:
        currency = Tenant.objects.get(pk=current_tenant_id()).base_currency
        ApprovalLimit.objects.bulk_create(
            [ApprovalLimit(role=role, max_amount=limit, currency=currency) for role, limit in DEFAULT_LIMITS.items()],
            ignore_conflicts=True)
        limits = list(ApprovalLimit.objects.order_by("role", "currency"))
    return limits


def limit_for(role: str | None, currency: str, limits: list[ApprovalLimit]) -> Decimal | None:
    """What `role` may approve alone in `currency`: None is without limit, 0 is nothing. A role without a
    limit in that currency may approve it only if it is unlimited in another (no exchange rates here)."""
    if role not in roles_with("instructions.approve"):
        return Decimal("0")
    rows = [limit for limit in limits if limit.role == role]
    exact = [limit for limit in rows if limit.currency == currency]
    if exact:
        return exact[0].max_amount
    return None if any(limit.max_amount is None for limit in rows) else Decimal("0")


def _may_approve(role: str | None, amount: Decimal, currency: str, limits) -> bool:
    limit = limit_for(role, currency, limits)
    return limit is None or amount <= limit


def approval_limit_update(*, role: str, currency: str, max_amount: Decimal | None, actor) -> ApprovalLimit:
    if role not in Role.values or role == Role.PORTAL_USER:
        raise ApplicationError(f"unknown staff role {role!r}")
    if max_amount is not None and max_amount < 0:
        raise ApplicationError("an approval limit cannot be negative")
    with transaction.atomic():
        approval_limits()
        limit, _ = ApprovalLimit.objects.select_for_update().get_or_create(role=role, currency=currency.upper())
        before = limit.max_amount
        limit.max_amount = max_amount
        limit.save(update_fields=["max_amount", "updated_at"])
        audit_event("approval_limit.updated", limit, {"max_amount": [before, max_amount]}, actor=actor)
    return limit


def role_of(actor) -> str | None:
    """The actor's role in the current tenant: an API token carries its own; None for the system."""
    if actor is None:
        return None
    if getattr(actor, "pk", None) is None:
        membership = getattr(actor, "membership", None)  # o2c.api_plumbing.ApiPrincipal
        return getattr(membership, "role", None)
    membership = Membership.objects.filter(user_id=actor.pk, is_active=True).first()
    return membership.role if membership else None


def _who_may_approve(amount: Decimal, currency: str, limits) -> str:
    roles = [Role(r).label.lower() for r in sorted(roles_with("instructions.approve"))
             if _may_approve(r, amount, currency, limits)]
    return " or ".join(f"a {r}" for r in roles) or "nobody (raise an approval limit)"


def _check_limit(pi: PaymentInstruction, actor) -> None:
    limits = approval_limits()
    role = role_of(actor)
    if _may_approve(role, pi.amount, pi.currency, limits):
        return
    limit = limit_for(role, pi.currency, limits)
    who = _who_may_approve(pi.amount, pi.currency, limits)
    role_label = Role(role).label if role in Role.values else "no role"
    raise ConflictError(
        f"{pi.number} for {fmt(pi.amount, pi.currency)} {pi.currency} is above your approval limit "
        f"({fmt(limit, pi.currency)} {pi.currency} as {role_label}); {who} must approve it",
        extra={"approval_limit": str(limit), "must_approve": who})


# --- instructions ---------------------------------------------------------------------------------

def _validate(kind, origin_kind, customer_id, invoice_id, currency, amount, account, *, customers=None,
              invoices=None) -> tuple[Customer, Invoice | None]:
    """The customer and invoice an instruction concerns, or an ApplicationError saying what is wrong. A batch
    passes `customers` and `invoices` loaded at once ({id: row}); one instruction loads its own."""
    if kind not in InstructionKind.values:
        raise ApplicationError(f"unknown instruction kind {kind!r}; one of {', '.join(InstructionKind.values)}")
    if origin_kind not in OriginKind.values:
        raise ApplicationError(f"unknown origin {origin_kind!r}; one of {', '.join(OriginKind.values)}")
    if customers is None:
        customers = Customer.objects.in_bulk([customer_id])
    customer = customers.get(customer_id)
    if customer is None:
        raise ApplicationError(f"no customer with id {customer_id}")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ApplicationError(f"currency {currency!r} is not an ISO 4217 code")
    invoice = None
    if invoice_id is not None:
        if invoices is None:
            invoices = Invoice.objects.select_related("customer").in_bulk([invoice_id])
        invoice = invoices.get(invoice_id)
        if invoice is None:
            raise ApplicationError(f"no invoice with id {invoice_id}")
        if customer_id not in (invoice.customer_id, invoice.customer.parent_id):
            raise ApplicationError(f"invoice {invoice.number} is not {customer.name}'s")
        if invoice.currency != currency:
            raise ApplicationError(f"invoice {invoice.number} is in {invoice.currency}, not {currency}")
    needs_invoice = kind in NEEDS_INVOICE or (kind == InstructionKind.COLLECTION_RESTART
                                              and origin_kind == OriginKind.DEDUCTION)
    if needs_invoice and invoice is None:
        raise ApplicationError(f"a {InstructionKind(kind).label.lower()} needs the invoice it concerns")
    if kind == InstructionKind.WRITE_OFF and not (account or "").strip():
        raise ApplicationError("a write-off needs the GL account it is written off to")
    return customer, invoice


def instruction_create(*, kind: str, customer_id: int, amount, currency: str, origin_kind: str, origin_id: int,
                       invoice_id: int | None = None, memo: str = "", actor, account: str = "") -> PaymentInstruction:
    """Record what a resolution asks for. If `actor` may approve the amount it is approved (and a ledger kind
    executed) at once, in the same transaction: an execution the ledger refuses stores nothing."""
    currency = (currency or "").strip().upper()
    amount = adjustments.positive_amount(amount, currency or "USD")
    customer, invoice = _validate(kind, origin_kind, customer_id, invoice_id, currency, amount, account)
    with transaction.atomic():
        pi = PaymentInstruction.objects.create(
            number=next_number("PI"), kind=kind, customer=customer, invoice=invoice, amount=amount,
            currency=currency, origin_kind=origin_kind, origin_id=int(origin_id), memo=memo or "",
            account=(account or "").strip(), requested_by=_user(actor))
        audit_event("payment_instruction.created", pi, {
            "kind": [None, kind], "amount": [None, amount], "currency": [None, currency],
            "origin": [None, f"{origin_kind} {origin_id}"]}, actor=actor)
        if actor is not None and _may_approve(role_of(actor), amount, currency, approval_limits()):
            _approve(pi, actor)
    return pi


@dataclass(frozen=True)
class InstructionRequest:
    """One instruction of a batch asked for by the system (triage rules, research): nobody approves it here."""

    kind: str
    customer_id: int
    amount: Decimal
    currency: str
    origin_kind: str
    origin_id: int
    invoice_id: int | None = None
    memo: str = ""
    account: str = ""


def instructions_request(requests: list[InstructionRequest]) -> list[PaymentInstruction | ApplicationError]:
    """`instruction_create(..., actor=None)` for many at once: each is checked as one would be, and those that
    pass are stored pending approval with one statement per table (numbers, rows, audit events). Returns, in
    order, the instruction or the error that refused it; a refusal does not stop the others."""
    customers = Customer.objects.in_bulk({r.customer_id for r in requests})
    invoices = Invoice.objects.select_related("customer").in_bulk({r.invoice_id for r in requests if r.invoice_id})
    results: list[PaymentInstruction | ApplicationError] = []
    for r in requests:
        currency = (r.currency or "").strip().upper()
        try:
            amount = adjustments.positive_amount(r.amount, currency or "USD")
            customer, invoice = _validate(r.kind, r.origin_kind, r.customer_id, r.invoice_id, currency, amount,
                                          r.account, customers=customers, invoices=invoices)
        except ApplicationError as exc:
            results.append(exc)
            continue
        results.append(PaymentInstruction(
            kind=r.kind, customer=customer, invoice=invoice, amount=amount, currency=currency,
            origin_kind=r.origin_kind, origin_id=int(r.origin_id), memo=r.memo or "",
            account=(r.account or "").strip(), requested_by=None))
    new = [pi for pi in results if isinstance(pi, PaymentInstruction)]
    with transaction.atomic():
        for pi, number in zip(new, next_numbers("PI", len(new)), strict=True):
            pi.number = number
        PaymentInstruction.objects.bulk_create(new)
        audit_events([("payment_instruction.created", pi, {
            "kind": [None, pi.kind], "amount": [None, pi.amount], "currency": [None, pi.currency],
            "origin": [None, f"{pi.origin_kind} {pi.origin_id}"]}) for pi in new])
    return results


def _lock(instruction_id) -> PaymentInstruction:
    pi = PaymentInstruction.objects.select_for_update().filter(pk=instruction_id).first()
    if pi is None:
        raise ApplicationError(f"no payment instruction with id {instruction_id}")
    return pi


def _transition(pi: PaymentInstruction, name: str, verb: str) -> None:
    try:
        getattr(pi, name)()
    except TransitionNotAllowed:
        raise ConflictError(f"{pi.number} ({pi.get_kind_display().lower()}) is {pi.get_status_display().lower()}; "
                            f"it cannot be {verb}")


def instruction_approve(*, instruction_id: int, actor) -> PaymentInstruction:
    """Approve within the actor's limit (above it: ConflictError naming who must approve); a ledger kind is
    executed and done in the same transaction. Approving twice is a ConflictError: the row lock makes a
    concurrent second approval wait and then find it approved."""
    with transaction.atomic():
        pi = _lock(instruction_id)
        if pi.status != InstructionStatus.PENDING_APPROVAL:
            _transition(pi, "approve", "approved")  # raises the ConflictError with the state
        _check_limit(pi, actor)
        _approve(pi, actor)
    return pi


def _approve(pi: PaymentInstruction, actor) -> None:
    before = pi.status
    _transition(pi, "approve", "approved")
    pi.approved_by, pi.approved_at = _user(actor), timezone.now()
    pi.save(update_fields=["status", "approved_by", "approved_at"])
    audit_event("payment_instruction.approved", pi, {"status": [before, pi.status]}, actor=actor)
    if pi.kind != InstructionKind.REFUND:
        _execute(pi, actor)


def _execute(pi: PaymentInstruction, actor) -> None:
    result = _EXECUTORS[pi.kind](pi, actor)
    fields = ["status", "done_at"]
    if result is not None and result.obj is not None:
        target = {InstructionKind.CREDIT_MEMO: "credit_memo", InstructionKind.REBILL: "rebill_invoice",
                  InstructionKind.WRITE_OFF: "write_off"}.get(pi.kind)
        if target:
            setattr(pi, target, result.obj)
            fields.append(target)
    before = pi.status
    _transition(pi, "execute", "executed")
    pi.done_at = timezone.now()
    pi.save(update_fields=fields)
    audit_event("payment_instruction.done", pi, {"status": [before, pi.status]}, actor=actor)
    _completed(pi)


def _completed(pi: PaymentInstruction) -> None:
    ev.dispatch([ev.InstructionCompleted(pi.pk, pi.kind, pi.origin_kind, pi.origin_id, pi.amount)])


def _credit_memo(pi, actor):
    reason = f"{pi.number}: {pi.memo}"[:200] if pi.memo else pi.number
    if pi.origin_kind == OriginKind.DEDUCTION:
        return adjustments.credit_memo_offset_deduction(customer_id=pi.customer_id, amount=pi.amount,
                                                        currency=pi.currency, invoice_id=pi.invoice_id,
                                                        reason=reason, actor=actor)
    if pi.invoice_id:  # the memo is the invoice's customer's, even when its parent paid or disputed it
        return adjustments.credit_memo_issue_and_apply(customer_id=pi.invoice.customer_id, invoice_id=pi.invoice_id,
                                                       amount=pi.amount, currency=pi.currency, reason=reason,
                                                       actor=actor)
    return adjustments.credit_memo_issue(customer_id=pi.customer_id, amount=pi.amount, currency=pi.currency,
                                         reason=reason, actor=actor)


def _write_off(pi, actor):
    return adjustments.write_off_record(
        customer_id=pi.invoice.customer_id if pi.invoice_id else pi.customer_id, amount=pi.amount,
        currency=pi.currency, account=pi.account, reason=f"{pi.number} {pi.memo}".strip(), invoice_id=pi.invoice_id,
        reduce_open_balance=pi.origin_kind == OriginKind.DISPUTE and pi.invoice_id is not None, actor=actor)


def _rebill(pi, actor):
    return adjustments.invoice_rebill(customer_id=pi.customer_id, amount=pi.amount, currency=pi.currency,
                                      original_invoice_id=pi.invoice_id, memo=pi.memo, actor=actor)


def _collection_restart(pi, actor):
    """A deduction found invalid: its amount is owed again on the invoice. A dispute (the invoice never paid
    down) only has its holds released, so dunning resumes."""
    invoice_hold_release(origin_kind=pi.origin_kind, origin_id=pi.origin_id, actor=actor)
    if pi.origin_kind == OriginKind.DEDUCTION:
        return adjustments.invoice_collection_restart(invoice_id=pi.invoice_id, amount=pi.amount, actor=actor)
    return None


def _withhold(pi, actor):
    invoice_hold_place(invoice_id=pi.invoice_id, amount=pi.amount, origin_kind=pi.origin_kind,
                       origin_id=pi.origin_id, reason=pi.memo or pi.number, actor=actor)
    return None


_EXECUTORS = {
    InstructionKind.CREDIT_MEMO: _credit_memo,
    InstructionKind.WRITE_OFF: _write_off,
    InstructionKind.REBILL: _rebill,
    InstructionKind.COLLECTION_RESTART: _collection_restart,
    InstructionKind.WITHHOLD: _withhold,
}


def instruction_cancel(*, instruction_id: int, actor, reason: str = "") -> PaymentInstruction:
    """Withdraw an instruction not yet executed or sent (pending approval, or an approved refund)."""
    with transaction.atomic():
        pi = _lock(instruction_id)
        before = pi.status
        _transition(pi, "cancel", "cancelled")
        pi.cancelled_at = timezone.now()
        pi.save(update_fields=["status", "cancelled_at"])
        audit_event("payment_instruction.cancelled", pi, {"status": [before, pi.status],
                                                         "reason": [None, reason[:200] or None]}, actor=actor)
    return pi


def instruction_mark_done(*, instruction_id: int, actor) -> PaymentInstruction:
    """The treasury confirms a sent refund went out."""
    with transaction.atomic():
        pi = _lock(instruction_id)
        before = pi.status
        _transition(pi, "confirm", "marked done")
        pi.done_at = timezone.now()
        pi.save(update_fields=["status", "done_at"])
        audit_event("payment_instruction.done", pi, {"status": [before, pi.status]}, actor=actor)
        _completed(pi)
    return pi


# --- dunning holds --------------------------------------------------------------------------------

def invoice_hold_place(*, invoice_id: int, amount, origin_kind: str, origin_id: int, reason: str = "",
                       actor) -> InvoiceHold:
    """Hold dunning on (part of) an invoice for a case. Placing it again for the same case and invoice keeps
    the one active hold (its amount updated), so callers may place it whenever they are unsure."""
    if origin_kind not in OriginKind.values:
        raise ApplicationError(f"unknown origin {origin_kind!r}; one of {', '.join(OriginKind.values)}")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
        if invoice is None:
            raise ApplicationError(f"no invoice with id {invoice_id}")
        amount = adjustments.positive_amount(amount, invoice.currency)
        if amount > invoice.amount:
            raise ApplicationError(f"a hold of {fmt(amount, invoice.currency)} is more than invoice {invoice.number}'s "
                                   f"amount ({fmt(invoice.amount, invoice.currency)} {invoice.currency})")
        hold = InvoiceHold.objects.filter(invoice=invoice, origin_kind=origin_kind, origin_id=origin_id,
                                          released_at__isnull=True).first()
        if hold is not None:
            if hold.amount != amount:
                before, hold.amount = hold.amount, amount
                hold.save(update_fields=["amount"])
                audit_event("invoice_hold.changed", hold, {"amount": [before, amount]}, actor=actor)
            return hold
        hold = InvoiceHold.objects.create(invoice=invoice, amount=amount, origin_kind=origin_kind,
                                          origin_id=origin_id, reason=(reason or "")[:200], placed_by=_user(actor))
        audit_event("invoice_hold.placed", hold, {"invoice": [None, invoice.number], "amount": [None, amount],
                                                  "origin": [None, f"{origin_kind} {origin_id}"]}, actor=actor)
    return hold


def invoice_hold_release(*, origin_kind: str, origin_id: int, actor) -> int:
    """Release every active hold a case placed; how many were released (0 when none: safe to repeat)."""
    with transaction.atomic():
        holds = list(InvoiceHold.objects.select_for_update().filter(origin_kind=origin_kind, origin_id=origin_id,
                                                                    released_at__isnull=True).order_by("pk"))
        now = timezone.now()
        for hold in holds:
            hold.released_at = now
            hold.save(update_fields=["released_at"])
            audit_event("invoice_hold.released", hold, {"released_at": [None, now]}, actor=actor)
    return len(holds)


def held_invoice_ids() -> set[int]:
    """Invoices dunning and the collections worklist must skip: those with an active hold."""
    return set(InvoiceHold.objects.filter(released_at__isnull=True).values_list("invoice_id", flat=True))


# --- treasury settings ----------------------------------------------------------------------------

TREASURY_FIELDS = ["debtor_name", "iban", "bic", "nacha_immediate_destination", "nacha_destination_name",
                   "nacha_immediate_origin", "nacha_origin_name", "nacha_company_name", "nacha_company_id",
                   "nacha_routing", "nacha_account"]
_SECRET_FIELDS = {"iban", "nacha_account"}  # the audit says they changed, not to what


def treasury_account_update(*, data: dict, actor) -> TreasuryAccount:
    """Store the account refunds are paid from (one per tenant; created on first save)."""
    with transaction.atomic():
        account = TreasuryAccount.objects.select_for_update().first() or TreasuryAccount()
        before = {name: getattr(account, name) for name in TREASURY_FIELDS}
        for name in TREASURY_FIELDS:
            setattr(account, name, (data.get(name) or "").strip())
        account.save()
        changes = {name: (["…", "…"] if name in _SECRET_FIELDS else [before[name], getattr(account, name)])
                   for name in TREASURY_FIELDS if before[name] != getattr(account, name)}
        audit_event("treasury_account.updated", account, changes, actor=actor)
    return account
