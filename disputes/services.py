"""Writes on disputes. Each service opens its own transaction, locks what it changes, audits, and hands
follow-up work (triage, notifications) to Celery after commit."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from o2c.documents import document_store, documents_kept_only_on_success
from o2c.errors import ApplicationError, ConflictError
from o2c.models import Customer, Invoice
from o2c.money import fmt, quantize
from o2c.services.audit import audit_event

from . import integration
from .catalogue import catalogue_ensure
from .models import (
    CLOCK_STATUSES,
    MANUAL_TRANSITIONS,
    PRIORITY_ORDER,
    Category,
    Dispute,
    DisputeAttachment,
    DisputeLine,
    DisputeMessage,
    DisputeReason,
    DisputeSettings,
    FiledVia,
    Resolution,
    RootCause,
)
from .sla import add_business_hours

ZERO = Decimal("0")
# Today's deduction reasons (deductions.models.DeductionReason) -> standard dispute category.
_DEDUCTION_REASON_CATEGORY = {"short_payment": "unknown", "damaged": "damage", "return": "returns"}


@dataclass(frozen=True)
class LineInput:
    invoice_id: int
    amount: Decimal
    description: str = ""


# --- filing ------------------------------------------------------------------------------------------

def dispute_file(*, membership, lines: list[LineInput], reason_code: str, message: str, attachments=(),
                 actor) -> Dispute:
    """A portal user files a dispute on their own customer's invoices: all of it is stored, or nothing."""
    customer = membership.customer
    if customer is None:
        raise ApplicationError("this portal account is not linked to a customer")
    return _dispute_create(customer=customer, lines=lines, reason_code=reason_code, message=message,
                           attachments=attachments, channel=FiledVia.PORTAL, actor=actor, from_customer=True)


def dispute_file_for_customer(*, customer: Customer, lines: list[LineInput], reason_code: str, message: str,
                              attachments=(), actor) -> Dispute:
    """A clerk files a dispute on the customer's behalf (a call, an email)."""
    return _dispute_create(customer=customer, lines=lines, reason_code=reason_code, message=message,
                           attachments=attachments, channel=FiledVia.CLERK, actor=actor, from_customer=False)


def dispute_from_deduction(*, deduction, reason_code: str = "", message: str = "", actor) -> Dispute:
    """Turn a deduction (what the customer kept back) into a dispute about its invoice."""
    if deduction.invoice_id is None:
        raise ApplicationError(f"deduction {deduction.pk} names no invoice to dispute")
    if Dispute.objects.filter(deduction=deduction).exists():
        raise ConflictError(f"deduction {deduction.pk} already has a dispute")
    code = reason_code or _deduction_category(deduction)
    return _dispute_create(customer=deduction.customer, lines=[LineInput(deduction.invoice_id, deduction.amount)],
                           reason_code=code, message=message or f"Opened from deduction {deduction.pk}",
                           attachments=(), channel=FiledVia.DEDUCTION, actor=actor, from_customer=False,
                           deduction=deduction)


def _deduction_category(deduction) -> str:
    reason_code = getattr(deduction, "reason_code", None)  # the extended Deduction model (after the merge)
    if reason_code is not None and getattr(reason_code, "category", ""):
        return reason_code.category
    reason = getattr(deduction, "reason", "") or "unknown"
    category = _DEDUCTION_REASON_CATEGORY.get(reason, reason)
    return category if category in Category.values else "unknown"


def _dispute_create(*, customer, lines, reason_code, message, attachments, channel, actor, from_customer,
                    deduction=None) -> Dispute:
    if not (message or "").strip():
        raise ApplicationError("write a message saying what is wrong")
    stored = []
    with documents_kept_only_on_success(stored), transaction.atomic():
        settings = catalogue_ensure()
        reason = _reason(reason_code)
        invoices = _checked_lines(customer, lines, limit_by_balance=deduction is None)
        currency = invoices[lines[0].invoice_id].currency
        now = timezone.now()
        dispute = Dispute(number=_next_number(settings), customer=customer, reason_code=reason, channel=channel,
                          currency=currency, amount=sum((line.amount for line in lines), start=ZERO),
                          deduction=deduction, created_by=actor, state_entered_at=now)
        _restart_clock(dispute, settings, now)
        dispute.save()
        DisputeLine.objects.bulk_create([DisputeLine(dispute=dispute, invoice_id=line.invoice_id, amount=line.amount,
                                                     description=line.description[:300]) for line in lines])
        posted = DisputeMessage.objects.create(dispute=dispute, author=actor, from_customer=from_customer,
                                               body=message.strip())
        _attach(dispute, posted, attachments, actor, stored)
        if deduction is None:  # a deduction is already off the open balance: nothing left to dun
            _place_holds(dispute, actor)
        audit_event("dispute.filed", dispute, {"amount": [None, dispute.amount], "channel": [None, channel]},
                    actor=actor)
        _after_commit(dispute, "filed")
    return dispute


