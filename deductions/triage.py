"""The "deduction" case source of the triage rules engine (o2c.rules, INTERFACES.md section 2).

`facts` answers for thousands of deductions in two queries; `apply` carries out the decided actions in
bulk with one audit event per deduction.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from o2c.bulk import update_columns
from o2c.models import Membership, User
from o2c.money import money_display
from o2c.services.audit import audit_events_bulk
from o2c.tenancy import current_tenant_id

from .models import CLOSED, Deduction, DeductionDocument, Priority


def facts(ids) -> dict[int, dict]:
    rows = (Deduction.objects.filter(pk__in=list(ids))
            .values_list("pk", "amount", "currency", "reason", "reason_code__code", "reason_code__category",
                         "source", "status", "customer_id", "customer__name", "customer__segment", "customer__risk",
                         "invoice__issue_date"))
    docs = dict(DeductionDocument.objects.filter(deduction_id__in=list(ids)).values("deduction_id")
                .annotate(n=Count("pk")).values_list("deduction_id", "n"))
    today = timezone.localdate()
    out = {}
    customers = set()
    for pk, amount, currency, reason, code, category, source, status, cid, cname, segment, risk, issued in rows:
        customers.add(cid)
        out[pk] = {"kind": "deduction", "amount": float(amount), "currency": currency, "reason": code or reason,
                   "category": category or "unknown", "source": source, "status": status,
                   "customer": {"id": cid, "name": cname, "segment": segment, "risk": risk},
                   "invoice_age_days": (today - issued).days if issued else 0,
                   "past_disputes": 0, "documents": docs.get(pk, 0)}
    # Past deductions of the same customers stand in for past disputes (deductions never reads disputes).
    past = dict(Deduction.objects.filter(customer_id__in=customers).values("customer_id")
                .annotate(n=Count("pk")).values_list("customer_id", "n"))
    for f in out.values():
        f["past_disputes"] = max(past.get(f["customer"]["id"], 1) - 1, 0)
    return out


def recent(days: int) -> list[int]:
    since = timezone.now() - timedelta(days=days)
    return list(Deduction.objects.filter(created_at__gte=since).order_by("pk").values_list("pk", flat=True))


def describe(ids) -> dict[int, str]:
    rows = Deduction.objects.filter(pk__in=list(ids)).values_list("pk", "customer__name", "amount", "currency",
                                                                  "reason")
    return {pk: f"D-{pk:06d} {customer} {money_display(amount, currency)} {reason}"
            for pk, customer, amount, currency, reason in rows}


_APPLY_FIELDS = ("status", "owner", "queue", "priority", "created_at", "sla_due", "evidence", "denial_note", "amount",
                 "currency")


def apply(decisions) -> None:
    """Carry out the actions of triage decisions (owner, queue, priority, sla_hours, decide, request_documents,
    write_off, notify); a closed deduction is left alone, an illegal decision is noted, not forced."""
    from . import tasks
    from .services import deductions_write_off

    decisions = [d for d in decisions if d.actions]
    if not decisions:
        return
    tenant_id = current_tenant_id()
    write_offs, follow_ups = [], []
    with transaction.atomic():
        # The fields the actions read and write and the audit event names (hundreds per matching-run chunk).
        rows = (Deduction.objects.select_for_update().only(*_APPLY_FIELDS)
                .in_bulk([d.case_id for d in decisions]))
        owners = _owners({d.actions.get("owner") for d in decisions if d.actions.get("owner")})
        events, changed = [], []
        for decision in decisions:
            d = rows.get(decision.case_id)
            if d is None or d.status in CLOSED:
                continue
            changes = _apply_one(d, decision.actions, owners)
            if "write_off" in decision.actions and d.status == "valid":
                write_offs.append((d.pk, (decision.actions.get("write_off") or {}).get("account", "")))
            follow_ups.append((d.pk, decision.actions.get("request_documents") or [],
                               decision.actions.get("notify") or [], decision.explanation))
            changes["triage"] = [None, decision.explanation[:300]]
            events.append(("deduction.triaged", d, changes))
            changed.append(d)
        # Set-based: a triage batch is thousands of rows (see o2c.bulk.update_columns and audit_events_bulk).
        update_columns(Deduction, changed, {"owner_id": "bigint", "queue": "text", "priority": "text",
                                            "sla_due": "timestamptz", "status": "text", "evidence": "jsonb",
                                            "denial_note": "text"})
        audit_events_bulk(events)
    if write_offs:
        deductions_write_off(dict(write_offs), memo="triage rule")  # set-based but for the instructions
    # One task for the batch's document requests and notices, not one per deduction (7,900 tasks of 10,000
    # deductions took 20 s of a 60 s triage; bench/triage_e2e.py).
    follow_ups = [item for item in follow_ups if item[1] or item[2]]
    if follow_ups:
        transaction.on_commit(lambda: tasks.deductions_triage_notify.delay(tenant_id, follow_ups))


def _owners(emails: set[str]) -> dict[str, User]:
    if not emails:
        return {}
    members = Membership.objects.filter(user__email__in=emails, is_active=True).select_related("user")
    return {m.user.email: m.user for m in members}


def _apply_one(d: Deduction, actions: dict, owners: dict) -> dict:
    changes = {}
    owner = owners.get(actions.get("owner") or "")
    if owner and d.owner_id != owner.pk:
        changes["owner"] = [d.owner_id, owner.pk]
        d.owner = owner
    if actions.get("queue") and actions["queue"] != d.queue:
        changes["queue"] = [d.queue, actions["queue"]]
        d.queue = str(actions["queue"])[:60]
    if actions.get("priority") in Priority.values and actions["priority"] != d.priority:
        changes["priority"] = [d.priority, actions["priority"]]
        d.priority = actions["priority"]
    if actions.get("sla_hours") is not None:
        due = d.created_at + timedelta(hours=int(actions["sla_hours"]))
        changes["sla_due"] = [d.sla_due, due]
        d.sla_due = due
    decide = actions.get("decide") or ("valid" if "write_off" in actions else None)
    if decide in ("valid", "invalid") and d.status in ("open", "in_research"):
        before = d.status
        if decide == "valid":
            d.validate()
        else:
            d.invalidate()
            d.denial_note = d.denial_note or "Rejected by a triage rule"
        changes["status"] = [before, d.status]
    if actions.get("request_documents"):
        d.evidence = {**d.evidence, "documents_requested": list(actions["request_documents"])}
        changes["documents_requested"] = [None, ", ".join(actions["request_documents"])]
    return changes
