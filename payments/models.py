"""Money in: bank files, statements, payments and remittance advice.

Exactly once is a database guarantee, not a convention: a file is unique by its SHA-256, a statement by
(account, statement id) and a payment by (account, the bank's entry reference), all per tenant, so a
file imported twice or an entry arriving in two files (intraday, then end of day) creates nothing new.
"""

from django.db import models
from django.db.models import F, Q

from o2c.ledger.status import PaymentStatus  # noqa: F401  (re-exported: the ledger owns the rule)
from o2c.models.uploads import QueuedUpload
from o2c.money import CurrencyField, MoneyField
from o2c.tenancy import TenantForeignKey, TenantModel, tenant_implied_by_parent


class BankFile(TenantModel):
    """One imported file. Only files that imported exist here: a refused file stores nothing."""

    file_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    format = models.CharField(max_length=20)
    uploaded_by = models.ForeignKey("o2c.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    statements = models.PositiveIntegerField(default=0)
    payments_created = models.PositiveIntegerField(default=0)
    duplicates_skipped = models.PositiveIntegerField(default=0, help_text="entries already imported from another file")
    debits_skipped = models.PositiveIntegerField(default=0, help_text="debits, reversals and zero amounts")
    remittances = models.PositiveIntegerField(default=0)
    remittances_linked = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "sha256"], name="bank_file_sha256_unique")]
        indexes = [models.Index(fields=["tenant", "created_at", "id"], name="bank_file_created_idx")]

    def __str__(self):
        return self.file_name


class BankStatement(TenantModel):
    bank_file = TenantForeignKey(BankFile, related_name="bank_statements")
    account = models.CharField(max_length=70)
    statement_id = models.CharField(max_length=140)
    currency = CurrencyField(blank=True)
    as_of = models.DateField(null=True, blank=True)
    opening_balance = MoneyField(null=True, blank=True)
    closing_balance = MoneyField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "account", "statement_id"], name="bank_statement_unique"),
        ]

    def __str__(self):
        return f"{self.statement_id} ({self.account})"


class PaymentChannel(models.TextChoices):
    ACH = "ach", "ACH"
    WIRE = "wire", "Wire"
    CHECK = "check", "Check"
    LOCKBOX = "lockbox", "Lockbox"
    CARD = "card", "Card"
    DIRECT_DEBIT = "direct_debit", "Direct debit"
    PORTAL = "portal", "Portal"
    OTHER = "other", "Other"


class Payment(TenantModel):
    # An import writes 100k payments in one transaction; the composite key to the bank file proves the tenant.
    tenant = tenant_implied_by_parent()
    bank_file = TenantForeignKey(BankFile, related_name="payments")
    statement = TenantForeignKey(BankStatement, null=True, blank=True, related_name="payments")
    bank_reference = models.CharField(max_length=140, help_text="The bank's reference of the entry")
    account = models.CharField(max_length=70, help_text="Our account the money arrived on")
    amount = MoneyField()
    currency = CurrencyField()
    value_date = models.DateField(null=True, blank=True)
    booking_date = models.DateField()
    channel = models.CharField(max_length=20, choices=PaymentChannel.choices, default=PaymentChannel.OTHER)
    bank_code = models.CharField(max_length=40, blank=True)
    payer_name = models.CharField(max_length=200, blank=True)
    payer_account = models.CharField(max_length=70, blank=True)
    end_to_end_id = models.CharField(max_length=140, blank=True)
    remittance_text = models.TextField(blank=True)
    # Who paid, once known (matched, or confirmed by a clerk); an unknown payer stays null.
    customer = TenantForeignKey("o2c.Customer", null=True, blank=True, related_name="payments")
    raw = models.TextField(help_text="The entry as the bank sent it, for the audit trail")
    source_line = models.CharField(max_length=300, blank=True)
    unapplied_amount = MoneyField()
    # Follows from the unapplied amount (o2c.ledger.status), written by the ledger's posting.
    status = models.CharField(default=PaymentStatus.UNAPPLIED, choices=PaymentStatus.choices, max_length=20)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            # Reference before account: the key also serves lookups by the bank's reference alone (search,
            # advice linking), so no second index has to be kept up to date on every insert.
            models.UniqueConstraint(fields=["tenant", "bank_reference", "account"], name="payment_reference_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(condition=Q(unapplied_amount__gte=0) & Q(unapplied_amount__lte=F("amount")),
                                   name="payment_unapplied_within_amount"),
            models.CheckConstraint(condition=~Q(status="applied") | Q(unapplied_amount=0),
                                   name="payment_applied_means_zero_unapplied"),
            models.CheckConstraint(condition=~Q(status="unapplied") | Q(unapplied_amount=F("amount")),
                                   name="payment_unapplied_means_full"),
        ]
        indexes = [
            # The payments list pages by (booking_date, id) under each filter.
            models.Index(fields=["tenant", "booking_date", "id"], name="payment_booking_idx"),
            models.Index(fields=["tenant", "status", "booking_date", "id"], name="payment_status_booking_idx"),
            models.Index(fields=["tenant", "end_to_end_id"], name="payment_end_to_end_idx"),
        ]

    def __str__(self):
        return self.bank_reference


