"""The clerk's actions (accept a suggestion as it is or re-split, reject it, apply a payment by hand, reverse
an application) and the tenant's cash-application settings. A clerk's posting teaches the matcher the payer
and sends the receipts; a clerk's decision stands: runs do not re-match the payment (see `runs`)."""

from __future__ import annotations

import re
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from o2c.errors import ConflictError
from o2c.ledger.posting import LedgerError as CashAppError  # the clerk's actions fail as postings do
from o2c.ledger.posting import Line, Posting, post, reverse
from o2c.models import Customer, CustomerAlias, CustomerBankAccount
from o2c.services.audit import audit_event
from payments.models import Payment

from ..models import Application, ApplicationSource, CashAppSettings, MatchOutcome, Suggestion, SuggestionStatus
from ..scopes import RunScope
from ._shared import _record_matches, _send_receipts_after_commit
from .runs import matching_retry_after_commit


class SuggestionDecided(CashAppError, ConflictError):
    """A clerk (or a run) decided this suggestion already: a 409."""


# --- the clerk's actions -----------------------------------------------------------------------------

def _lines_from_json(allocations: list[dict], text: str = "") -> list[Line]:
    try:
        return [Line(invoice_id=int(a["invoice_id"]), applied=Decimal(str(a.get("applied") or 0)),
                     discount=Decimal(str(a.get("discount") or 0)), deduction=Decimal(str(a.get("deduction") or 0)),
                     deduction_reason=a.get("deduction_reason") or "", deduction_text=text,
                     write_off=Decimal(str(a.get("write_off") or 0))) for a in allocations]
    except (KeyError, ValueError, ArithmeticError) as exc:
        raise CashAppError(f"allocation is malformed: {exc}") from None


@transaction.atomic
def suggestion_accept(*, suggestion: Suggestion, actor, allocations: list[dict] | None = None) -> list[Application]:
    """Post a suggestion as it is, or re-split (the clerk's `allocations` replace the suggested ones)."""
    suggestion = Suggestion.objects.select_for_update().get(pk=suggestion.pk)
    if suggestion.status != SuggestionStatus.PENDING:
        raise SuggestionDecided(f"this suggestion was {suggestion.get_status_display().lower()} already")
    payment = Payment.objects.get(pk=suggestion.payment_id)
    changed = allocations is not None and allocations != suggestion.allocations
    lines = _lines_from_json(allocations if allocations is not None else suggestion.allocations,
                             payment.remittance_text[:300])
    source = ApplicationSource.MANUAL if changed else ApplicationSource.CONFIRMED
    applications = _post_one(payment, lines, actor=actor, source=source,
                             confidence=None if changed else suggestion.confidence,
                             explanation=("re-split by a clerk from: " if changed else "confirmed: ")
                             + suggestion.explanation)
    suggestion.accept()
    suggestion.decided_by, suggestion.decided_at = actor, timezone.now()
    suggestion.save()
    _supersede_pending(payment)
    _record_matches([(payment.pk, MatchOutcome.MANUAL if changed else MatchOutcome.CONFIRMED,
                      applications[0].customer_id, suggestion.confidence, suggestion.explanation)], suggestion.run_id)
    audit_event("suggestion.accepted", suggestion, {"re_split": [None, changed]}, actor=actor)
    return applications


@transaction.atomic
def suggestion_reject(*, suggestion: Suggestion, actor) -> Suggestion:
    suggestion = Suggestion.objects.select_for_update().get(pk=suggestion.pk)
    if suggestion.status != SuggestionStatus.PENDING:
        raise SuggestionDecided(f"this suggestion was {suggestion.get_status_display().lower()} already")
    suggestion.reject()
    suggestion.decided_by, suggestion.decided_at = actor, timezone.now()
    suggestion.save()
    if not Suggestion.objects.filter(payment_id=suggestion.payment_id, status=SuggestionStatus.PENDING).exists():
        _record_matches([(suggestion.payment_id, MatchOutcome.REJECTED, None, None,
                          "every suggestion rejected by a clerk")], suggestion.run_id)
    else:
        # The other answers stand; the payment is matched again without the rejected one, which may bring up
        # an answer it had crowded out (the matcher suggests five at most). The run re-suggests nothing the clerk
        # rejected, and leaves the other suggestions as they are if it finds the same.
        matching_retry_after_commit(scope=RunScope.of(payments=[suggestion.payment_id]), trigger="rejection")
    audit_event("suggestion.rejected", suggestion, actor=actor)
    return suggestion


