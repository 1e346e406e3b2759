"""Deductions from remittance: X12 812 debit adjustments and X12 820 ADX adjustments.

A file is read through the real parsers (payments.selectors: X12 812 / 820). Each adjustment becomes a
deduction linked to its origin ("812 ADJ-77 line 4", "820 TRN 1234 ADX line 12"); the customer is the
invoice's, else the buyer/payer by ERP id, else by exact name. A file with an adjustment we cannot place
is refused as a whole, naming the line. Reading the same file again creates nothing new (the origin is
the key), nor does an adjustment cash application already turned into a deduction (same invoice and
amount). Credit adjustments (812 flag C) and positive ADX amounts raise what the customer pays: they are
no deduction and are reported back as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from o2c.errors import ApplicationError
from o2c.inputs import control_character_problem
from o2c.models import Customer, Invoice
from o2c.money import MAX_AMOUNT, exponent, minor_unit
from payments.selectors import AdjustmentReason, BankFileError, x12_812_adjustments, x12_820_advices

from .models import Deduction, DeductionSource
from .services import NewDeduction, deductions_create


@dataclass
class RemittanceOutcome:
    created: list[Deduction] = field(default_factory=list)
    already: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Found:
    origin: str
    invoice_number: str
    payer_id: str
    payer_name: str
    amount: Decimal
    reason: str
    text: str
    line: str
    currency: str = ""


def deductions_from_x12(*, data: bytes, actor) -> RemittanceOutcome:
    try:
        found, skipped = _read(data)
    except BankFileError as exc:
        raise ApplicationError(str(exc))
    text_errors = [f"line {f.line}: {problem}" for f in found if (problem := _text_problem(f))]
    if text_errors:  # before any query: a NUL fails a look-up too
        raise ApplicationError("; ".join(text_errors[:20]), extra={"errors": text_errors})
    outcome = RemittanceOutcome(skipped=skipped)
    with transaction.atomic():
        invoices = {i.number: i for i in Invoice.objects.filter(number__in={f.invoice_number for f in found})}
        customers_by_id = dict(Customer.objects.filter(external_id__in={f.payer_id for f in found if f.payer_id})
                               .values_list("external_id", "id"))
        customers_by_name = dict(Customer.objects.filter(name__in={f.payer_name for f in found if f.payer_name})
                                 .values_list("name", "id"))
        existing = set(Deduction.objects.filter(source=DeductionSource.REMITTANCE,
                                                origin__in=[f.origin for f in found]).values_list("origin", flat=True))
        # Cash application may have opened the same deduction from the same remittance already.
        from_cash = set(Deduction.objects.filter(source=DeductionSource.CASH_APPLICATION,
                                                 invoice__in=list(invoices.values()))
                        .exclude(status="cancelled").values_list("invoice_id", "amount"))
        items, errors = [], []
        for f in found:
            invoice = invoices.get(f.invoice_number)
            if f.origin in existing or (invoice and (invoice.pk, f.amount) in from_cash):
                outcome.already += 1
                continue
            customer_id = invoice.customer_id if invoice else (customers_by_id.get(f.payer_id)
                                                               or customers_by_name.get(f.payer_name))
            if customer_id is None:
                errors.append(f"line {f.line}: no invoice {f.invoice_number!r} and no customer "
                              f"{f.payer_id or f.payer_name!r}")
                continue
            currency = invoice.currency if invoice else (f.currency or "USD")
            problem = _amount_problem(f.amount, currency)
            if problem:
                errors.append(f"line {f.line}: {problem}")
                continue
            items.append(NewDeduction(customer_id=customer_id, amount=f.amount, currency=currency, reason=f.reason,
                                      source=DeductionSource.REMITTANCE, invoice_id=invoice.pk if invoice else None,
                                      reason_text=f.text, origin=f.origin))
        if errors:
            raise ApplicationError("; ".join(errors[:20]), extra={"errors": errors})
        outcome.created = deductions_create(items, actor=actor)
    return outcome


def _text_problem(f: _Found) -> str | None:
    """A value its column cannot hold is refused, never cut: a NUL, or a code over 40 characters, failed the
    INSERT (a 500); an origin cut to its 200 characters is the key that tells adjustments apart, so two that
    differ after it would be taken for one ("already imported") and the second deduction lost."""
    limits = {"origin": Deduction._meta.get_field("origin").max_length,
              "reason": Deduction._meta.get_field("customer_reason_code").max_length}
    labels = {"origin": "adjustment reference", "invoice_number": "invoice number", "payer_id": "payer id",
              "payer_name": "payer name", "reason": "reason code"}
    for name, label in labels.items():
        value = getattr(f, name)
        problem = control_character_problem(value)
        if problem:
            return f"{label} {problem}"
        if name in limits and len(value) > limits[name]:
            what = f"origin {value[:30]}..." if name == "origin" else label
            return f"{what} is {len(value):,} characters; at most {limits[name]} fit"
    return None


def _amount_problem(amount: Decimal, currency: str) -> str | None:
    """Refused, not rounded (deductions_create quantizes to the currency: 20.001 USD became 20.00)."""
    if abs(amount) >= MAX_AMOUNT:
        return f"amount {amount} is too large"
    if amount != amount.quantize(minor_unit(currency)):
        return (f"amount {amount} has more decimals than {currency} has ({exponent(currency)}); "
                "it is refused rather than rounded")
    return None


def _read(data: bytes) -> tuple[list[_Found], list[str]]:
    head = data[:4000].decode("latin-1")
    if "ST*812" in head or "ST|812" in head or "~ST*812" in head:
        return _from_812(x12_812_adjustments(data))
    return _from_820(x12_820_advices(data))


def _from_812(adjustments) -> tuple[list[_Found], list[str]]:
    found, skipped = [], []
    for adj in adjustments:
        if not adj.debit:
            skipped.append(f"line {adj.line}: credit adjustment {adj.number} is not a deduction")
            continue
        reasons = [r for r in adj.reasons if r.debit] or [AdjustmentReason("", adj.amount, True)]
        for n, reason in enumerate(reasons, start=1):
            found.append(_Found(origin=f"812 {adj.number} #{n}", invoice_number=adj.invoice_number,
                                payer_id=adj.buyer_id, payer_name=adj.buyer_name, amount=reason.amount,
                                reason=reason.code, text=f"812 adjustment {adj.number}", line=str(adj.line)))
    return found, skipped


def _from_820(advices) -> tuple[list[_Found], list[str]]:
    found, skipped = [], []
    for advice in advices:
        for n, item in enumerate(advice.items, start=1):
            if item.adjustment is None or item.adjustment == 0:
                continue
            if item.adjustment > 0:
                skipped.append(f"820 {advice.payment_reference} item {n}: positive adjustment is not a deduction")
                continue
            found.append(_Found(origin=f"820 {advice.payment_reference} ADX #{n}", invoice_number=item.reference,
                                payer_id=advice.payer_id, payer_name=advice.payer_name, amount=-item.adjustment,
                                reason=item.adjustment_reason, text=f"820 ADX {item.adjustment_reason}",
                                line=advice.source_line, currency=advice.currency))
    return found, skipped
