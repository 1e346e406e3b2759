"""Emails about a dispute: to the customer's contacts who prefer email, and to the owner, with a link."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mass_mail
from django.urls import reverse

from o2c.models import CustomerContact, Membership, Role
from o2c.models.ledger import Channel
from o2c.money import money_display

from .models import Dispute, DisputeMessage

_SUBJECTS = {
    "filed": "{n}: your dispute was received",
    "status": "{n} is now {status}",
    "message": "{n}: new message",
    "escalated": "{n} is overdue and was escalated",
}


def dispute_notify_send(*, dispute_id: int, event: str, message_id: int | None = None) -> int:
    """Send the emails for one event; returns how many went out."""
    dispute = Dispute.objects.select_related("owner", "customer").filter(pk=dispute_id).first()
    if dispute is None:
        return 0
    message = DisputeMessage.objects.filter(pk=message_id).first() if message_id else None
    if message is not None and message.internal:
        return 0  # internal notes never leave the house
    subject = _SUBJECTS[event].format(n=dispute.number, status=dispute.get_status_display().lower())
    base = settings.O2C_BASE_URL.rstrip("/")
    staff_link = base + reverse("disputes:detail", args=[dispute.pk])
    portal_link = base + reverse("disputes:portal_detail", args=[dispute.pk])
    body = _body(dispute, message)
    mails = []
    customer_wrote = message is not None and message.from_customer
    if event != "escalated" and not customer_wrote:  # no mail to the customer about their own message
        contacts = CustomerContact.objects.filter(customer=dispute.customer, preferred_channel=Channel.EMAIL)
        customer_emails = sorted(set(contacts.exclude(email="").values_list("email", flat=True)))
        if customer_emails:
            mails.append((subject, f"{body}\n\nOpen the case: {portal_link}\n", None, customer_emails))
    staff_emails = {dispute.owner.email} if dispute.owner_id else set()
    if event == "escalated":
        staff_emails |= set(Membership.objects.filter(role=Role.FINANCE_LEAD, is_active=True)
                            .values_list("user__email", flat=True))
    if message is not None and message.author_id and dispute.owner_id == message.author_id:
        staff_emails.discard(dispute.owner.email)  # no mail to oneself about one's own message
    if staff_emails:
        mails.append((subject, f"{body}\n\nOpen the case: {staff_link}\n", None, sorted(staff_emails)))
    return send_mass_mail(mails, fail_silently=False) if mails else 0


def _body(dispute: Dispute, message: DisputeMessage | None) -> str:
    lines = [f"Dispute {dispute.number} of {dispute.customer.name}: {money_display(dispute.amount, dispute.currency)}, "
             f"status {dispute.get_status_display().lower()}."]
    if dispute.resolution:
        lines.append(f"Resolution: {dispute.get_resolution_display().lower()}, "
                     f"{money_display(dispute.accepted_amount, dispute.currency)} accepted.")
    if message is not None:
        lines.append(f"\n{message.body}")
    return "\n".join(lines)
