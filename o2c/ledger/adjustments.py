"""Ledger adjustments: credit memos, write-offs, re-bills and collection restarts.

What an approved payment instruction does to the ledger. Each operation opens its own transaction, locks the
rows it changes (invoice first, then the credit memo), stays inside the check constraints (an invoice's open
balance between zero and its amount, a credit memo's open balance between zero and its amount), writes an
audit event, and returns the ledger events it caused after dispatching them to the subscribed apps.

Deductions and disputes differ (see INTERFACES.md section 3): a deduction already took its amount off the
invoice's open balance when the short pay was posted, so a credit memo or write-off *for a deduction* leaves
the invoice alone and only records the offset; for a dispute (the invoice not paid yet) the same kinds take
the amount off the open balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.db import models, transaction
from django.utils import timezone

from ..errors import ApplicationError, ConflictError
from ..models import CreditMemo, Customer, Invoice, WriteOff
from ..models.ledger import InvoiceStatus
from ..money import fmt, quantize
from ..numbering import next_number
from ..services.audit import audit_event
from . import events as ev
from .status import invoice_status


@dataclass(frozen=True)
class Adjustment:
    """The row an operation made or changed, and the ledger events it caused (already dispatched)."""

    obj: models.Model | None
    events: list[ev.LedgerEvent] = field(default_factory=list)


def _user(actor):
    """The user row for FK columns; an API token (no user) or the system leaves them empty."""
    return actor if getattr(actor, "pk", None) else None


def positive_amount(amount, currency: str) -> Decimal:
    try:
        amount = Decimal(str(amount))
    except InvalidOperation:
        raise ApplicationError(f"amount {amount!r} is not a number")
    if not amount.is_finite() or amount <= 0:
        raise ApplicationError(f"the amount must be above zero, not {amount}")
    if quantize(amount, currency) != amount:
        raise ApplicationError(f"{amount} has more decimals than {currency} allows")
    return amount


def _lock_invoice(invoice_id: int) -> Invoice:
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
    if invoice is None:
        raise ApplicationError(f"no invoice with id {invoice_id}")
    if invoice.status == InvoiceStatus.VOID:
        raise ConflictError(f"invoice {invoice.number} is void; nothing can be adjusted on it")
    return invoice


def _set_open_balance(invoice: Invoice, new_open: Decimal, *, why: str, actor) -> list[ev.LedgerEvent]:
    """Write the invoice's open balance and the status that goes with it (set-based like cash posting: the
    FSM's transitions do not cover every move an adjustment makes, e.g. paid -> partially paid)."""
    old_open, old_status = invoice.open_balance, invoice.status
    status = invoice_status(invoice.amount, new_open)
    Invoice.objects.filter(pk=invoice.pk).update(open_balance=new_open, status=status, updated_at=timezone.now())
    changes = {"open_balance": [old_open, new_open], "status": [old_status, status], "why": [None, why]}
    audit_event("invoice.balance_adjusted", invoice, changes, actor=actor)
    if old_open > 0 and new_open == 0:
        return [ev.InvoiceSettled(invoice.pk, invoice.customer_id)]
    if old_open == 0 and new_open > 0:
        return [ev.InvoiceReopened(invoice.pk, invoice.customer_id)]
    return []


def _done(obj, events: list[ev.LedgerEvent]) -> Adjustment:
    ev.dispatch(events)
    return Adjustment(obj, events)


def _check_currency(invoice: Invoice, currency: str) -> None:
    if invoice.currency != currency:
        raise ApplicationError(f"invoice {invoice.number} is in {invoice.currency}, not {currency}")


# --- credit memos ---------------------------------------------------------------------------------

def _new_credit_memo(*, customer_id: int, amount: Decimal, currency: str, invoice: Invoice | None,
                     reason: str, actor) -> CreditMemo:
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise ApplicationError(f"no customer with id {customer_id}")
    number = next_number("CM")
    while CreditMemo.objects.filter(number=number).exists():  # an ERP import may have used the number
        number = next_number("CM")
    memo = CreditMemo.objects.create(number=number, customer=customer, invoice=invoice,
                                     issue_date=timezone.localdate(), amount=amount, currency=currency,
                                     open_balance=amount, reason=reason[:200])
    audit_event("credit_memo.issued", memo, {"amount": [None, amount], "invoice": [None, getattr(invoice, "number",
                                                                                                 None)]}, actor=actor)
    return memo


