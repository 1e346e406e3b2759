"""Refunds as bank files for the tenant's treasury: SEPA pain.001.001.03 (EUR, to an IBAN) or NACHA (USD, to a
US routing and account number).

sepaxml writes the pain.001 and validates it against the ISO 20022 XSD it ships (pain.001.001.03, .09, .10 and
.11; .03 is the version every SEPA bank accepts). The NACHA file comes from our own writer (`nacha.py`).
Building the file, storing it and marking its refunds sent is one transaction: a file that does not validate,
or a refund that cannot be paid (no account, wrong currency, not approved), stores nothing.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date

from django.db import transaction
from django.utils import timezone
from sepaxml import SepaTransfer
from sepaxml.validation import ValidationError as SepaValidationError

from ..errors import ApplicationError, ConflictError
from ..models import (
    CustomerBankAccount,
    InstructionKind,
    InstructionStatus,
    PaymentInstruction,
    RefundFile,
    RefundFormat,
    TreasuryAccount,
)
from ..money import minor_unit
from ..services.audit import audit_event
from .nacha import NachaCredit, NachaOriginator, aba_valid, nacha_credit_file

PAIN_001_SCHEMA = "pain.001.001.03"
FORMAT_CURRENCY = {RefundFormat.PAIN_001: "EUR", RefundFormat.NACHA: "USD"}
_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")


def iban_valid(value: str) -> bool:
    iban = (value or "").replace(" ", "").upper()
    if not _IBAN.match(iban):
        return False
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def us_account(value: str) -> tuple[str, str, bool] | None:
    """(routing, account, savings) from "routing:account" or "routing:account:savings", or None."""
    parts = (value or "").replace(" ", "").split(":")
    if len(parts) not in (2, 3) or not aba_valid(parts[0]) or not parts[1].isalnum() or len(parts[1]) > 17:
        return None
    return parts[0], parts[1], len(parts) == 3 and parts[2].lower() == "savings"


def _payee_account(pi: PaymentInstruction, fmt_: str) -> CustomerBankAccount:
    fits = iban_valid if fmt_ == RefundFormat.PAIN_001 else (lambda v: us_account(v) is not None)
    for account in CustomerBankAccount.objects.filter(customer_id=pi.customer_id).order_by("-created_at", "-id"):
        if fits(account.account_identifier):
            return account
    wanted = "an IBAN" if fmt_ == RefundFormat.PAIN_001 else "a US routing:account number"
    raise ApplicationError(f"{pi.number}: {pi.customer.name} has no bank account with {wanted} on file to refund to")


def _cents(pi: PaymentInstruction) -> int:
    return int(pi.amount / minor_unit(pi.currency))


def _pain_001(treasury: TreasuryAccount, items, execution: date) -> bytes:
    if not treasury.debtor_name or not iban_valid(treasury.iban):
        raise ApplicationError("the treasury account needs its name and a valid IBAN for SEPA refunds "
                               "(Payment instructions → Settings)")
    config = {"name": treasury.debtor_name, "IBAN": treasury.iban.replace(" ", "").upper(), "batch": True,
              "currency": "EUR"}
    if treasury.bic:
        config["BIC"] = treasury.bic.strip().upper()
    transfer = SepaTransfer(config, schema=PAIN_001_SCHEMA)
    for pi, account in items:
        transfer.add_payment({
            "name": pi.customer.name, "IBAN": account.account_identifier.replace(" ", "").upper(),
            "amount": _cents(pi), "execution_date": execution, "endtoend_id": pi.number,
            "description": f"Refund {pi.number} {pi.memo}".strip()[:140],
        })
    try:
        return transfer.export(validate=True)
    except SepaValidationError as exc:
        raise ApplicationError(f"the pain.001 file does not validate against its XSD: {exc.__cause__}")


def _nacha(treasury: TreasuryAccount, items, execution: date) -> bytes:
    originator = NachaOriginator(
        immediate_destination=treasury.nacha_immediate_destination, destination_name=treasury.nacha_destination_name,
        immediate_origin=treasury.nacha_immediate_origin, origin_name=treasury.nacha_origin_name,
        company_name=treasury.nacha_company_name or treasury.debtor_name, company_id=treasury.nacha_company_id,
        odfi_routing=treasury.nacha_routing)
    if not (originator.immediate_origin and originator.company_id and originator.company_name):
        raise ApplicationError("the treasury account needs its NACHA immediate origin, company name and company id "
                               "(Payment instructions → Settings)")
    credits = []
    for pi, account in items:
        routing, number, savings = us_account(account.account_identifier)
        credits.append(NachaCredit(routing=routing, account=number, amount_cents=_cents(pi), name=pi.customer.name,
                                   individual_id=pi.number, savings=savings))
    try:
        text = nacha_credit_file(originator, credits, effective=execution, created=timezone.localtime())
    except ValueError as exc:
        raise ApplicationError(f"the NACHA file cannot be written: {exc}")
    return text.encode("ascii")


def _refunds(instruction_ids) -> list[PaymentInstruction]:
    try:
        ids = sorted({int(i) for i in instruction_ids})
    except (TypeError, ValueError):
        raise ApplicationError("instruction ids must be numbers")
    if not ids:
        raise ApplicationError("choose at least one approved refund")
    # Locked in id order, so two files built at once wait for each other instead of both including one.
    found = {pi.pk: pi for pi in PaymentInstruction.objects.select_for_update(of=("self",))
             .select_related("customer").filter(pk__in=ids).order_by("pk")}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ApplicationError(f"no payment instruction with id {missing[0]}")
    refunds = [found[i] for i in ids]
    for pi in refunds:
        if pi.kind != InstructionKind.REFUND:
            raise ApplicationError(f"{pi.number} is a {pi.get_kind_display().lower()}, not a refund")
        if pi.status != InstructionStatus.APPROVED:
            raise ConflictError(f"{pi.number} is {pi.get_status_display().lower()}; only approved refunds go into "
                                "a bank file")
    return refunds


def refund_file_create(*, format: str, instruction_ids, actor, execution_date: date | None = None) -> RefundFile:  # noqa: A002 - the interface's name
    """One bank file paying these approved refunds; they become `sent`, linked to the file."""
    if format not in RefundFormat.values:
        raise ApplicationError(f"unknown refund file format {format!r}; one of {', '.join(RefundFormat.values)}")
    execution = execution_date or timezone.localdate()
    with transaction.atomic():
        refunds = _refunds(instruction_ids)
        currency = FORMAT_CURRENCY[format]
        for pi in refunds:
            if pi.currency != currency:
                raise ApplicationError(f"{pi.number} is in {pi.currency}; a {format} file pays {currency} only")
        treasury = TreasuryAccount.objects.first()
        if treasury is None:
            raise ApplicationError("set up the treasury account refunds are paid from first "
                                   "(Payment instructions → Settings)")
        items = [(pi, _payee_account(pi, format)) for pi in refunds]
        content = (_pain_001 if format == RefundFormat.PAIN_001 else _nacha)(treasury, items, execution)
        now = timezone.now()
        extension = "xml" if format == RefundFormat.PAIN_001 else "ach"
        refund_file = RefundFile.objects.create(
            format=format, file_name=f"refunds-{timezone.localtime(now):%Y%m%d-%H%M%S}-{refunds[0].number}.{extension}",
            content=content.decode(), sha256=hashlib.sha256(content).hexdigest(), currency=currency,
            total=sum(pi.amount for pi in refunds), count=len(refunds), created_by=actor if getattr(actor, "pk", None)
            else None)
        audit_event("refund_file.created", refund_file, {"format": [None, format], "count": [None, len(refunds)],
                                                         "total": [None, refund_file.total]}, actor=actor)
        for pi, account in items:
            pi.send()
            pi.refund_file, pi.sent_at, pi.bank_account = refund_file, now, account
            pi.save(update_fields=["status", "refund_file", "sent_at", "bank_account"])
            audit_event("payment_instruction.sent", pi, {"status": [InstructionStatus.APPROVED, pi.status],
                                                         "refund_file": [None, refund_file.file_name]}, actor=actor)
    return refund_file
