"""Payment instructions: what a resolved deduction or dispute asks the ledger and the ERP to do.

A credit memo, a refund, a withholding (dunning held), a re-bill, a collection restart or a write-off, each an
auditable row with its own number and a state machine (pending approval -> approved -> sent -> done, or
cancelled). Ledger kinds execute through `o2c.ledger.adjustments` when approved; refunds leave as a bank file
(`RefundFile`) for the tenant's treasury and are done when the treasury confirms them.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from ..money import CurrencyField, MoneyField
from ..tenancy import TenantForeignKey, TenantModel
from .tenants import Role


class InstructionKind(models.TextChoices):
    CREDIT_MEMO = "credit_memo", "Credit memo"
    REFUND = "refund", "Refund"
    WITHHOLD = "withhold", "Withholding"
    REBILL = "rebill", "Re-bill"
    COLLECTION_RESTART = "collection_restart", "Collection restart"
    WRITE_OFF = "write_off", "Write-off"


class InstructionStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    SENT = "sent", "Sent"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class OriginKind(models.TextChoices):
    DEDUCTION = "deduction", "Deduction"
    DISPUTE = "dispute", "Dispute"


class RefundFormat(models.TextChoices):
    PAIN_001 = "pain.001", "SEPA credit transfer (pain.001.001.03)"
    NACHA = "nacha", "NACHA ACH credits"


class NumberSequence(TenantModel):
    """The last number handed out per tenant and kind of document ("PI", "CM", "WO"): gapless enough for
    humans, and safe under concurrency (one UPSERT ... RETURNING per number)."""

    key = models.CharField(max_length=20)
    last = models.BigIntegerField(default=0)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="number_sequence_unique")]


class ApprovalLimit(TenantModel):
    """How much one role may approve alone, in one currency; `max_amount` null means without limit."""

    role = models.CharField(max_length=20, choices=Role.choices)
    max_amount = MoneyField(null=True, blank=True)
    currency = CurrencyField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "role", "currency"], name="approval_limit_unique"),
            models.CheckConstraint(condition=Q(max_amount__gte=0) | Q(max_amount__isnull=True),
                                   name="approval_limit_not_negative"),
        ]


class TreasuryAccount(TenantModel):
    """The tenant's own bank account that refunds are paid from; one per tenant. Shown masked, never logged."""

    debtor_name = models.CharField(max_length=70, blank=True, help_text="Account holder, as the bank knows it")
    iban = models.CharField(max_length=34, blank=True, verbose_name="IBAN")
    bic = models.CharField(max_length=11, blank=True, verbose_name="BIC")
    nacha_immediate_destination = models.CharField(max_length=9, blank=True,
                                                   help_text="Routing number of the bank receiving the file")
    nacha_destination_name = models.CharField(max_length=23, blank=True)
    nacha_immediate_origin = models.CharField(max_length=10, blank=True,
                                              help_text="Usually 1 + your EIN, or your routing number")
    nacha_origin_name = models.CharField(max_length=23, blank=True)
    nacha_company_name = models.CharField(max_length=16, blank=True)
    nacha_company_id = models.CharField(max_length=10, blank=True, help_text="Company identification (10)")
    nacha_routing = models.CharField(max_length=9, blank=True, help_text="Originating DFI routing number")
    nacha_account = models.CharField(max_length=17, blank=True, help_text="The account the credits are paid from")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant"], name="treasury_account_one_per_tenant")]


class RefundFile(TenantModel):
    """A bank file of refunds for the treasury to send.

    The content is a TextField, not a file in the default storage: it must exist exactly when the refunds
    it pays are marked sent, and a row written in the same transaction gives that for free (a stored file
    survives a rolled-back transaction); a refund is ~1 KB of XML or two 94-character records.
    """

    format = models.CharField(max_length=10, choices=RefundFormat.choices)
    file_name = models.CharField(max_length=100)
    content = models.TextField()
    sha256 = models.CharField(max_length=64)
    currency = CurrencyField()
    total = MoneyField()
    count = models.PositiveIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sha256"], name="refund_file_sha256_unique"),
            models.CheckConstraint(condition=Q(total__gt=0) & Q(count__gt=0), name="refund_file_not_empty"),
        ]

    def __str__(self):
        return self.file_name


