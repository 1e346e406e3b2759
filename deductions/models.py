"""Deductions: what a customer kept back or claims against an invoice, and the work to settle it.

A deduction comes from cash application (a short pay or an unearned discount: the invoice's open balance
was already reduced, so the deduction *is* the open claim), from remittance adjustments (X12 812, 820 ADX),
from a clerk or from the customer in the portal. Its `status` machine: open -> in_research -> valid or
invalid -> resolved (credit memo, write-off, re-bill, repayment, collection restarted); valid/invalid can be
reopened with a reason; an open one can be split or merged (the parts keep the money exact), or cancelled
when the cash application that opened it is reversed.

Cash application still inserts rows in SQL (and, after the ledger seam, the DeductionOpened handler in
bulk) with only the original columns, so every column added since has a database default or is nullable.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django_fsm import FSMField, FSMModelMixin, transition

from o2c.cases import Category, Priority
from o2c.money import CurrencyField, MoneyField, money_display
from o2c.tenancy import TenantForeignKey, TenantModel


class DeductionReason(models.TextChoices):
    # The codes cashapp.matching.types.DEDUCTION_REASONS infers from remittance text; each is a default
    # ReasonCode of every tenant (see DEFAULT_REASON_CODES).
    SHORT_PAYMENT = "short_payment", "Short payment (no reason given)"
    UNEARNED_DISCOUNT = "unearned_discount", "Unearned discount"
    PRICING = "pricing", "Pricing difference"
    DAMAGED = "damaged", "Damaged goods"
    SHORTAGE = "shortage", "Shortage"
    FREIGHT = "freight", "Freight"
    PROMOTION = "promotion", "Promotion / trade allowance"
    RETURN = "return", "Return"
    TAX = "tax", "Tax"


# (code, name, category): seeded for every tenant (data migration, and on first use).
DEFAULT_REASON_CODES = (
    ("short_payment", "Short payment (no reason given)", Category.UNKNOWN),
    ("unearned_discount", "Unearned discount", Category.UNEARNED_DISCOUNT),
    ("pricing", "Pricing difference", Category.PRICING),
    ("damaged", "Damaged goods", Category.DAMAGE),
    ("shortage", "Shortage", Category.SHORTAGE),
    ("freight", "Freight", Category.FREIGHT),
    ("promotion", "Promotion / trade allowance", Category.PROMOTION),
    ("return", "Return", Category.RETURNS),
    ("tax", "Tax", Category.TAX),
    ("compliance", "Compliance fine (chargeback)", Category.COMPLIANCE),
)
DEFAULT_WRITE_OFF_ACCOUNT = "6890"


class ReasonCode(TenantModel):
    """The tenant's catalogue: a code, its standard category, where write-offs go and the tolerance under
    which a deduction is written off without research."""

    code = models.CharField(max_length=30)
    name = models.CharField(max_length=120)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.UNKNOWN)
    gl_account = models.CharField(max_length=40, default=DEFAULT_WRITE_OFF_ACCOUNT,
                                  help_text="GL account write-offs of this reason are posted to")
    tolerance_max_amount = MoneyField(null=True, blank=True,
                                      help_text="Write off automatically up to this remaining amount")
    tolerance_max_share = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True,
                                              help_text="…and up to this share of the invoice (0.02 = 2 %)")
    is_active = models.BooleanField(default=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "code"], name="reason_code_unique"),
            models.CheckConstraint(condition=Q(tolerance_max_amount__gte=0) | Q(tolerance_max_amount__isnull=True),
                                   name="reason_code_tolerance_amount_not_negative"),
            models.CheckConstraint(condition=Q(tolerance_max_share__gte=0, tolerance_max_share__lte=1)
                                   | Q(tolerance_max_share__isnull=True), name="reason_code_tolerance_share_range"),
        ]

    def __str__(self):
        return f"{self.code} ({self.get_category_display()})"


class CustomerReasonCode(TenantModel):
    """A big customer's own deduction code (e.g. Walmart's "DC 22") and the tenant code it means."""

    customer = TenantForeignKey("o2c.Customer", on_delete=models.CASCADE, related_name="reason_code_maps")
    code = models.CharField(max_length=40)
    description = models.CharField(max_length=200, blank=True)
    reason_code = TenantForeignKey(ReasonCode, related_name="customer_maps")

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "customer", "code"],
                                               name="customer_reason_code_unique")]

    def __str__(self):
        return f"{self.code} -> {self.reason_code.code}"


class TradePromotion(TenantModel):
    """An approved trade promotion: during the period the customer may deduct the rate (percent of the
    invoice) or the fixed amount, against the listed invoices or products, while budget is left."""

    customer = TenantForeignKey("o2c.Customer", related_name="trade_promotions")
    name = models.CharField(max_length=120)
    start_date = models.DateField()
    end_date = models.DateField()
    invoice_numbers = models.JSONField(default=list, blank=True, help_text="Empty: any invoice of the period")
    products = models.CharField(max_length=300, blank=True, help_text="Products or description")
    rate_percent = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True)
    amount = MoneyField(null=True, blank=True)
    currency = CurrencyField(default="USD")
    budget = MoneyField()
    budget_used = MoneyField(default=Decimal("0"))
    approved = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(end_date__gte=F("start_date")), name="promotion_period_order"),
            models.CheckConstraint(condition=Q(budget_used__gte=0) & Q(budget_used__lte=F("budget")),
                                   name="promotion_budget_used_within_budget"),
            models.CheckConstraint(condition=Q(rate_percent__isnull=False) | Q(amount__isnull=False),
                                   name="promotion_rate_or_amount"),
        ]

    def __str__(self):
        return self.name

    @property
    def budget_left(self) -> Decimal:
        return self.budget - self.budget_used


class DeductionSource(models.TextChoices):
    CASH_APPLICATION = "cash_application", "Cash application"
    REMITTANCE = "remittance", "Remittance (X12 812 / 820)"
    CLERK = "clerk", "Clerk"
    PORTAL = "portal", "Customer portal"


class DeductionStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_RESEARCH = "in_research", "In research"
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"
    RESOLVED = "resolved", "Resolved"
    SPLIT = "split", "Split into parts"
    MERGED = "merged", "Merged into another"
    CANCELLED = "cancelled", "Cancelled (application reversed)"


WORKABLE = (DeductionStatus.OPEN, DeductionStatus.IN_RESEARCH)
DECIDED = (DeductionStatus.VALID, DeductionStatus.INVALID)
CLOSED = (DeductionStatus.RESOLVED, DeductionStatus.SPLIT, DeductionStatus.MERGED, DeductionStatus.CANCELLED)


class Resolution(models.TextChoices):
    CREDIT_MEMO = "credit_memo", "Credit memo"
    WRITE_OFF = "write_off", "Write-off"
    REBILL = "rebill", "Re-bill"
    REPAYMENT = "repayment", "Repaid by the customer"
    COLLECTION_RESTART = "collection_restart", "Collection restarted"


# Which resolutions fit which decision.
RESOLUTIONS_FOR = {
    DeductionStatus.VALID: (Resolution.CREDIT_MEMO, Resolution.WRITE_OFF),
    DeductionStatus.INVALID: (Resolution.REBILL, Resolution.COLLECTION_RESTART, Resolution.REPAYMENT),
}
# Resolutions that bring the money back: the recovery rate counts them.
RECOVERING = (Resolution.REBILL, Resolution.COLLECTION_RESTART, Resolution.REPAYMENT)


class Deduction(FSMModelMixin, TenantModel):
    customer = TenantForeignKey("o2c.Customer", related_name="deductions")
    invoice = TenantForeignKey("o2c.Invoice", null=True, blank=True, related_name="deductions")
    payment = TenantForeignKey("payments.Payment", null=True, blank=True, related_name="deductions")
    # The application that created it; reversing that application cancels the deduction.
    application = TenantForeignKey("cashapp.Application", null=True, blank=True, related_name="deductions")
    source = models.CharField(max_length=20, choices=DeductionSource.choices, default=DeductionSource.CASH_APPLICATION,
                              db_default=DeductionSource.CASH_APPLICATION)
    # Where it came from beyond the FKs: "812 BCD 12345 line 7", "820 TRN 998 ADX line 14".
    origin = models.CharField(max_length=200, blank=True, default="", db_default="")
    amount = MoneyField()
    # What is still open: the amount less what was split off, merged away or resolved.
    closed_amount = MoneyField(default=Decimal("0"), db_default=Decimal("0"))
    remaining_amount = models.GeneratedField(expression=F("amount") - F("closed_amount"),
                                             output_field=MoneyField(), db_persist=True)
    currency = CurrencyField()
    reason = models.CharField(max_length=30, default=DeductionReason.SHORT_PAYMENT,
                              help_text="The tenant reason code as first given")
    reason_text = models.CharField(max_length=300, blank=True, help_text="What the customer wrote, if anything")
    # Filled by intake from `reason` (cash application's SQL insert only knows the code's text).
    reason_code = TenantForeignKey(ReasonCode, null=True, blank=True, related_name="deductions")
    customer_reason_code = models.CharField(max_length=40, blank=True, default="", db_default="")
    status = FSMField(default=DeductionStatus.OPEN, choices=DeductionStatus.choices, protected=True, max_length=20)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    queue = models.CharField(max_length=60, blank=True, default="", db_default="")
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL,
                                db_default=Priority.NORMAL)
    sla_due = models.DateTimeField(null=True, blank=True)
    parent = TenantForeignKey("self", null=True, blank=True, related_name="parts",
                              help_text="The deduction this one was split from")
    merged_into = TenantForeignKey("self", null=True, blank=True, related_name="merged_from")
    duplicate_of = TenantForeignKey("self", null=True, blank=True, related_name="duplicates")
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True, default="", db_default="")
    instruction_id = models.BigIntegerField(null=True, blank=True, help_text="Payment instruction under way")
    recovered_amount = MoneyField(default=Decimal("0"), db_default=Decimal("0"))
    denial_note = models.TextField(blank=True, default="", db_default="")
    evidence = models.JSONField(default=dict, db_default={}, blank=True)
    intake_done = models.BooleanField(default=False, db_default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="deduction_amount_positive"),
            models.CheckConstraint(condition=Q(closed_amount__gte=0) & Q(closed_amount__lte=F("amount")),
                                   name="deduction_remaining_within_amount"),
            models.CheckConstraint(condition=Q(recovered_amount__gte=0) & Q(recovered_amount__lte=F("amount")),
                                   name="deduction_recovered_within_amount"),
            models.UniqueConstraint(fields=["tenant", "application"], name="deduction_one_per_application"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "created_at", "id"], name="deduction_status_idx"),
            models.Index(fields=["tenant", "created_at", "id"], name="deduction_created_idx"),
            models.Index(fields=["tenant", "intake_done"], name="deduction_intake_idx",
                         condition=Q(intake_done=False)),
        ]

    def __str__(self):
        return f"{self.number} {money_display(self.amount, self.currency)}"

    @property
    def number(self) -> str:
        # From the id, so the rows cash application inserts in SQL are numbered without a sequence per tenant.
        return f"D-{self.pk:06d}" if self.pk else "D-new"

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED

    # Transitions change fields in memory; services lock, transition, save and audit.
    @transition(field=status, source=DeductionStatus.OPEN, target=DeductionStatus.IN_RESEARCH)
    def start_research(self):
        pass

    @transition(field=status, source=list(WORKABLE), target=DeductionStatus.VALID)
    def validate(self):
        pass

    @transition(field=status, source=list(WORKABLE), target=DeductionStatus.INVALID)
    def invalidate(self):
        pass

    @transition(field=status, source=list(DECIDED), target=DeductionStatus.RESOLVED,
                conditions=[lambda d: d.resolution in RESOLUTIONS_FOR.get(d.status, ())])
    def resolve(self):
        self.closed_amount = self.amount
        self.recovered_amount = self.amount if self.resolution in RECOVERING else Decimal("0")

    @transition(field=status, source=list(DECIDED), target=DeductionStatus.OPEN,
                conditions=[lambda d: d.instruction_id is None])
    def reopen(self):
        self.resolution = ""

    @transition(field=status, source=list(WORKABLE), target=DeductionStatus.SPLIT)
    def split(self):
        self.closed_amount = self.amount

    @transition(field=status, source=list(WORKABLE), target=DeductionStatus.MERGED)
    def merge(self):
        self.closed_amount = self.amount

    @transition(field=status, source=DeductionStatus.OPEN, target=DeductionStatus.CANCELLED)
    def cancel(self):
        pass


class DocumentKind(models.TextChoices):
    PROOF_OF_DELIVERY = "pod", "Proof of delivery"
    PROMOTION_AGREEMENT = "promotion", "Promotion agreement"
    CLAIM = "claim", "Claim"
    OTHER = "other", "Other"


class DeductionDocument(TenantModel):
    """A file attached to a deduction; the bytes live in the default storage (o2c.documents)."""

    deduction = TenantForeignKey(Deduction, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=20, choices=DocumentKind.choices, default=DocumentKind.OTHER)
    path = models.CharField(max_length=400)
    name = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=100)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    from_customer = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name