def credit_memo_issue(*, customer_id: int, amount, currency: str, invoice_id: int | None = None, reason: str = "",
                      actor) -> Adjustment:
    """A credit memo for the customer, open (not yet applied); linked to an invoice if one is given."""
    amount = positive_amount(amount, currency)
    with transaction.atomic():
        invoice = _lock_invoice(invoice_id) if invoice_id else None
        if invoice:
            _check_currency(invoice, currency)
        memo = _new_credit_memo(customer_id=customer_id, amount=amount, currency=currency, invoice=invoice,
                                reason=reason, actor=actor)
        return _done(memo, [ev.CreditMemoIssued(memo.pk, memo.customer_id, amount, currency)])


def credit_memo_apply(*, credit_memo_id: int, invoice_id: int, amount=None, actor) -> Adjustment:
    """Apply (part of) an open credit memo to an invoice: both open balances go down by the amount."""
    with transaction.atomic():
        invoice = _lock_invoice(invoice_id)
        memo = CreditMemo.objects.select_for_update().filter(pk=credit_memo_id).first()
        if memo is None:
            raise ApplicationError(f"no credit memo with id {credit_memo_id}")
        _check_currency(invoice, memo.currency)
        if memo.customer_id != invoice.customer_id:
            raise ApplicationError(f"credit memo {memo.number} and invoice {invoice.number} are of different "
                                   "customers")
        amount = memo.open_balance if amount is None else positive_amount(amount, memo.currency)
        if amount <= 0 or amount > memo.open_balance:
            raise ConflictError(f"credit memo {memo.number} has {fmt(memo.open_balance, memo.currency)} "
                                f"{memo.currency} open; {fmt(amount, memo.currency)} cannot be applied")
        if amount > invoice.open_balance:
            raise ConflictError(f"invoice {invoice.number} has {fmt(invoice.open_balance, invoice.currency)} "
                                f"{invoice.currency} open; a credit of {fmt(amount, invoice.currency)} would take "
                                "it below zero")
        before = memo.open_balance
        if amount == memo.open_balance:
            memo.use_up()
        else:
            memo.open_balance -= amount
        memo.save(update_fields=["open_balance", "status"])
        audit_event("credit_memo.applied", memo, {"open_balance": [before, memo.open_balance],
                                                  "invoice": [None, invoice.number]}, actor=actor)
        events = [ev.CreditMemoApplied(memo.pk, invoice.pk, invoice.customer_id, amount)]
        events += _set_open_balance(invoice, invoice.open_balance - amount, why=f"credit memo {memo.number}",
                                    actor=actor)
        return _done(memo, events)


def credit_memo_issue_and_apply(*, customer_id: int, invoice_id: int, amount, currency: str, reason: str = "",
                                actor) -> Adjustment:
    """A dispute resolved by credit: a new memo applied at once to the disputed invoice."""
    with transaction.atomic():
        issued = credit_memo_issue(customer_id=customer_id, amount=amount, currency=currency, invoice_id=invoice_id,
                                   reason=reason, actor=actor)
        applied = credit_memo_apply(credit_memo_id=issued.obj.pk, invoice_id=invoice_id, actor=actor)
        return Adjustment(applied.obj, issued.events + applied.events)


def credit_memo_offset_deduction(*, customer_id: int, amount, currency: str, invoice_id: int | None = None,
                                 reason: str = "", actor) -> Adjustment:
    """A valid deduction closed by credit: the memo offsets the deduction, which had already reduced the
    invoice's open balance when the short pay was posted; so the memo is used up at once and the invoice is
    left alone. Only `CreditMemoIssued` is dispatched (no invoice balance changed)."""
    with transaction.atomic():
        issued = credit_memo_issue(customer_id=customer_id, amount=amount, currency=currency, invoice_id=invoice_id,
                                   reason=reason, actor=actor)
        memo = issued.obj
        before = memo.open_balance
        memo.use_up()
        memo.save(update_fields=["open_balance", "status"])
        audit_event("credit_memo.applied", memo, {"open_balance": [before, memo.open_balance],
                                                  "offsets": [None, "deduction"]}, actor=actor)
        return Adjustment(memo, issued.events)


# --- write-offs -----------------------------------------------------------------------------------

