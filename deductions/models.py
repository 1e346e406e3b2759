"""Deductions: what a customer kept back when paying an invoice short.

Cash application creates them (one per invoice a short payment touched); their validity workflow and
resolution (credit memo, write-off, re-bill) build on the `status` machine here.
"""

from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from o2c.money import CurrencyField, MoneyField
from o2c.tenancy import TenantForeignKey, TenantModel


class DeductionReason(models.TextChoices):
    # Same codes as cashapp.matching.types.DEDUCTION_REASONS: the matcher infers them from remittance text.
    SHORT_PAYMENT = "short_payment", "Short payment (no reason given)"
    UNEARNED_DISCOUNT = "unearned_discount", "Unearned discount"
    PRICING = "pricing", "Pricing difference"
    DAMAGED = "damaged", "Damaged goods"
    SHORTAGE = "shortage", "Shortage"
    FREIGHT = "freight", "Freight"
    PROMOTION = "promotion", "Promotion / trade allowance"
    RETURN = "return", "Return"
    TAX = "tax", "Tax"


class DeductionStatus(models.TextChoices):
    OPEN = "open", "Open"
    CANCELLED = "cancelled", "Cancelled (application reversed)"


class Deduction(FSMModelMixin, TenantModel):
    customer = TenantForeignKey("o2c.Customer", related_name="deductions")
    invoice = TenantForeignKey("o2c.Invoice", related_name="deductions")
    payment = TenantForeignKey("payments.Payment", related_name="deductions")
    # The application that created it; reversing that application cancels the deduction.
    application = TenantForeignKey("cashapp.Application", related_name="deductions")
    amount = MoneyField()
    currency = CurrencyField()
    reason = models.CharField(max_length=30, choices=DeductionReason.choices, default=DeductionReason.SHORT_PAYMENT)
    reason_text = models.CharField(max_length=300, blank=True, help_text="What the customer wrote, if anything")
    status = FSMField(default=DeductionStatus.OPEN, choices=DeductionStatus.choices, protected=True, max_length=20)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="deduction_amount_positive"),
            models.UniqueConstraint(fields=["tenant", "application"], name="deduction_one_per_application"),
        ]
        indexes = [models.Index(fields=["tenant", "status", "created_at", "id"], name="deduction_status_idx")]

    def __str__(self):
        return f"{self.get_reason_display()} {self.amount} {self.currency}"

    @transition(field=status, source=DeductionStatus.OPEN, target=DeductionStatus.CANCELLED)
    def cancel(self):
        pass
