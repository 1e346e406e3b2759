"""What the customer is told: the denial of an invalid deduction (note and evidence), requests for
documents, and notices to staff from triage. Mail goes to the customer's contacts who prefer e-mail; a
customer who prefers another channel gets no mail and the deduction's history says how to reach them."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.core.mail import EmailMessage

from o2c.models import CustomerContact
from o2c.models.ledger import Channel
from o2c.money import fmt
from o2c.services.audit import audit_event

from .models import Deduction

MAX_ATTACHMENT_BYTES = 8 * 1024 * 1024


def customer_recipients(customer_id: int) -> tuple[list[str], list[str]]:
    """(e-mail addresses of contacts who prefer e-mail, the other channels preferred)."""
    contacts = list(CustomerContact.objects.filter(customer_id=customer_id))
    emails = sorted({c.email for c in contacts if c.preferred_channel == Channel.EMAIL and c.email})
    others = sorted({c.preferred_channel for c in contacts if c.preferred_channel != Channel.EMAIL})
    return emails, others


def denial_send(deduction_id: int) -> int:
    """Mail the denial note and the evidence (the deduction's documents) to the customer; returns mails sent."""
    d = Deduction.objects.select_related("customer", "invoice").get(pk=deduction_id)
    emails, others = customer_recipients(d.customer_id)
    if not emails:
        audit_event("deduction.denial_not_mailed", d, {"channels": [None, ", ".join(others) or "no contact"]})
        return 0
    invoice = f" on invoice {d.invoice.number}" if d.invoice_id else ""
    message = EmailMessage(
        subject=f"Deduction {d.number} denied",
        body=(f"Dear {d.customer.name},\n\nwe reviewed your deduction {d.number} of {fmt(d.amount, d.currency)} "
              f"{d.currency}{invoice} and found it not valid:\n\n{d.denial_note}\n\nThe evidence is attached. "
              f"Please pay the amount or reply with documents that support the deduction.\n"),
        to=emails)
    total = 0
    for doc in d.documents.order_by("pk"):
        total += doc.size
        if total > MAX_ATTACHMENT_BYTES:
            break
        with default_storage.open(doc.path, "rb") as f:
            message.attach(doc.name, f.read(), doc.content_type)
    message.send()
    audit_event("deduction.denial_mailed", d, {"to": [None, ", ".join(emails)]})
    return 1


def documents_request_send(deduction_id: int, documents: list[str]) -> int:
    d = Deduction.objects.select_related("customer").get(pk=deduction_id)
    emails, _ = customer_recipients(d.customer_id)
    if not emails:
        return 0
    wanted = "\n".join(f"  - {name}" for name in documents)
    EmailMessage(subject=f"Documents needed for deduction {d.number}",
                 body=(f"Dear {d.customer.name},\n\nto settle your deduction {d.number} of "
                       f"{fmt(d.amount, d.currency)} {d.currency} we need:\n{wanted}\n\nYou can upload them in "
                       "the customer portal or reply to this mail.\n"), to=emails).send()
    return 1


def staff_notify(deduction_id: int, recipients: list[str], explanation: str) -> int:
    """Notify staff by e-mail address or role name (every active member of that role)."""
    from o2c.models import Membership

    d = Deduction.objects.get(pk=deduction_id)
    emails = {r for r in recipients if "@" in r}
    roles = [r for r in recipients if "@" not in r]
    if roles:
        emails |= set(Membership.objects.filter(role__in=roles, is_active=True).values_list("user__email", flat=True))
    if not emails:
        return 0
    EmailMessage(subject=f"Deduction {d.number} needs attention",
                 body=f"{d.number}: {fmt(d.amount, d.currency)} {d.currency}\n\n{explanation}\n",
                 to=sorted(emails)).send()
    return 1


def triage_follow_ups_send(items) -> int:
    """Document requests to customers and notices to staff for a batch of triaged deductions
    ([(deduction id, documents, notify, explanation), ...]): the deductions' customers, contacts and role members
    in three queries, then the deductions that get a mail, and one mail each as `documents_request_send` /
    `staff_notify` would send it. Only those are loaded whole: a matching run's batch asks for documents from
    hundreds of customers, most of whom have no e-mail contact."""
    from o2c.models import Membership

    items = [(int(pk), list(documents or []), list(notify or []), explanation) for pk, documents, notify, explanation
             in items]
    customer_of = dict(Deduction.objects.filter(pk__any=[pk for pk, *_ in items]).values_list("pk", "customer_id"))
    customer_ids = {customer_of[pk] for pk, documents, _, _ in items if documents and pk in customer_of}
    emails_of: dict[int, set[str]] = {}
    for contact in CustomerContact.objects.filter(customer_id__in=customer_ids, preferred_channel=Channel.EMAIL):
        if contact.email:
            emails_of.setdefault(contact.customer_id, set()).add(contact.email)
    roles = {r for _, _, notify, _ in items for r in notify if "@" not in r}
    members: dict[str, set[str]] = {}
    for role, email in Membership.objects.filter(role__in=roles, is_active=True).values_list("role", "user__email"):
        members.setdefault(role, set()).add(email)
    mails = []  # (deduction id, customer recipients, staff recipients, documents, explanation), in the batch's order
    for pk, documents, notify, explanation in items:
        if pk not in customer_of:
            continue
        customer = sorted(emails_of[customer_of[pk]]) if documents and emails_of.get(customer_of[pk]) else []
        staff = {r for r in notify if "@" in r} | {e for r in notify if "@" not in r for e in members.get(r, ())}
        if customer or staff:
            mails.append((pk, customer, staff, documents, explanation))
    if not mails:
        return 0
    deductions = Deduction.objects.select_related("customer").in_bulk([pk for pk, *_ in mails])
    messages = []
    for pk, customer, staff, documents, explanation in mails:
        d = deductions.get(pk)
        if d is None:
            continue
        if customer:
            messages.append(_documents_request(d, documents, customer))
        if staff:
            body = f"{d.number}: {fmt(d.amount, d.currency)} {d.currency}\n\n{explanation}\n"
            messages.append(EmailMessage(subject=f"Deduction {d.number} needs attention", body=body,
                                         to=sorted(staff)))
    if messages:
        from django.core.mail import get_connection

        get_connection().send_messages(messages)
    return len(messages)


def _documents_request(d: Deduction, documents: list[str], emails: list[str]) -> EmailMessage:
    wanted = "\n".join(f"  - {name}" for name in documents)
    return EmailMessage(subject=f"Documents needed for deduction {d.number}",
                        body=(f"Dear {d.customer.name},\n\nto settle your deduction {d.number} of "
                              f"{fmt(d.amount, d.currency)} {d.currency} we need:\n{wanted}\n\nYou can upload "
                              "them in the customer portal or reply to this mail.\n"), to=emails)