def write_off_record(*, customer_id: int, amount, currency: str, account: str, reason: str = "",
                     invoice_id: int | None = None, reduce_open_balance: bool, actor) -> Adjustment:
    """Write an amount off to a GL account. `reduce_open_balance`: take it off the invoice's open balance (a
    dispute's unpaid invoice); False for a deduction, whose short pay already did."""
    amount = positive_amount(amount, currency)
    account = (account or "").strip()
    if not account:
        raise ApplicationError("a write-off needs the GL account it is written off to")
    with transaction.atomic():
        invoice = _lock_invoice(invoice_id) if invoice_id else None
        if reduce_open_balance and invoice is None:
            raise ApplicationError("writing off an open balance needs the invoice")
        if invoice:
            _check_currency(invoice, currency)
            if invoice.customer_id != customer_id:
                raise ApplicationError(f"invoice {invoice.number} is not this customer's")
        if reduce_open_balance and amount > invoice.open_balance:
            raise ConflictError(f"invoice {invoice.number} has {fmt(invoice.open_balance, currency)} {currency} "
                                f"open; {fmt(amount, currency)} cannot be written off")
        if not Customer.objects.filter(pk=customer_id).exists():
            raise ApplicationError(f"no customer with id {customer_id}")
        write_off = WriteOff.objects.create(customer_id=customer_id, invoice=invoice, number=next_number("WO"),
                                            amount=amount, currency=currency, account=account, reason=reason[:200],
                                            reduced_open_balance=reduce_open_balance, created_by=_user(actor))
        audit_event("write_off.recorded", write_off, {"amount": [None, amount], "account": [None, account]},
                    actor=actor)
        events: list[ev.LedgerEvent] = []
        if invoice:
            # The event needs an invoice; a deduction without one is recorded (WriteOff row) without it.
            events.append(ev.InvoiceWrittenOff(invoice.pk, customer_id, amount, account, reason))
            if reduce_open_balance:
                events += _set_open_balance(invoice, invoice.open_balance - amount,
                                            why=f"write-off {write_off.number}", actor=actor)
        return _done(write_off, events)


# --- re-bills and collection restarts -------------------------------------------------------------

def _due_date(customer: Customer, issued):
    try:
        days = customer.terms.net_days
    except ValueError:
        days = 30  # unreadable terms: the common default rather than refusing the re-bill
    return issued + timedelta(days=days)


def _rebill_number(original: Invoice | None) -> str:
    if original is None:
        return next_number("RB")
    # The original is locked by the caller, so two re-bills of it cannot pick the same suffix.
    prefix = f"RB-{original.number}-"
    n = Invoice.objects.filter(number__startswith=prefix).count() + 1
    while Invoice.objects.filter(number=f"{prefix}{n}").exists():
        n += 1
    return f"{prefix}{n}"


def invoice_rebill(*, customer_id: int, amount, currency: str, original_invoice_id: int | None = None,
                   memo: str = "", actor) -> Adjustment:
    """A new invoice for the amount, with its own number ("RB-<original>-<n>"), due per the customer's terms."""
    amount = positive_amount(amount, currency)
    with transaction.atomic():
        original = None
        if original_invoice_id:
            original = Invoice.objects.select_for_update().filter(pk=original_invoice_id).first()
            if original is None:
                raise ApplicationError(f"no invoice with id {original_invoice_id}")
        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is None:
            raise ApplicationError(f"no customer with id {customer_id}")
        issued = timezone.localdate()
        invoice = Invoice.objects.create(number=_rebill_number(original), customer=customer, issue_date=issued,
                                         due_date=_due_date(customer, issued), amount=amount, currency=currency,
                                         open_balance=amount, po_number=getattr(original, "po_number", ""))
        audit_event("invoice.rebilled", invoice, {"amount": [None, amount],
                                                  "original": [None, getattr(original, "number", None)],
                                                  "memo": [None, memo[:200] or None]}, actor=actor)
        return _done(invoice, [ev.InvoiceIssued(invoice.pk, customer.pk, amount, currency)])


def invoice_collection_restart(*, invoice_id: int, amount, actor) -> Adjustment:
    """Put an amount back on the invoice's open balance (an invalid deduction is owed again); never above the
    invoice's amount."""
    with transaction.atomic():
        invoice = _lock_invoice(invoice_id)
        amount = positive_amount(amount, invoice.currency)
        if invoice.open_balance + amount > invoice.amount:
            raise ConflictError(f"invoice {invoice.number} has {fmt(invoice.open_balance, invoice.currency)} of "
                                f"{fmt(invoice.amount, invoice.currency)} {invoice.currency} open; "
                                f"{fmt(amount, invoice.currency)} more would exceed its amount")
        events = _set_open_balance(invoice, invoice.open_balance + amount, why="collection restarted", actor=actor)
        invoice.refresh_from_db(fields=["open_balance", "status"])
        return _done(invoice, events)