@transaction.atomic
def payment_apply(*, payment: Payment, allocations: list[dict], actor) -> list[Application]:
    """A clerk applies a payment by hand (found the invoices by search)."""
    lines = _lines_from_json(allocations, payment.remittance_text[:300])
    applications = _post_one(payment, lines, actor=actor, source=ApplicationSource.MANUAL, confidence=None,
                             explanation="applied by a clerk")
    _supersede_pending(payment)
    _record_matches([(payment.pk, MatchOutcome.MANUAL, applications[0].customer_id, None, "applied by a clerk")],
                    None)
    return applications


@transaction.atomic
def application_reverse(*, application: Application, actor, reason: str = "") -> list[Application]:
    """Undo an application (and its deduction). The payment then waits for a clerk: a run does not post
    the same answer again."""
    ids = reverse([application.pk], actor_id=getattr(actor, "pk", None), reason=reason).application_ids
    reversals = list(Application.objects.filter(pk__in=ids))
    _record_matches([(application.payment_id, MatchOutcome.REJECTED, application.customer_id, None,
                      f"application reversed by a clerk{': ' + reason if reason else ''}")], None)
    audit_event("application.reversed", application, {"reason": [None, reason]}, actor=actor)
    return reversals


def _post_one(payment: Payment, lines: list[Line], *, actor, source, confidence, explanation) -> list[Application]:
    result = post([Posting(payment_id=payment.pk, lines=lines, source=source, confidence=confidence,
                           explanation=explanation)], actor_id=getattr(actor, "pk", None))
    applications = list(Application.objects.filter(pk__in=result.application_ids[payment.pk]).order_by("pk"))
    for app in applications:
        audit_event("application.posted", app, {
            "payment": [None, payment.pk], "invoice": [None, app.invoice_id], "applied": [None, app.applied_amount],
            "deduction": [None, app.deduction_amount], "source": [None, source]}, actor=actor)
    _learn_payer(payment, applications[0].customer_id)
    _send_receipts_after_commit([payment.pk])
    return applications


def _supersede_pending(payment: Payment) -> None:
    Suggestion.objects.filter(payment_id=payment.pk, status=SuggestionStatus.PENDING).update(
        status=SuggestionStatus.SUPERSEDED)


def normalize_name(name: str) -> str:
    return " ".join(re.sub(r"[^0-9A-Z]+", " ", name.upper()).split())


def _learn_payer(payment: Payment, customer_id: int) -> None:
    """A clerk's confirmation teaches the matcher: the payer's name becomes an alias of the customer and the
    remitting account one of its accounts, so the next payment from them matches on its own."""
    name = normalize_name(payment.payer_name)
    customer = Customer.objects.get(pk=customer_id)
    if name and name != normalize_name(customer.name):
        alias, created = CustomerAlias.objects.get_or_create(
            customer=customer, normalized=name[:200], defaults={"alias": payment.payer_name[:200], "source": "learned"})
        if created:
            audit_event("customer_alias.learned", alias, {"alias": [None, alias.alias]})
    account = "".join(payment.payer_account.split()).upper()
    if account and not CustomerBankAccount.objects.filter(account_identifier=account).exists():
        CustomerBankAccount.objects.create(customer=customer, account_identifier=account[:64])


# --- settings -----------------------------------------------------------------------------------------

@transaction.atomic
def cash_app_settings_update(*, values: dict, actor) -> CashAppSettings:
    row, _ = CashAppSettings.objects.select_for_update().get_or_create()
    before = {k: getattr(row, k) for k in values}
    for key, value in values.items():
        setattr(row, key, value)
    row.full_clean()
    row.save()
    changes = {k: [str(before[k]), str(v)] for k, v in values.items() if before[k] != v}
    if changes:
        audit_event("cashapp_settings.updated", row, changes, actor=actor)
    return row