class WriteOff(TenantModel):
    """An amount written off to a GL account: of an unpaid invoice (a dispute) or of a deduction."""

    customer = TenantForeignKey("o2c.Customer", related_name="write_offs")
    invoice = TenantForeignKey("o2c.Invoice", null=True, blank=True, related_name="write_offs")
    number = models.CharField(max_length=20)
    amount = MoneyField()
    currency = CurrencyField()
    account = models.CharField(max_length=40)
    reason = models.CharField(max_length=200, blank=True)
    reduced_open_balance = models.BooleanField(help_text="False when the deduction had already reduced it")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="write_off_number_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="write_off_amount_positive"),
            models.CheckConstraint(condition=~Q(account=""), name="write_off_has_account"),
        ]

    def __str__(self):
        return self.number


class InvoiceHold(TenantModel):
    """Dunning is held on (part of) an invoice while a case about it is open."""

    invoice = TenantForeignKey("o2c.Invoice", related_name="holds")
    amount = MoneyField()
    origin_kind = models.CharField(max_length=20, choices=OriginKind.choices)
    origin_id = models.BigIntegerField()
    reason = models.CharField(max_length=200, blank=True)
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    placed_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "origin_kind", "origin_id", "invoice"],
                                    condition=Q(released_at__isnull=True), name="invoice_hold_one_active"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_hold_amount_positive"),
        ]
        indexes = [models.Index(fields=["tenant", "invoice"], condition=Q(released_at__isnull=True),
                                name="invoice_hold_active_idx")]


class PaymentInstruction(FSMModelMixin, TenantModel):
    number = models.CharField(max_length=20)
    kind = models.CharField(max_length=20, choices=InstructionKind.choices)
    status = FSMField(default=InstructionStatus.PENDING_APPROVAL, choices=InstructionStatus.choices,
                      protected=True, max_length=20)
    customer = TenantForeignKey("o2c.Customer", related_name="payment_instructions")
    invoice = TenantForeignKey("o2c.Invoice", null=True, blank=True, related_name="payment_instructions")
    amount = MoneyField()
    currency = CurrencyField()
    origin_kind = models.CharField(max_length=20, choices=OriginKind.choices)
    origin_id = models.BigIntegerField()
    memo = models.TextField(blank=True)
    account = models.CharField(max_length=40, blank=True, help_text="GL account of a write-off")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # What executing it produced.
    credit_memo = TenantForeignKey("o2c.CreditMemo", null=True, blank=True, related_name="+")
    rebill_invoice = TenantForeignKey("o2c.Invoice", null=True, blank=True, related_name="+")
    write_off = TenantForeignKey(WriteOff, null=True, blank=True, related_name="+")
    refund_file = TenantForeignKey(RefundFile, null=True, blank=True, related_name="instructions")
    bank_account = TenantForeignKey("o2c.CustomerBankAccount", null=True, blank=True, related_name="+",
                                    help_text="The customer's account a refund was paid to")

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="instruction_number_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="instruction_amount_positive"),
            models.CheckConstraint(condition=~Q(kind="write_off") | ~Q(account=""),
                                   name="instruction_write_off_has_account"),
            models.CheckConstraint(condition=Q(status="sent", refund_file__isnull=False) | ~Q(status="sent"),
                                   name="instruction_sent_has_file"),
        ]
        indexes = [
            models.Index(fields=["tenant", "status", "id"], name="instruction_status_idx"),
            models.Index(fields=["tenant", "origin_kind", "origin_id"], name="instruction_origin_idx"),
        ]

    def __str__(self):
        return self.number

    @property
    def is_ledger_kind(self) -> bool:
        return self.kind != InstructionKind.REFUND

    # Transitions change fields in memory; the services lock, transition, save and audit.
    @transition(field=status, source=InstructionStatus.PENDING_APPROVAL, target=InstructionStatus.APPROVED)
    def approve(self):
        pass

    @transition(field=status, source=InstructionStatus.APPROVED, target=InstructionStatus.SENT,
                conditions=[lambda pi: pi.kind == InstructionKind.REFUND])
    def send(self):
        pass

    @transition(field=status, source=InstructionStatus.APPROVED, target=InstructionStatus.DONE,
                conditions=[lambda pi: pi.kind != InstructionKind.REFUND])
    def execute(self):
        pass

    @transition(field=status, source=InstructionStatus.SENT, target=InstructionStatus.DONE)
    def confirm(self):
        pass

    @transition(field=status, source=[InstructionStatus.PENDING_APPROVAL, InstructionStatus.APPROVED],
                target=InstructionStatus.CANCELLED)
    def cancel(self):
        pass
