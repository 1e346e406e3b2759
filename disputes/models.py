"""Disputes: a customer contests (part of) one or more invoices.

Filed in the portal, by a clerk on the customer's behalf, or from a deduction. The `status` machine runs
new -> triaged -> in_review <-> waiting_customer -> resolved -> closed, with reopen from resolved/closed;
every state has its own SLA clock (business hours of the tenant, see `disputes.sla`).
"""

from datetime import time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from o2c.cases import Category, Priority
from o2c.money import CurrencyField, MoneyField
from o2c.tenancy import TenantForeignKey, TenantModel

from .sla import BusinessCalendar

STANDARD_ROOT_CAUSES = (
    ("pricing_error", "Pricing error"), ("shipping_error", "Shipping error"),
    ("damaged_in_transit", "Damaged in transit"), ("wrong_quantity", "Wrong quantity"),
    ("billing_error", "Billing error"), ("customer_error", "Customer error"),
    ("promotion_not_applied", "Promotion not applied"), ("other", "Other"),
)


class DisputeReason(TenantModel):
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=120)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.UNKNOWN)
    is_active = models.BooleanField(default=True)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="dispute_reason_code_unique")]

    def __str__(self):
        return self.name


class RootCause(TenantModel):
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=120)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="root_cause_code_unique")]

    def __str__(self):
        return self.name


class DisputeStatus(models.TextChoices):
    NEW = "new", "New"
    TRIAGED = "triaged", "Triaged"
    IN_REVIEW = "in_review", "In review"
    WAITING_CUSTOMER = "waiting_customer", "Waiting for customer"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (DisputeStatus.NEW, DisputeStatus.TRIAGED, DisputeStatus.IN_REVIEW, DisputeStatus.WAITING_CUSTOMER)
CLOCK_STATUSES = OPEN_STATUSES  # resolved and closed cases have no SLA clock


class Resolution(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    PARTLY_ACCEPTED = "partly_accepted", "Partly accepted"
    REJECTED = "rejected", "Rejected"


PRIORITY_ORDER = [Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT]


class FiledVia(models.TextChoices):
    PORTAL = "portal", "Customer portal"
    CLERK = "clerk", "Clerk on the customer's behalf"
    DEDUCTION = "deduction", "From a deduction"


def weekdays():
    return [0, 1, 2, 3, 4]


class DisputeSettings(TenantModel):
    """One row per tenant: business hours for the SLA clock, hours per state, the number counter."""

    time_zone = models.CharField(max_length=64, default="UTC")
    day_start = models.TimeField(default=time(9))
    day_end = models.TimeField(default=time(17))
    working_days = ArrayField(models.PositiveSmallIntegerField(), default=weekdays)  # 0 = Monday
    sla_new_hours = models.PositiveIntegerField(default=4)
    sla_triaged_hours = models.PositiveIntegerField(default=8)
    sla_in_review_hours = models.PositiveIntegerField(default=24)
    sla_waiting_customer_hours = models.PositiveIntegerField(default=72)
    last_number = models.PositiveIntegerField(default=0)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="dispute_settings_one_per_tenant"),
            models.CheckConstraint(condition=Q(day_end__gt=models.F("day_start")), name="dispute_day_ends_after_start"),
        ]

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(tz=ZoneInfo(self.time_zone), day_start=self.day_start, day_end=self.day_end,
                                working_days=frozenset(self.working_days))

    def sla_hours(self, status: str) -> int | None:
        return getattr(self, f"sla_{status}_hours", None) if status in CLOCK_STATUSES else None