def _reason(code: str) -> DisputeReason:
    reason = DisputeReason.objects.filter(code=code, is_active=True).first()
    if reason is None:
        raise ApplicationError(f"{code or 'an empty reason'!r} is not one of the dispute reasons")
    return reason


def _checked_lines(customer, lines: list[LineInput], *, limit_by_balance: bool) -> dict[int, Invoice]:
    """The invoices of the lines, after checking each is the customer's and each amount fits."""
    if not lines:
        raise ApplicationError("choose at least one invoice and the amount you dispute on it")
    wanted = {line.invoice_id for line in lines}
    own = Invoice.objects.filter(pk__in=wanted, customer__in=_customer_family(customer))
    invoices = {inv.pk: inv for inv in own.select_for_update(of=("self",))}
    foreign = sorted(wanted - set(invoices))
    if foreign:
        raise ApplicationError(f"invoice id {foreign[0]} is not an invoice of {customer.name}; nothing was filed")
    if len({inv.currency for inv in invoices.values()}) > 1:
        raise ApplicationError("one dispute covers invoices of one currency; file one dispute per currency")
    per_invoice: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        invoice = invoices[line.invoice_id]
        if line.amount <= 0 or quantize(line.amount, invoice.currency) != line.amount:
            raise ApplicationError(f"invoice {invoice.number}: the disputed amount must be positive, "
                                   f"in whole {invoice.currency} minor units")
        per_invoice[invoice.pk] += line.amount
    for invoice_id, total in per_invoice.items():
        invoice = invoices[invoice_id]
        # An open invoice is disputed up to what is still open; a paid one (a refund case) up to its amount.
        limit = invoice.open_balance if (limit_by_balance and invoice.open_balance > 0) else invoice.amount
        if total > limit:
            raise ApplicationError(f"invoice {invoice.number}: {fmt(total, invoice.currency)} {invoice.currency} "
                                   f"disputed, but only {fmt(limit, invoice.currency)} {invoice.currency} can be")
    return invoices


def _customer_family(customer):
    return Customer.objects.filter(pk=customer.pk) | Customer.objects.filter(parent_id=customer.pk)


def _next_number(settings: DisputeSettings) -> str:
    locked = DisputeSettings.objects.select_for_update().get(pk=settings.pk)
    locked.last_number += 1
    locked.save(update_fields=["last_number"])
    return f"DS-{locked.last_number:06d}"


def _attach(dispute, message, uploads, actor, stored: list) -> None:
    for upload in uploads or ():
        doc = document_store(upload, folder="disputes")
        stored.append(doc)
        DisputeAttachment.objects.create(dispute=dispute, message=message, path=doc.path, name=doc.name,
                                         size=doc.size, sha256=doc.sha256, content_type=doc.content_type,
                                         uploaded_by=actor)


def _place_holds(dispute: Dispute, actor) -> None:
    per_invoice: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line in dispute.lines.all():
        per_invoice[line.invoice_id] += line.amount
    for invoice_id, amount in sorted(per_invoice.items()):
        integration.invoice_hold_place(invoice_id=invoice_id, amount=amount, dispute_id=dispute.pk,
                                       reason=f"dispute {dispute.number}", actor=actor)


# --- the SLA clock -------------------------------------------------------------------------------------

def _restart_clock(dispute: Dispute, settings: DisputeSettings, now, hours: int | None = None) -> None:
    """Each state has its own clock: it starts when the state is entered."""
    dispute.state_entered_at = now
    hours = settings.sla_hours(dispute.status) if hours is None else hours
    dispute.due_at = add_business_hours(now, hours, settings.calendar()) if hours is not None else None


# --- moves ------------------------------------------------------------------------------------------

def _locked(dispute: Dispute) -> Dispute:
    return Dispute.objects.select_for_update().get(pk=dispute.pk)


