"""Writes of the deductions app: creation from every source, the lifecycle, split and merge, resolution.

Each service opens its own transaction, locks the rows it changes (in primary-key order), moves the
state machine, saves with `update_fields` and writes one audit event per deduction. Follow-up work
(research, triage) is enqueued on commit.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from o2c.bulk import update_columns
from o2c.documents import document_store, documents_kept_only_on_success
from o2c.errors import ApplicationError, ConflictError
from o2c.inputs import control_character_problem
from o2c.models import Customer, Invoice, User
from o2c.money import fmt, parse_amount, quantize
from o2c.services.audit import audit_event, audit_events, audit_events_bulk

from . import integration
from .models import (
    DEFAULT_REASON_CODES,
    RESOLUTIONS_FOR,
    WORKABLE,
    CustomerReasonCode,
    Deduction,
    DeductionDocument,
    DeductionSource,
    DeductionStatus,
    ReasonCode,
    Resolution,
)

FALLBACK_REASON = "short_payment"
ACTION_VERBS = {"start_research": "put in research", "validate": "marked valid", "invalidate": "marked invalid",
                "reopen": "reopened", "resolve": "resolved", "split": "split", "merge": "merged",
                "cancel": "cancelled"}
RESOLUTION_INSTRUCTION = {Resolution.CREDIT_MEMO: "credit_memo", Resolution.WRITE_OFF: "write_off",
                          Resolution.REBILL: "rebill", Resolution.COLLECTION_RESTART: "collection_restart"}


# --- reason codes --------------------------------------------------------------------------------

def reason_codes_ensure() -> None:
    """Give the current tenant the default catalogue if it has none yet (first use; idempotent)."""
    if ReasonCode.objects.exists():
        return
    ReasonCode.objects.bulk_create(
        [ReasonCode(code=code, name=name, category=category) for code, name, category in DEFAULT_REASON_CODES],
        ignore_conflicts=True)


def reason_code_resolve(code: str, customer_id: int | None = None) -> tuple[ReasonCode, str]:
    """(our reason code, the customer's own code or "") for a code as given by a customer or a clerk."""
    reason_codes_ensure()
    code = (code or "").strip()
    if customer_id and code:
        mapped = CustomerReasonCode.objects.select_related("reason_code").filter(
            customer_id=customer_id, code__iexact=code).first()
        if mapped:
            return mapped.reason_code, code
    ours = ReasonCode.objects.filter(code__iexact=code).first() if code else None
    if ours:
        return ours, ""
    return ReasonCode.objects.get(code=FALLBACK_REASON), code


def _reason_resolver(customer_ids):
    """reason_code_resolve for many deductions with two queries in all."""
    reason_codes_ensure()
    ours = {r.code.lower(): r for r in ReasonCode.objects.all()}
    maps = {(m.customer_id, m.code.lower()): m.reason_code_id
            for m in CustomerReasonCode.objects.filter(customer_id__in=customer_ids)}
    by_id = {r.pk: r for r in ours.values()}

    def resolve(code: str, customer_id: int) -> tuple[ReasonCode, str]:
        key = (code or "").strip()
        if (customer_id, key.lower()) in maps:
            return by_id[maps[(customer_id, key.lower())]], key
        if key.lower() in ours:
            return ours[key.lower()], ""
        return ours[FALLBACK_REASON], key

    return resolve


def reason_code_save(*, code: str, name: str, category: str, gl_account: str, tolerance_max_amount=None,
                     tolerance_max_share=None, is_active: bool = True, actor) -> ReasonCode:
    with transaction.atomic():
        reason, created = ReasonCode.objects.select_for_update().get_or_create(
            code=code.strip(), defaults={"name": name, "category": category})
        fields = ("name", "category", "gl_account", "tolerance_max_amount", "tolerance_max_share", "is_active")
        before = {f: getattr(reason, f) for f in fields}
        reason.name, reason.category, reason.gl_account = name, category, gl_account
        reason.tolerance_max_amount, reason.tolerance_max_share = tolerance_max_amount, tolerance_max_share
        reason.is_active = is_active
        reason.save()
        changes = {f: [before[f], getattr(reason, f)] for f in fields if created or before[f] != getattr(reason, f)}
        audit_event("reason_code.created" if created else "reason_code.changed", reason, changes, actor=actor)
    return reason


MAP_HEADER = ["customer_id", "customer_code", "reason_code", "description"]


def _code_map_problem(code: str, description: str) -> str | None:
    """A value its column cannot hold is refused, never cut: a NUL or an over-long code failed the INSERT (a 500),
    a long description was cut without a word."""
    for name, column, value in (("customer_code", "code", code), ("description", "description", description)):
        problem = control_character_problem(value)
        if problem:
            return f"{name} {problem}"
        limit = CustomerReasonCode._meta.get_field(column).max_length
        if len(value) > limit:
            return f"{name} is {len(value):,} characters; at most {limit} fit"
    return None


def customer_reason_codes_import(*, data: bytes, actor) -> int:
    """Import a customer code map CSV (header: customer_id,customer_code,reason_code,description; the
    customer_id is the ERP's id). The whole file is refused on any bad row, every bad row as `line N: reason`.
    Rows already present are updated; returns the number of rows."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApplicationError("the file is not UTF-8 text")
    reader = csv.DictReader(io.StringIO(text))
    if [h.strip() for h in reader.fieldnames or []][:3] != MAP_HEADER[:3]:
        raise ApplicationError(f"line 1: the header must start with {','.join(MAP_HEADER)}")
    reason_codes_ensure()
    customers = dict(Customer.objects.values_list("external_id", "id"))
    ours = {c.lower(): pk for c, pk in ReasonCode.objects.values_list("code", "id")}
    errors, rows, seen = [], {}, set()
    for line, row in enumerate(reader, start=2):
        ext = (row.get("customer_id") or "").strip()
        code = (row.get("customer_code") or "").strip()
        reason = (row.get("reason_code") or "").strip().lower()
        description = (row.get("description") or "").strip()
        problem = _code_map_problem(code, description)
        if problem:
            errors.append(f"line {line}: {problem}")
        elif ext not in customers:
            errors.append(f"line {line}: unknown customer {ext!r}")
        elif not code:
            errors.append(f"line {line}: customer_code is empty")
        elif reason not in ours:
            errors.append(f"line {line}: unknown reason code {reason!r}")
        elif (ext, code.lower()) in seen:
            errors.append(f"line {line}: {code!r} of customer {ext} appears twice")
        else:
            seen.add((ext, code.lower()))
            rows[(customers[ext], code)] = (ours[reason], description)
    if errors:
        raise ApplicationError("; ".join(errors[:50]), extra={"errors": errors})
    if not rows:
        raise ApplicationError("the file has no rows")
    with transaction.atomic():
        existing = {(m.customer_id, m.code): m for m in CustomerReasonCode.objects.select_for_update()}
        new, changed = [], []
        for (customer_id, code), (reason_id, description) in rows.items():
            mapping = existing.get((customer_id, code))
            if mapping is None:
                new.append(CustomerReasonCode(customer_id=customer_id, code=code, reason_code_id=reason_id,
                                              description=description))
            else:
                mapping.reason_code_id, mapping.description = reason_id, description
                changed.append(mapping)
        CustomerReasonCode.objects.bulk_create(new)
        CustomerReasonCode.objects.bulk_update(changed, ["reason_code", "description"])
        audit_events([("customer_reason_codes.imported", m, {"reason_code_id": [None, m.reason_code_id]})
                      for m in new + changed], actor=actor)
    return len(rows)


# --- creation ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewDeduction:
    customer_id: int
    amount: Decimal
    currency: str
    reason: str
    source: str
    invoice_id: int | None = None
    payment_id: int | None = None
    reason_text: str = ""
    origin: str = ""


def deductions_create(items: list[NewDeduction], *, actor=None) -> list[Deduction]:
    """Create deductions (any source but cash application, which inserts its own) in bulk, mapped onto the
    tenant's reason codes; research and triage follow on commit."""
    if not items:
        return []
    with transaction.atomic():
        resolve = _reason_resolver({item.customer_id for item in items})
        rows = []
        for item in items:
            if item.amount <= 0:
                raise ApplicationError(f"a deduction must be positive, not {item.amount}")
            reason, customer_code = resolve(item.reason, item.customer_id)
            rows.append(Deduction(
                customer_id=item.customer_id, invoice_id=item.invoice_id, payment_id=item.payment_id,
                amount=quantize(item.amount, item.currency), currency=item.currency, reason=reason.code,
                reason_code=reason, customer_reason_code=customer_code, reason_text=item.reason_text[:300],
                source=item.source, origin=item.origin[:200], intake_done=True))
        created = Deduction.objects.bulk_create(rows)
        audit_events([("deduction.created", d, {"amount": [None, d.amount], "source": [None, d.source]})
                      for d in created], actor=actor)
        ids = [d.pk for d in created]
        _after_create(ids)
    return created


def _after_create(ids: list[int]) -> None:
    from o2c.tenancy import current_tenant_id

    from .tasks import deductions_research

    tenant_id = current_tenant_id()
    transaction.on_commit(lambda: deductions_research.delay(tenant_id, ids))
    integration.triage_enqueue(ids)


def deduction_create_by_clerk(*, customer: Customer, amount: Decimal, reason: str, invoice: Invoice | None = None,
                              reason_text: str = "", documents=(), actor) -> Deduction:
    if invoice is not None and invoice.customer_id != customer.pk:
        raise ApplicationError(f"invoice {invoice.number} is not {customer.name}'s")
    currency = invoice.currency if invoice else customer.currency
    return _create_with_documents(NewDeduction(customer_id=customer.pk, amount=amount, currency=currency,
                                               reason=reason, source=DeductionSource.CLERK,
                                               invoice_id=invoice.pk if invoice else None,
                                               reason_text=reason_text, origin="entered by a clerk"),
                                  documents, actor=actor, from_customer=False)


def deduction_file_by_customer(*, membership, invoice: Invoice, amount: Decimal, reason: str, reason_text: str = "",
                               documents=(), actor) -> Deduction:
    """A portal user files a deduction against one of their own invoices (the caller got `invoice` through
    the access functions, so it is theirs)."""
    if amount > invoice.amount:
        raise ApplicationError(f"the deduction cannot exceed the invoice ({fmt(invoice.amount, invoice.currency)})")
    return _create_with_documents(NewDeduction(customer_id=invoice.customer_id, amount=amount,
                                               currency=invoice.currency, reason=reason,
                                               source=DeductionSource.PORTAL, invoice_id=invoice.pk,
                                               reason_text=reason_text, origin="filed in the portal"),
                                  documents, actor=actor, from_customer=True)


def _create_with_documents(item: NewDeduction, documents, *, actor, from_customer: bool) -> Deduction:
    stored = []
    with documents_kept_only_on_success(stored), transaction.atomic():
        [deduction] = deductions_create([item], actor=actor)
        for uploaded in documents:
            stored.append(_document_add(deduction, uploaded, kind="claim", actor=actor, from_customer=from_customer))
    return deduction


def deductions_intake(ids: list[int] | None = None) -> list[int]:
    """Finish deductions cash application inserted in SQL: map their reason onto the tenant's catalogue,
    then research and triage them. Without ids, every deduction still waiting (a periodic sweep)."""
    with transaction.atomic():
        reason_codes_ensure()
        # Only the reason is read and two columns written: a run's chunk opens hundreds, loaded whole for nothing.
        pending = (Deduction.objects.select_for_update(skip_locked=True).filter(intake_done=False).only("reason")
                   .order_by("pk"))
        if ids is not None:
            pending = pending.filter(pk__in=ids)
        pending = list(pending[:10000])
        if not pending:
            return []
        codes = {c.code: c for c in ReasonCode.objects.all()}
        for d in pending:
            d.reason_code = codes.get(d.reason) or codes[FALLBACK_REASON]
            d.intake_done = True
        update_columns(Deduction, pending, {"reason_code_id": "bigint", "intake_done": "boolean"})
        done = [d.pk for d in pending]
        _after_create(done)
    return done


# --- the lifecycle -------------------------------------------------------------------------------

def _locked(deduction_id) -> Deduction:
    try:
        return Deduction.objects.select_for_update().get(pk=deduction_id)
    except (Deduction.DoesNotExist, ValueError, TypeError):
        raise ApplicationError(f"deduction {deduction_id} not found")


def _move(deduction: Deduction, action: str) -> None:
    try:
        getattr(deduction, action)()
    except TransitionNotAllowed:
        raise ConflictError(f"{deduction.number} is {deduction.get_status_display().lower()}; "
                            f"it cannot be {ACTION_VERBS[action]}", extra={"status": deduction.status})


def deduction_transition(*, deduction_id, action: str, actor, note: str = "") -> Deduction:
    """start_research, validate, invalidate (needs the denial note), reopen (needs the reason)."""
    if action not in ("start_research", "validate", "invalidate", "reopen"):
        raise ApplicationError(f"unknown action {action!r}")
    note = (note or "").strip()
    if action == "invalidate" and not note:
        raise ApplicationError("say why the deduction is invalid: the denial note goes to the customer")
    if action == "reopen" and not note:
        raise ApplicationError("say why the deduction is reopened")
    with transaction.atomic():
        d = _locked(deduction_id)
        before = d.status
        _move(d, action)
        fields = ["status"]
        changes = {"status": [before, d.status]}
        if action == "invalidate":
            d.denial_note = note
            fields.append("denial_note")
            changes["denial_note"] = ["", note]
        if action == "reopen":
            fields.append("resolution")
            changes["reason"] = ["", note]
        d.save(update_fields=fields)
        audit_event(f"deduction.{action}", d, changes, actor=actor)
        if action == "invalidate":
            _notify_denial_on_commit(d.pk)
        if action in ("reopen",):
            integration.triage_enqueue([d.pk])
    return d


def _notify_denial_on_commit(deduction_id: int) -> None:
    from o2c.tenancy import current_tenant_id

    from .tasks import deduction_denial_notify

    tenant_id = current_tenant_id()
    transaction.on_commit(lambda: deduction_denial_notify.delay(tenant_id, deduction_id))


def deduction_assign(*, deduction_id, actor, owner: User | None = None, queue: str | None = None,
                     priority: str | None = None) -> Deduction:
    with transaction.atomic():
        d = _locked(deduction_id)
        if d.is_closed:
            raise ConflictError(f"{d.number} is {d.get_status_display().lower()}; it cannot be reassigned")
        before = {"owner_id": d.owner_id, "queue": d.queue, "priority": d.priority}
        if owner is not None:
            d.owner = owner
        if queue is not None:
            d.queue = queue[:60]
        if priority is not None:
            d.priority = priority
        changes = {k: [v, getattr(d, k)] for k, v in before.items() if v != getattr(d, k)}
        d.save(update_fields=["owner", "queue", "priority"])
        audit_event("deduction.assigned", d, changes, actor=actor)
    return d


def deduction_split(*, deduction_id, amounts: list[Decimal], actor) -> list[Deduction]:
    """Split an open deduction into parts that sum exactly to its remaining amount (e.g. 60 pricing and
    40 shortage); the original closes as split, each part keeps its lineage (`parent`)."""
    with transaction.atomic():
        d = _locked(deduction_id)
        if d.status not in WORKABLE:
            _move(d, "split")  # refused with the state's message (409) before the amounts are looked at
        amounts = [quantize(Decimal(a), d.currency) for a in amounts]
        if len(amounts) < 2:
            raise ApplicationError("a split needs at least two parts")
        if any(a <= 0 for a in amounts):
            raise ApplicationError("every part must be positive")
        if sum(amounts) != d.remaining_amount:
            raise ApplicationError(f"the parts sum to {fmt(sum(amounts), d.currency)}, not the remaining "
                                   f"{fmt(d.remaining_amount, d.currency)}")
        before = d.status
        _move(d, "split")
        d.save(update_fields=["status", "closed_amount"])
        parts = Deduction.objects.bulk_create([
            Deduction(customer_id=d.customer_id, invoice_id=d.invoice_id, payment_id=d.payment_id, amount=a,
                      currency=d.currency, reason=d.reason, reason_code_id=d.reason_code_id,
                      customer_reason_code=d.customer_reason_code, reason_text=d.reason_text, source=d.source,
                      origin=f"split from {d.number}", parent=d, owner_id=d.owner_id, queue=d.queue,
                      priority=d.priority, intake_done=True)
            for a in amounts])
        audit_events([("deduction.split", d, {"status": [before, d.status],
                                              "parts": [None, ", ".join(p.number for p in parts)]})]
                     + [("deduction.created", p, {"amount": [None, p.amount], "parent": [None, d.number]})
                        for p in parts], actor=actor)
        integration.triage_enqueue([p.pk for p in parts])
    return parts


def deduction_merge(*, deduction_ids: list[int], actor) -> Deduction:
    """Merge open deductions of one customer and currency into one of their summed remaining amount."""
    ids = sorted({int(i) for i in deduction_ids})
    if len(ids) < 2:
        raise ApplicationError("choose at least two deductions to merge")
    with transaction.atomic():
        rows = list(Deduction.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        if len(rows) != len(ids):
            raise ApplicationError("a deduction to merge was not found")
        if len({(r.customer_id, r.currency) for r in rows}) > 1:
            raise ApplicationError("only deductions of one customer and one currency can be merged")
        total = sum((r.remaining_amount for r in rows), Decimal(0))
        first = rows[0]
        before = {r.pk: r.status for r in rows}
        for r in rows:
            _move(r, "merge")
        same = {(r.invoice_id, r.reason_code_id, r.source) for r in rows}
        invoice_id, reason_code_id, source = same.pop() if len(same) == 1 else \
            (None, first.reason_code_id, DeductionSource.CLERK)
        merged = Deduction(customer_id=first.customer_id, invoice_id=invoice_id, amount=total,
                           currency=first.currency, reason=first.reason, reason_code_id=reason_code_id,
                           source=source, origin="merged from " + ", ".join(r.number for r in rows),
                           owner_id=first.owner_id, queue=first.queue, priority=first.priority, intake_done=True)
        merged.save()
        for r in rows:
            r.merged_into = merged
        Deduction.objects.bulk_update(rows, ["status", "closed_amount", "merged_into"])
        audit_events([("deduction.merged", r, {"status": [before[r.pk], r.status],
                                               "merged_into": [None, merged.number]}) for r in rows]
                     + [("deduction.created", merged, {"amount": [None, total]})], actor=actor)
        integration.triage_enqueue([merged.pk])
    return merged


def deduction_resolve(*, deduction_id, resolution: str, actor, memo: str = "", account: str = "") -> Deduction:
    """Resolve a decided deduction. A valid one: credit memo or write-off to the reason's account; an
    invalid one: re-bill, collection restarted, or repaid. All but a repayment go through a payment
    instruction; the deduction closes when the instruction completes (deductions.subscriptions)."""
    with transaction.atomic():
        d = _locked(deduction_id)
        allowed = RESOLUTIONS_FOR.get(d.status)
        if allowed is None:
            raise ConflictError(f"{d.number} is {d.get_status_display().lower()}; decide valid or invalid first",
                                extra={"status": d.status})
        if resolution not in allowed:
            raise ConflictError(f"a {d.get_status_display().lower()} deduction is resolved by "
                                f"{' or '.join(Resolution(r).label.lower() for r in allowed)}, not "
                                f"{resolution.replace('_', ' ')}", extra={"status": d.status})
        if d.instruction_id is not None:
            raise ConflictError(f"{d.number} is already being resolved (instruction {d.instruction_id})")
        d.resolution = resolution
        if resolution == Resolution.REPAYMENT:
            _close_resolved(d, actor=actor)
            return d
        d.save(update_fields=["resolution"])
        if not account and resolution == Resolution.WRITE_OFF and d.reason_code_id:
            account = ReasonCode.objects.get(pk=d.reason_code_id).gl_account
        instruction = integration.instruction_create(
            kind=RESOLUTION_INSTRUCTION[resolution], customer_id=d.customer_id, amount=d.remaining_amount,
            currency=d.currency, origin_id=d.pk, invoice_id=d.invoice_id, actor=actor, account=account,
            memo=memo or f"deduction {d.number}: {Resolution(resolution).label.lower()}")
        # The instruction may have completed inside instruction_create and closed the deduction already.
        Deduction.objects.filter(pk=d.pk, status__in=RESOLUTIONS_FOR).update(instruction_id=instruction.pk)
        audit_event("deduction.resolution_requested", d, {"resolution": ["", resolution],
                                                          "instruction": [None, instruction.pk]}, actor=actor)
        d.refresh_from_db()
    return d


def deduction_settle_by_dispute(*, deduction_id, accepted_amount: Decimal, note: str, actor) -> list[Deduction]:
    """A dispute about this deduction was decided: the deduction is the open claim, so it is settled here.

    What was accepted is valid and closed by a credit memo that offsets it; the rest is invalid and put back
    on the invoice (collection restart). A partly accepted deduction is split first. A deduction a clerk
    already decided the same way is resolved as is; one decided the other way, or closed, is a conflict.
    """
    with transaction.atomic():
        d = _locked(deduction_id)
        accepted = quantize(Decimal(accepted_amount), d.currency)
        if d.status in WORKABLE and 0 < accepted < d.remaining_amount:
            valid, invalid = deduction_split(deduction_id=d.pk, amounts=[accepted, d.remaining_amount - accepted],
                                             actor=actor)
            return [_settle(valid.pk, True, note, actor), _settle(invalid.pk, False, note, actor)]
        if accepted not in (0, d.remaining_amount):
            raise ConflictError(f"{d.number} is {d.get_status_display().lower()}: it cannot be split to settle "
                                f"a partly accepted dispute", extra={"status": d.status})
        return [_settle(d.pk, accepted > 0, note, actor)]


def _settle(deduction_id, valid: bool, note: str, actor) -> Deduction:
    d = _locked(deduction_id)
    wanted = DeductionStatus.VALID if valid else DeductionStatus.INVALID
    if d.status in WORKABLE:
        d = deduction_transition(deduction_id=d.pk, action="validate" if valid else "invalidate",
                                 note=note or "dispute rejected", actor=actor)
    if d.status != wanted:
        raise ConflictError(f"{d.number} is {d.get_status_display().lower()}; the dispute found it "
                            f"{wanted.label.lower()}", extra={"status": d.status})
    resolution = Resolution.CREDIT_MEMO if valid else Resolution.COLLECTION_RESTART
    return deduction_resolve(deduction_id=d.pk, resolution=resolution, actor=actor,
                             memo=f"deduction {d.number}: settled by dispute")


def deductions_write_off(accounts: dict[int, str], *, actor=None, memo: str = "") -> list[int]:
    """`deduction_resolve(..., resolution=WRITE_OFF)` for many valid deductions ({id: GL account, "" for the
    reason's}), as a triage batch's rules ask: locked, marked and audited in one statement each; the system's
    instructions stored in one batch (o2c.instructions.instructions_request).
    One that may not be written off (or whose instruction is refused) is skipped and its refusal audited.
    Returns the ids written off. Measured: 445 write-offs of a 10,000-deduction triage, bench/triage_e2e.py."""
    with transaction.atomic():
        rows = list(Deduction.objects.select_for_update().filter(pk__in=sorted(accounts)).order_by("pk"))
        gl = dict(ReasonCode.objects.filter(pk__in={d.reason_code_id for d in rows}).values_list("pk", "gl_account"))
        refused = [(d, f"{d.number} is {d.get_status_display().lower()}; it cannot be written off") for d in rows
                   if Resolution.WRITE_OFF not in RESOLUTIONS_FOR.get(d.status, ()) or d.instruction_id is not None]
        eligible = [d for d in rows if d not in {r for r, _ in refused}]
        for d in eligible:
            d.resolution = Resolution.WRITE_OFF
        # Marked first, in one statement: an instruction that completes at once closes the deduction by it.
        update_columns(Deduction, eligible, {"resolution": "text"})
        done, events = [], []
        for d, instruction in zip(eligible, _write_off_instructions(eligible, accounts, gl, actor, memo), strict=True):
            if isinstance(instruction, Exception):
                d.resolution = ""
                refused.append((d, str(instruction)[:200]))
                continue
            d.instruction_id = instruction.pk
            done.append(d)
            events.append(("deduction.resolution_requested", d, {"resolution": ["", d.resolution],
                                                                 "instruction": [None, instruction.pk]}))
        update_columns(Deduction, [d for d in eligible if not d.resolution], {"resolution": "text"})
        # The instruction may have completed and closed the deduction already (it then holds the same id).
        update_columns(Deduction, done, {"instruction_id": "bigint"})
        audit_events_bulk(events + [("deduction.write_off_refused", d, {"reason": [None, why]}) for d, why in refused],
                          actor=actor)
    return [d.pk for d in done]


def _write_off_instructions(deductions, accounts, gl, actor, memo) -> list:
    """One write-off instruction per deduction, or the error that refused it. Asked for by the system (no
    actor) they are stored in one batch and wait for approval; a person's may be approved and executed at
    once, each in its own savepoint so that one refusal does not undo the others."""
    def fields(d):
        return {"customer_id": d.customer_id, "amount": d.remaining_amount, "currency": d.currency, "origin_id": d.pk,
                "invoice_id": d.invoice_id, "account": accounts[d.pk] or gl.get(d.reason_code_id, ""),
                "memo": memo or f"deduction {d.number}: {Resolution.WRITE_OFF.label.lower()}"}

    if actor is None:
        return integration.write_offs_request([fields(d) for d in deductions])
    results = []
    for d in deductions:
        try:
            with transaction.atomic():
                results.append(integration.instruction_create(kind="write_off", actor=actor, **fields(d)))
        except Exception as exc:  # noqa: BLE001 - one refused write-off must not undo the others
            results.append(exc)
    return results


def _close_resolved(d: Deduction, *, actor, instruction_id=None) -> None:
    before = d.status
    _move(d, "resolve")
    d.resolved_at = timezone.now()
    d.instruction_id = instruction_id
    d.save(update_fields=["status", "resolution", "closed_amount", "recovered_amount", "resolved_at",
                          "instruction_id"])
    d.refresh_from_db(fields=["remaining_amount"])  # computed by the database
    audit_event("deduction.resolved", d, {"status": [before, d.status], "resolution": ["", d.resolution],
                                          "recovered_amount": [None, d.recovered_amount]}, actor=actor)


def deductions_instruction_completed(events) -> None:
    """Close the deductions whose payment instruction completed (InstructionCompleted, bulk)."""
    by_id = {e.origin_id: e for e in events if e.origin_kind == integration.ORIGIN_KIND}
    if not by_id:
        return
    kinds = {v: k for k, v in RESOLUTION_INSTRUCTION.items()}
    for d in Deduction.objects.select_for_update().filter(pk__in=sorted(by_id)).order_by("pk"):
        event = by_id[d.pk]
        if d.status == DeductionStatus.RESOLVED:
            continue  # delivered twice
        if not d.resolution:
            d.resolution = kinds.get(event.kind, "")
        _close_resolved(d, actor=None, instruction_id=event.instruction_id)


# --- documents -----------------------------------------------------------------------------------

def _document_add(deduction: Deduction, uploaded, *, kind: str, actor, from_customer: bool):
    stored = document_store(uploaded, folder=f"deductions/{deduction.pk}")
    doc = DeductionDocument.objects.create(deduction=deduction, kind=kind, path=stored.path, name=stored.name,
                                           size=stored.size, sha256=stored.sha256, content_type=stored.content_type,
                                           uploaded_by=actor if getattr(actor, "pk", None) else None,
                                           from_customer=from_customer)
    audit_event("deduction.document_added", deduction, {"document": [None, doc.name]}, actor=actor)
    return stored


def deduction_document_add(*, deduction_id, uploaded, kind: str = "other", actor, from_customer=False):
    stored = []
    with documents_kept_only_on_success(stored), transaction.atomic():
        d = _locked(deduction_id)
        stored.append(_document_add(d, uploaded, kind=kind, actor=actor, from_customer=from_customer))
        integration.triage_enqueue([d.pk])  # the number of documents is one of the facts rules read
    return d.documents.order_by("-pk").first()


# --- triage actions ------------------------------------------------------------------------------

def deduction_sla_set(d: Deduction, hours: int) -> None:
    d.sla_due = d.created_at + timedelta(hours=int(hours))


def parse_amounts(text: str, currency: str) -> list[Decimal]:
    return [parse_amount(part, currency) for part in text.replace(";", " ").split() if part.strip()]


def open_statuses():
    return list(WORKABLE)


def promotion_create(*, customer: Customer, name: str, start_date, end_date, budget, currency="USD",
                     invoice_numbers: str = "", products: str = "", rate_percent=None, amount=None,
                     approved: bool = False, actor):
    from .models import TradePromotion

    with transaction.atomic():
        promo = TradePromotion.objects.create(
            customer=customer, name=name, start_date=start_date, end_date=end_date, budget=budget,
            currency=currency.upper(), invoice_numbers=(invoice_numbers or "").split(), products=products,
            rate_percent=rate_percent, amount=amount, approved=approved)
        audit_event("trade_promotion.created", promo, {"budget": [None, budget], "approved": [None, approved]},
                    actor=actor)
    return promo