class RemittanceAdvice(TenantModel):
    """Remittance that travels apart from the money (X12 820, NACHA addenda); linked to its payment by
    reference and amount, whichever of the two arrives first."""

    bank_file = TenantForeignKey(BankFile, related_name="remittance_advices")
    payment = TenantForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="advices")
    payment_reference = models.CharField(max_length=140, help_text="Trace, check or wire reference")
    payer_name = models.CharField(max_length=200, blank=True)
    payer_id = models.CharField(max_length=80, blank=True)
    payee_name = models.CharField(max_length=200, blank=True)
    amount = MoneyField(null=True, blank=True)
    currency = CurrencyField(blank=True)
    payment_date = models.DateField(null=True, blank=True)
    channel = models.CharField(max_length=20, choices=PaymentChannel.choices, default=PaymentChannel.OTHER)
    unstructured = models.TextField(blank=True)
    raw = models.TextField()
    source_line = models.CharField(max_length=300, blank=True)
    # Same advice in two files (different bytes) is one advice: sha256 of reference, payer, amount, date, items.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "fingerprint"], name="remittance_advice_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0) | Q(amount__isnull=True),
                                   name="remittance_advice_amount_not_negative"),
        ]
        indexes = [models.Index(fields=["tenant", "payment_reference"], name="advice_reference_idx")]

    def __str__(self):
        return self.payment_reference


class RemittanceLine(TenantModel):
    """One document a payment or advice settles (an invoice, usually)."""

    # Exactly one owner (the check below), whose composite key proves the tenant.
    tenant = tenant_implied_by_parent()
    advice = TenantForeignKey(RemittanceAdvice, null=True, blank=True, on_delete=models.CASCADE, related_name="lines")
    payment = TenantForeignKey(Payment, null=True, blank=True, on_delete=models.CASCADE,
                               related_name="remittance_lines")
    position = models.PositiveIntegerField(default=1)
    reference = models.CharField(max_length=140)
    reference_type = models.CharField(max_length=30, default="invoice")
    amount_paid = MoneyField(null=True, blank=True)
    gross_amount = MoneyField(null=True, blank=True)
    discount = MoneyField(null=True, blank=True)
    adjustment = MoneyField(null=True, blank=True)
    adjustment_reason = models.CharField(max_length=140, blank=True)
    text = models.TextField(blank=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(advice__isnull=False, payment__isnull=True)
                                   | Q(advice__isnull=True, payment__isnull=False),
                                   name="remittance_line_one_owner"),
        ]


class BankFileUpload(QueuedUpload):
    """A bank file for the background import; its outcome is the imported BankFile (or the refusal)."""

    csv_mapping = models.JSONField(null=True, blank=True)
    bank_file = TenantForeignKey(BankFile, null=True, blank=True, related_name="+")
    duplicate = models.BooleanField(default=False)


class BankCsvMapping(TenantModel):
    """A bank's CSV export layout, saved once by name (see `payments.parsers.csv_mapped.CsvMapping`)."""

    name = models.CharField(max_length=80)
    mapping = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="bank_csv_mapping_name_unique")]

    def __str__(self):
        return self.name