def _move(locked: Dispute, name: str, *args) -> str:
    before = locked.status
    try:
        getattr(locked, name)(*args)
    except TransitionNotAllowed:
        raise ConflictError(f"{locked.number} is {locked.get_status_display().lower()}: "
                            f"cannot {name.replace('_', ' ')} it now", extra={"status": locked.status})
    return before


_CLOCK_FIELDS = ["status", "state_entered_at", "due_at", "updated_at"]


def dispute_transition(*, dispute: Dispute, name: str, actor) -> Dispute:
    """One of the clerk's plain moves (triage, start review, ask the customer, close)."""
    if name not in MANUAL_TRANSITIONS:
        raise ApplicationError(f"{name!r} is not a dispute transition")
    with transaction.atomic():
        locked = _locked(dispute)
        before = _move(locked, name)
        _restart_clock(locked, catalogue_ensure(), timezone.now())
        locked.save(update_fields=_CLOCK_FIELDS)
        audit_event(f"dispute.{name}", locked, {"status": [before, locked.status]}, actor=actor)
        _after_commit(locked, "status")
    return locked


def dispute_resolve(*, dispute: Dispute, resolution: str, accepted_amount: Decimal | None = None, note: str = "",
                    root_cause: str = "", actor) -> Dispute:
    """Decide the case and produce the payment instructions the ledger and the ERP need."""
    if resolution not in Resolution.values:
        raise ApplicationError(f"{resolution!r} is not a resolution (accepted, partly_accepted, rejected)")
    with transaction.atomic():
        locked = _locked(dispute)
        accepted = _accepted_amount(locked, resolution, accepted_amount)
        before = _move(locked, "resolve", resolution, accepted, note)
        if root_cause:
            locked.root_cause = _root_cause(root_cause)
        _restart_clock(locked, catalogue_ensure(), timezone.now())
        locked.save(update_fields=[*_CLOCK_FIELDS, "resolution", "accepted_amount", "resolution_note", "root_cause"])
        integration.invoice_hold_release(dispute_id=locked.pk, actor=actor)
        _instructions_for(locked, accepted, actor)
        audit_event("dispute.resolved", locked, {"status": [before, locked.status],
                                                 "resolution": ["", resolution], "accepted_amount": [None, accepted]},
                    actor=actor)
        _after_commit(locked, "status")
    return locked


def _accepted_amount(dispute: Dispute, resolution: str, given: Decimal | None) -> Decimal:
    if resolution == Resolution.ACCEPTED:
        return dispute.amount
    if resolution == Resolution.REJECTED:
        return ZERO
    if given is None or not (ZERO < given < dispute.amount):
        raise ApplicationError(f"a partly accepted dispute needs an accepted amount above 0 and below "
                               f"{fmt(dispute.amount, dispute.currency)} {dispute.currency}")
    if quantize(given, dispute.currency) != given:
        raise ApplicationError(f"the accepted amount has more decimals than {dispute.currency} allows")
    return given


def _root_cause(code: str) -> RootCause:
    cause = RootCause.objects.filter(code=code).first()
    if cause is None:
        raise ApplicationError(f"{code!r} is not one of the root causes")
    return cause


def _instructions_for(dispute: Dispute, accepted: Decimal, actor) -> None:
    """Accepted money goes back line by line: a credit memo on what is still open, a refund on what was paid.

    A dispute from a deduction is settled on the deduction, which already took the amount off the invoice:
    the accepted part is closed by a credit memo offsetting it, the rest is owed again (collection restart).
    A rejected dispute on an open invoice only needs its dunning hold released (done by the caller).
    """
    memo = f"dispute {dispute.number} ({dispute.get_resolution_display().lower()})"
    if dispute.deduction_id:
        integration.deduction_settle(deduction_id=dispute.deduction_id, accepted_amount=accepted,
                                     note=dispute.resolution_note or memo, actor=actor)
        return
    if accepted == 0:
        return
    remaining = accepted
    for line in dispute.lines.select_related("invoice").order_by("id"):
        part = min(remaining, line.amount)
        remaining -= part
        for kind, amount in _credit_or_refund(dispute, line.invoice, part):
            integration.instruction_create(kind=kind, customer_id=dispute.customer_id, amount=amount,
                                           currency=dispute.currency, origin_id=dispute.pk,
                                           invoice_id=line.invoice_id, memo=memo, actor=actor)
        if remaining <= 0:
            break


