"""Receipts: the customer hears that their payment was applied, by the channel they prefer.

Email goes out now; SMS, phone and post have no sender yet, and portal-only contacts read the payment in
the portal, so those contacts get nothing sent. Each payment gets one receipt: the unique key on
PaymentReceipt is taken before sending, so a task that runs twice sends once.
"""

from __future__ import annotations

from collections import defaultdict

from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from o2c.models import CustomerContact
from o2c.models.ledger import Channel
from o2c.money import money_display
from payments.models import Payment, PaymentStatus

from .models import Application, PaymentReceipt


def payment_receipts_send(payment_ids: list[int]) -> int:
    """Receipts for these payments, looked up in a few queries whatever their number (a run's chunk posts
    thousands): who paid each, their customers' e-mail contacts, then the payments that have a recipient, with
    their applications. Only those are loaded whole: a run posts thousands of payments for every one whose
    payer takes receipts by e-mail, if any."""
    sent = 0
    # By id alone, the rest checked here: with `status` and `customer` in the WHERE clause the planner,
    # going by statistics taken while the payments were all unapplied and of no known payer, walked the
    # payer index and held each row against the whole list of ids, slower with every chunk of a run.
    payers = {pk: customer_id for pk, customer_id, status in
              Payment.objects.filter(pk__any=payment_ids).values_list("pk", "customer_id", "status")
              if customer_id is not None and status != PaymentStatus.UNAPPLIED}
    emails = _receipt_emails(set(payers.values()))
    receiving = [pk for pk, customer_id in payers.items() if emails.get(customer_id)]
    if not receiving:
        return 0
    payments = [p for p in Payment.objects.filter(pk__any=receiving).select_related("customer").order_by("pk")
                if p.customer_id is not None and p.status != PaymentStatus.UNAPPLIED and emails.get(p.customer_id)]
    applications = defaultdict(list)
    for a in (Application.objects.filter(payment_id__any=[p.pk for p in payments]).select_related("invoice")
              .order_by("pk")):
        applications[a.payment_id].append(a)
    for payment in payments:
        recipients = sorted(emails[payment.customer_id])
        applied = sum((a.applied_amount for a in applications[payment.pk]), payment.amount * 0)
        try:
            with transaction.atomic():
                PaymentReceipt.objects.create(payment=payment, customer_id=payment.customer_id,
                                              recipients=recipients, applied_total=applied)
        except IntegrityError:
            continue  # sent before
        send_mail(subject=f"Payment received: {money_display(payment.amount, payment.currency)}",
                  message=_receipt_text(payment, applications[payment.pk]), from_email=None,
                  recipient_list=recipients)
        sent += 1
    return sent


def _receipt_emails(customer_ids: set[int]) -> dict[int, set[str]]:
    """customer id -> the addresses of its contacts who take receipts by e-mail."""
    emails = defaultdict(set)
    if customer_ids:
        for customer_id, email in (CustomerContact.objects.filter(
                customer_id__any=customer_ids, receives_remittance_receipts=True,
                preferred_channel=Channel.EMAIL).exclude(email="").values_list("customer_id", "email")):
            emails[customer_id].add(email)
    return emails


def _receipt_text(payment: Payment, applications: list[Application]) -> str:
    """Amounts in the currency's minor unit with the code ("1,525.50 EUR"), as a person reads them."""
    def amount(value) -> str:
        return money_display(value, payment.currency)

    lines = "\n".join(f"  {a.invoice.number}: {amount(a.applied_amount)}"
                      + (f" (deduction {amount(a.deduction_amount)})" if a.deduction_amount else "")
                      for a in applications if a.reverses_id is None)
    return (f"Dear {payment.customer.name},\n\nwe received your payment of {amount(payment.amount)} "
            f"(reference {payment.bank_reference}, {payment.booking_date}) and applied it as follows:\n{lines}\n\n"
            f"Unapplied: {amount(payment.unapplied_amount)}\n")