class Dispute(FSMModelMixin, TenantModel):
    number = models.CharField(max_length=20)
    customer = TenantForeignKey("o2c.Customer", related_name="disputes")
    amount = MoneyField()  # the sum of the lines
    currency = CurrencyField()
    reason_code = TenantForeignKey(DisputeReason, related_name="disputes")
    root_cause = TenantForeignKey(RootCause, null=True, blank=True, related_name="disputes")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    queue = models.CharField(max_length=60, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    channel = models.CharField(max_length=10, choices=FiledVia.choices)
    deduction = TenantForeignKey("deductions.Deduction", null=True, blank=True, related_name="disputes")
    status = FSMField(default=DisputeStatus.NEW, choices=DisputeStatus.choices, protected=True, max_length=20)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    accepted_amount = MoneyField(null=True, blank=True)
    resolution_note = models.TextField(blank=True)
    reopen_reason = models.TextField(blank=True)
    # The SLA clock of the current state.
    state_entered_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="dispute_number_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="dispute_amount_positive"),
            models.CheckConstraint(
                condition=Q(accepted_amount__isnull=True)
                | (Q(accepted_amount__gte=0) & Q(accepted_amount__lte=models.F("amount"))),
                name="dispute_accepted_within_amount"),
            models.CheckConstraint(
                condition=Q(resolution="") | Q(accepted_amount__isnull=False), name="dispute_resolution_has_amount"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "id"], name="dispute_status_idx"),
            models.Index(fields=["tenant", "due_at"], name="dispute_due_idx"),
        ]

    def __str__(self):
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @transition(field=status, source=DisputeStatus.NEW, target=DisputeStatus.TRIAGED)
    def triage(self):
        pass

    @transition(field=status, source=[DisputeStatus.NEW, DisputeStatus.TRIAGED], target=DisputeStatus.IN_REVIEW)
    def start_review(self):
        pass

    @transition(field=status, source=[DisputeStatus.TRIAGED, DisputeStatus.IN_REVIEW],
                target=DisputeStatus.WAITING_CUSTOMER)
    def request_info(self):
        pass

    @transition(field=status, source=DisputeStatus.WAITING_CUSTOMER, target=DisputeStatus.IN_REVIEW)
    def customer_replied(self):
        pass

    @transition(field=status, source=[DisputeStatus.TRIAGED, DisputeStatus.IN_REVIEW, DisputeStatus.WAITING_CUSTOMER],
                target=DisputeStatus.RESOLVED)
    def resolve(self, resolution, accepted_amount, note=""):
        self.resolution, self.accepted_amount, self.resolution_note = resolution, accepted_amount, note

    @transition(field=status, source=DisputeStatus.RESOLVED, target=DisputeStatus.CLOSED)
    def close(self):
        pass

    @transition(field=status, source=[DisputeStatus.RESOLVED, DisputeStatus.CLOSED], target=DisputeStatus.IN_REVIEW)
    def reopen(self, reason):
        self.reopen_reason = reason
        self.resolution, self.accepted_amount = "", None


# The moves a clerk picks from a list (resolve and reopen have forms of their own; customer_replied happens
# when the customer answers).
MANUAL_TRANSITIONS = {
    "triage": "Mark triaged",
    "start_review": "Start review",
    "request_info": "Ask the customer",
    "close": "Close",
}


class DisputeLine(TenantModel):
    dispute = TenantForeignKey(Dispute, on_delete=models.CASCADE, related_name="lines")
    invoice = TenantForeignKey("o2c.Invoice", related_name="dispute_lines")
    description = models.CharField(max_length=300, blank=True, help_text="Which line of the invoice, if one")
    amount = MoneyField()

    class Meta(TenantModel.Meta):
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="dispute_line_amount_positive")]


class DisputeMessage(TenantModel):
    dispute = TenantForeignKey(Dispute, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    from_customer = models.BooleanField(default=False)
    internal = models.BooleanField(default=False, help_text="A note among staff; never shown to the customer")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [models.CheckConstraint(condition=~(Q(from_customer=True) & Q(internal=True)),
                                              name="dispute_message_customer_not_internal")]
        indexes = [models.Index(fields=["tenant", "dispute", "created_at"], name="dispute_message_idx")]


class DisputeAttachment(TenantModel):
    dispute = TenantForeignKey(Dispute, on_delete=models.CASCADE, related_name="attachments")
    message = TenantForeignKey(DisputeMessage, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="attachments")
    path = models.CharField(max_length=400)
    name = models.CharField(max_length=200)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=100)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