def _credit_or_refund(dispute: Dispute, invoice: Invoice, amount: Decimal) -> list[tuple[str, Decimal]]:
    credit = min(amount, max(invoice.open_balance, ZERO))
    return [(kind, part) for kind, part in (("credit_memo", credit), ("refund", amount - credit)) if part > 0]


def dispute_reopen(*, dispute: Dispute, reason: str, actor) -> Dispute:
    if not (reason or "").strip():
        raise ApplicationError("say why the dispute is reopened")
    with transaction.atomic():
        locked = _locked(dispute)
        before = _move(locked, "reopen", reason.strip())
        _restart_clock(locked, catalogue_ensure(), timezone.now())
        locked.save(update_fields=[*_CLOCK_FIELDS, "reopen_reason", "resolution", "accepted_amount"])
        if locked.deduction_id is None:
            _place_holds(locked, actor)
        audit_event("dispute.reopened", locked, {"status": [before, locked.status], "reason": ["", reason]},
                    actor=actor)
        _after_commit(locked, "status")
    return locked


def dispute_close(*, dispute: Dispute, actor) -> Dispute:
    return dispute_transition(dispute=dispute, name="close", actor=actor)


def dispute_update(*, dispute: Dispute, actor, owner=None, queue: str | None = None, priority: str | None = None,
                   root_cause: str | None = None, sla_hours: int | None = None) -> Dispute:
    """Assign an owner or queue, set the priority or root cause, or give the current state another SLA."""
    with transaction.atomic():
        locked = _locked(dispute)
        fields = ["owner", "queue", "priority", "root_cause", "due_at"]
        before = {name: getattr(locked, name) for name in fields}
        if owner is not None:
            locked.owner = owner
        if queue is not None:
            locked.queue = queue[:60]
        if priority is not None:
            if priority not in PRIORITY_ORDER:
                raise ApplicationError(f"{priority!r} is not a priority (low, normal, high, urgent)")
            locked.priority = priority
        if root_cause is not None:
            locked.root_cause = _root_cause(root_cause) if root_cause else None
        if sla_hours is not None and locked.is_open:
            _restart_clock(locked, catalogue_ensure(), locked.state_entered_at, hours=sla_hours)
        changes = {name: [before[name], getattr(locked, name)] for name in fields
                   if before[name] != getattr(locked, name)}
        if changes:
            locked.save(update_fields=[*fields, "updated_at"])
            audit_event("dispute.updated", locked, changes, actor=actor)
    return locked


# --- the thread -----------------------------------------------------------------------------------------

def message_post(*, dispute: Dispute, body: str, actor, from_customer: bool, internal: bool = False,
                 attachments=()) -> DisputeMessage:
    """Add to the thread. Internal notes are for staff only; a customer's answer resumes the review."""
    if not (body or "").strip() and not attachments:
        raise ApplicationError("write a message or attach a document")
    if internal and from_customer:
        raise ApplicationError("customers cannot write internal notes")
    stored = []
    with documents_kept_only_on_success(stored), transaction.atomic():
        locked = _locked(dispute)
        posted = DisputeMessage.objects.create(dispute=locked, author=actor, from_customer=from_customer,
                                               internal=internal, body=(body or "").strip() or "(document)")
        _attach(locked, posted, attachments, actor, stored)
        if from_customer and locked.status == "waiting_customer":
            before = _move(locked, "customer_replied")
            _restart_clock(locked, catalogue_ensure(), timezone.now())
            locked.save(update_fields=_CLOCK_FIELDS)
            audit_event("dispute.customer_replied", locked, {"status": [before, locked.status]}, actor=actor)
            _after_commit(locked, "status")
        elif not internal:
            _notify_on_commit(locked, "message", message_id=posted.pk)
    return posted


# --- the ledger's answer -------------------------------------------------------------------------------

