"""The "dispute" case source of the triage rules engine (o2c.rules, INTERFACES.md section 2).

`facts` gives the rules their variables; `apply` carries out the merged actions of the rules that fired.
Automatic decisions and document requests are written into the thread, so the customer and the clerk
both see why the case moved.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Min
from django.utils import timezone

from o2c.models import Membership, User
from o2c.money import money_display

from .models import Dispute, DisputeAttachment, DisputeLine, DisputeStatus, Resolution

_STATES_BEFORE_REVIEW = (DisputeStatus.NEW,)


def facts(ids) -> dict[int, dict]:
    disputes = list(Dispute.objects.filter(pk__in=list(ids)).select_related("customer", "reason_code"))
    pks = [d.pk for d in disputes]
    # Aggregates grouped by plain columns: the table's real key is (tenant_id, id), so grouping a whole row
    # by Django's pk is refused by Postgres.
    oldest = dict(DisputeLine.objects.filter(dispute__in=pks).values_list("dispute_id")
                  .annotate(m=Min("invoice__issue_date")).values_list("dispute_id", "m"))
    documents = dict(DisputeAttachment.objects.filter(dispute__in=pks).values_list("dispute_id")
                     .annotate(n=Count("id")).values_list("dispute_id", "n"))
    past = dict(Dispute.objects.filter(customer__in={d.customer_id for d in disputes}).values_list("customer_id")
                .annotate(n=Count("id")).values_list("customer_id", "n"))
    today = timezone.localdate()
    return {d.pk: {
        "kind": "dispute", "amount": float(d.amount), "currency": d.currency, "reason": d.reason_code.code,
        "category": d.reason_code.category, "source": d.channel, "status": d.status,
        "customer": {"id": d.customer_id, "name": d.customer.name, "segment": d.customer.segment,
                     "risk": d.customer.risk},
        "invoice_age_days": (today - oldest[d.pk]).days if oldest.get(d.pk) else 0,
        "past_disputes": past.get(d.customer_id, 1) - 1, "documents": documents.get(d.pk, 0),
    } for d in disputes}


def recent(days: int) -> list[int]:
    since = timezone.now() - timedelta(days=days)
    return list(Dispute.objects.filter(created_at__gte=since).order_by("id").values_list("id", flat=True))


def describe(ids) -> dict[int, str]:
    rows = Dispute.objects.filter(pk__in=list(ids)).values_list("pk", "number", "customer__name", "amount", "currency")
    return {pk: f"{number} {customer} {money_display(amount, currency)}"
            for pk, number, customer, amount, currency in rows}


def apply(decisions) -> None:
    from .integration import applying_triage

    with applying_triage():
        for decision in decisions:
            dispute = Dispute.objects.filter(pk=decision.case_id).first()
            if dispute is not None:
                _apply_one(dispute, decision.actions or {}, decision.explanation or "", bool(decision.fired))


def _apply_one(dispute: Dispute, actions: dict, explanation: str, fired: bool) -> None:
    from . import services

    if not dispute.is_open:
        return  # a rule run that arrives after a clerk decided changes nothing
    owner = _staff_user(actions.get("owner"))
    services.dispute_update(dispute=dispute, actor=None, owner=owner, queue=actions.get("queue"),
                            priority=actions.get("priority"),
                            sla_hours=int(actions["sla_hours"]) if actions.get("sla_hours") else None)
    dispute.refresh_from_db()
    # Every later move of a clerk or the customer is triaged again (routing may change with the facts), but
    # asking for documents and notifying people happen once, at the first triage: otherwise a clerk who
    # starts the review without the documents would be sent back to waiting, and finance leads mailed again.
    first = dispute.status in _STATES_BEFORE_REVIEW
    # Triaged means a rule routed it; one no rule matched waits, new, for a clerk (and the customer is not
    # told "triaged" about a case nobody looked at).
    if fired and dispute.status in _STATES_BEFORE_REVIEW:
        dispute = services.dispute_transition(dispute=dispute, name="triage", actor=None)
    decide = actions.get("decide")
    if decide in ("valid", "invalid"):
        outcome = "accepted" if decide == "valid" else "rejected"
        services.message_post(dispute=dispute, actor=None, from_customer=False,
                              body=f"Decided automatically ({outcome}) by the triage rules: {explanation}")
        services.dispute_resolve(dispute=dispute, actor=None, note=f"Triage rules: {explanation}",
                                 resolution=Resolution.ACCEPTED if decide == "valid" else Resolution.REJECTED)
        return
    documents = actions.get("request_documents") or []
    if documents and first and dispute.status == DisputeStatus.TRIAGED:
        services.message_post(dispute=dispute, actor=None, from_customer=False,
                              body="To review this dispute we need: " + ", ".join(map(str, documents))
                              + ". Please reply here with the documents attached.")
        services.dispute_transition(dispute=dispute, name="request_info", actor=None)
    if actions.get("notify") and first:
        services.message_post(dispute=dispute, actor=None, from_customer=False, internal=True,
                              body="Triage rules asked to notify: " + ", ".join(map(str, actions["notify"])))
        _notify_people(dispute, actions["notify"])


def _staff_user(email) -> User | None:
    if not email:
        return None
    membership = Membership.objects.filter(user__email__iexact=email, is_active=True).exclude(role="portal_user")
    found = membership.select_related("user").first()
    return found.user if found else None


def _notify_people(dispute: Dispute, recipients) -> None:
    from django.conf import settings
    from django.core.mail import send_mail
    from django.db import transaction
    from django.urls import reverse

    emails = set()
    for who in recipients:
        who = str(who)
        if "@" in who:
            emails.add(who)
        else:  # a role name
            emails |= set(Membership.objects.filter(role=who, is_active=True).values_list("user__email", flat=True))
    link = settings.O2C_BASE_URL.rstrip("/") + reverse("disputes:detail", args=[dispute.pk])
    if emails:
        transaction.on_commit(lambda: send_mail(f"{dispute.number} needs attention", f"Open the case: {link}\n",
                                                None, sorted(emails)))