def disputes_instruction_completed(events) -> None:
    """A dispute's payment instruction is done (InstructionCompleted, bulk, inside the ledger's transaction).

    Every one is audited on the dispute, so its history shows the money actually moved. A refund is also
    told to the customer in the thread (and so by email): it completes days after the resolution, when the
    treasury confirms the transfer. Ledger kinds (credit memo, ...) complete within the resolution itself,
    whose message already says what was accepted.
    """
    from o2c.instructions import InstructionKind

    mine = [e for e in events if e.origin_kind == integration.CASE_KIND]
    if not mine:
        return
    with transaction.atomic():
        disputes = {d.pk: d for d in Dispute.objects.select_for_update()
                    .filter(pk__in=sorted({e.origin_id for e in mine})).order_by("pk")}
        for event in mine:
            dispute = disputes.get(event.origin_id)
            if dispute is None:
                continue
            audit_event("dispute.instruction_completed", dispute,
                        {"instruction": [None, event.instruction_id], "kind": [None, event.kind],
                         "amount": [None, event.amount]})
            if event.kind == InstructionKind.REFUND:
                message_post(dispute=dispute, actor=None, from_customer=False,
                             body=f"The refund of {fmt(event.amount, dispute.currency)} {dispute.currency} "
                                  f"was paid to your bank account.")


# --- escalation ------------------------------------------------------------------------------------------

def disputes_escalate(*, now=None) -> list[int]:
    """Escalate the current tenant's open disputes whose state clock ran out; returns their ids.

    Escalating raises the priority a step, counts the level up and restarts the clock, so running it
    again before the new deadline changes nothing.
    """
    now = now or timezone.now()
    escalated = []
    with transaction.atomic():
        settings = catalogue_ensure()
        overdue = (Dispute.objects.select_for_update(skip_locked=True)
                   .filter(status__in=CLOCK_STATUSES, due_at__lte=now).order_by("id"))
        for dispute in overdue:
            before = (dispute.priority, dispute.escalation_level)
            dispute.priority = PRIORITY_ORDER[min(PRIORITY_ORDER.index(dispute.priority) + 1, len(PRIORITY_ORDER) - 1)]
            dispute.escalation_level += 1
            dispute.escalated_at = now
            # A fresh deadline from now (the state itself was not re-entered): the next escalation waits for it.
            dispute.due_at = add_business_hours(now, settings.sla_hours(dispute.status), settings.calendar())
            dispute.save(update_fields=["priority", "escalation_level", "escalated_at", "due_at", "updated_at"])
            audit_event("dispute.escalated", dispute, {"priority": [before[0], dispute.priority],
                                                       "escalation_level": [before[1], dispute.escalation_level]})
            _notify_on_commit(dispute, "escalated")
            escalated.append(dispute.pk)
    return escalated


# --- follow-ups ------------------------------------------------------------------------------------------

def _after_commit(dispute: Dispute, event: str) -> None:
    # triage_enqueue defers the task to the commit itself; called now, while the tenant is still in scope (the
    # outermost transaction may commit after the scope is left, as the demo seed's does).
    if not integration.applying_triage_now():
        integration.triage_enqueue([dispute.pk])
    _notify_on_commit(dispute, event)


def _notify_on_commit(dispute: Dispute, event: str, message_id: int | None = None) -> None:
    from .tasks import dispute_notify

    tenant_id, dispute_id = dispute.tenant_id, dispute.pk
    transaction.on_commit(lambda: dispute_notify.delay(tenant_id, dispute_id, event, message_id))


# --- settings ------------------------------------------------------------------------------------------

SETTINGS_FIELDS = ("time_zone", "day_start", "day_end", "working_days", "sla_new_hours", "sla_triaged_hours",
                   "sla_in_review_hours", "sla_waiting_customer_hours")


def dispute_settings_update(*, actor, **values) -> DisputeSettings:
    """Change the business hours and SLA hours; clocks started from now on use them (running ones keep theirs)."""
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise ApplicationError(f"not a dispute setting: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = DisputeSettings.objects.select_for_update().get(pk=catalogue_ensure().pk)
        before = {name: getattr(locked, name) for name in SETTINGS_FIELDS}
        for name, value in values.items():
            setattr(locked, name, sorted(set(value)) if name == "working_days" else value)
        try:
            locked.calendar()  # the SLA clock's own checks: a zone that exists, a day that ends after it starts
        except (ValueError, KeyError) as exc:
            raise ApplicationError(f"these business hours cannot be used: {exc}")
        changes = {name: [before[name], getattr(locked, name)] for name in SETTINGS_FIELDS
                   if before[name] != getattr(locked, name)}
        if changes:
            locked.save(update_fields=list(changes))
            audit_event("dispute_settings.updated", locked, changes, actor=actor)
    return locked
