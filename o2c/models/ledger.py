"""The shared ledger: customers, invoices, credit memos. Every other app posts against these."""

import re
from dataclasses import dataclass
from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django_fsm import FSMField, FSMModelMixin, transition

from ..money import CurrencyField, MoneyField
from ..tenancy import TenantForeignKey, TenantModel, tenant_implied_by_parent
from .uploads import QueuedUpload

_TERMS = re.compile(
    r"^\s*(?:(?P<pct>\d+(?:\.\d+)?)\s*%?\s*/\s*(?P<days>\d+)\s*,?\s*)?(?:n(?:et)?\s*/?\s*(?P<net>\d+))\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PaymentTerms:
    """Terms such as "2/10 net 30": 2 % off when paid within 10 days, due in 30."""

    net_days: int
    discount_percent: Decimal = Decimal("0")
    discount_days: int = 0

    @classmethod
    def parse(cls, text: str) -> "PaymentTerms":
        match = _TERMS.match(text or "")
        if not match:
            raise ValueError(f"payment terms {text!r} are not of the form 'net 30' or '2/10 net 30'")
        pct, days = match["pct"], match["days"]
        return cls(int(match["net"]), Decimal(pct) if pct else Decimal("0"), int(days) if days else 0)

    def __str__(self):
        prefix = f"{self.discount_percent.normalize()}/{self.discount_days} " if self.discount_percent else ""
        return f"{prefix}net {self.net_days}"


class CustomerRisk(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Customer(TenantModel):
    external_id = models.CharField(max_length=64, help_text="The customer's id in the ERP")
    name = models.CharField(max_length=200)
    parent = TenantForeignKey("self", null=True, blank=True, related_name="children")
    payment_terms = models.CharField(max_length=40, default="net 30")
    credit_limit = MoneyField(null=True, blank=True)
    currency = CurrencyField(default="USD")
    # What the triage rules may read of a customer (`customer.segment`, `customer.risk`): the tenant's own
    # segmentation (e.g. "key", "retail") and credit risk.
    segment = models.CharField(max_length=40, blank=True, default="", db_default="")
    risk = models.CharField(max_length=10, choices=CustomerRisk.choices, blank=True, default="", db_default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "external_id"], name="customer_external_id_unique"),
            models.CheckConstraint(condition=Q(credit_limit__gte=0) | Q(credit_limit__isnull=True),
                                   name="customer_credit_limit_not_negative"),
            models.CheckConstraint(condition=~Q(parent=F("id")), name="customer_not_own_parent"),
        ]
        indexes = [models.Index(fields=["tenant", "name"], name="customer_name_idx")]

    def __str__(self):
        return f"{self.name} ({self.external_id})"

    @property
    def terms(self) -> PaymentTerms:
        return PaymentTerms.parse(self.payment_terms)


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PHONE = "phone", "Phone"
    POST = "post", "Post"
    PORTAL = "portal", "Portal only"


class CustomerContact(TenantModel):
    customer = TenantForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    role = models.CharField(max_length=60, blank=True, help_text="e.g. Accounts payable")
    preferred_channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    receives_remittance_receipts = models.BooleanField(default=True)
    receives_reminders = models.BooleanField(default=True)


class CustomerAlias(TenantModel):
    """Another name a customer pays under ("ACME IND SUPP", a trading name); learned or entered."""

    customer = TenantForeignKey(Customer, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=200)
    normalized = models.CharField(max_length=200)
    source = models.CharField(max_length=20, default="manual")  # manual, learned, import
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "customer", "normalized"], name="alias_unique"),
        ]


class CustomerBankAccount(TenantModel):
    """A bank account the customer remits from. Never logged; shown masked."""

    customer = TenantForeignKey(Customer, on_delete=models.CASCADE, related_name="bank_accounts")
    account_identifier = models.CharField(max_length=64, help_text="IBAN or routing:account, normalised")
    bank_name = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "account_identifier"], name="bank_account_unique"),
        ]

    @property
    def masked(self) -> str:
        return "•••• " + self.account_identifier[-4:]


class InvoiceStatus(models.TextChoices):
    OPEN = "open", "Open"
    PARTIALLY_PAID = "partially_paid", "Partially paid"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class Invoice(TenantModel):
    tenant = tenant_implied_by_parent()  # by the enforced (tenant_id, customer_id) key (migration 0003)
    number = models.CharField(max_length=64)
    customer = TenantForeignKey(Customer, related_name="invoices")
    issue_date = models.DateField()
    due_date = models.DateField()
    amount = MoneyField()
    currency = CurrencyField()
    open_balance = MoneyField()
    po_number = models.CharField(max_length=64, blank=True)
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    discount_due_date = models.DateField(null=True, blank=True)
    # Follows from the open balance (o2c.ledger.status); void only through o2c.services.invoices.invoice_void.
    status = models.CharField(default=InvoiceStatus.OPEN, choices=InvoiceStatus.choices, max_length=20)
    # The import that created the invoice, if one did: its provenance (who, when, which file), told in the
    # invoice's history from the batch, which has the one audit event of the import instead of one per invoice.
    # Not enforced and not indexed: the service sets it to the batch it has just stored in the same
    # transaction, nothing reads invoices by it, and either would cost a million entries or checks an import.
    import_batch = TenantForeignKey("InvoiceImport", null=True, blank=True, related_name="+", editable=False,
                                    enforced=False, indexed=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        constraints = [
            # Pattern opclass: the same equality (so it is the unique key, serves lookups by number and
            # ON CONFLICT) and also the prefix search; one index fewer to fill for a million-row import.
            models.UniqueConstraint(fields=["tenant", "number"], opclasses=["int8_ops", "varchar_pattern_ops"],
                                    name="invoice_number_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="invoice_amount_not_negative"),
            models.CheckConstraint(condition=Q(open_balance__gte=0), name="invoice_open_balance_not_negative"),
            models.CheckConstraint(condition=Q(open_balance__lte=F("amount")),
                                   name="invoice_open_balance_within_amount"),
            models.CheckConstraint(condition=Q(due_date__gte=F("issue_date")), name="invoice_due_after_issue"),
            models.CheckConstraint(condition=Q(discount_percent__gte=0) & Q(discount_percent__lt=100),
                                   name="invoice_discount_percent_range"),
            models.CheckConstraint(
                condition=Q(status="paid", open_balance=0) | ~Q(status="paid"), name="invoice_paid_means_zero_open"
            ),
        ]
        indexes = [
            # The invoice list pages by (due_date, id) under each filter; these keep it an index scan.
            # No index holds `status` (nor `open_balance`): posting cash changes both on thousands of rows a
            # second, and only while no indexed column changes can Postgres update a row in place (HOT,
            # helped by the table's fillfactor) instead of adding an entry to every index. A status filter
            # walks invoice_due_idx and skips the rows of other statuses.
            models.Index(fields=["tenant", "due_date", "id"], name="invoice_due_idx"),
            models.Index(fields=["tenant", "customer", "due_date"], name="invoice_customer_due_idx"),
            # Only invoices that have a PO number: the exact-PO search never looks for an empty one, and an import
            # then adds no entry for the many invoices without (half the benchmark's file).
            models.Index(fields=["tenant", "po_number"], name="invoice_po_idx", condition=~Q(po_number="")),
        ]

    def __str__(self):
        return self.number


class CreditMemoStatus(models.TextChoices):
    OPEN = "open", "Open"
    APPLIED = "applied", "Applied"
    VOID = "void", "Void"


class CreditMemo(FSMModelMixin, TenantModel):
    number = models.CharField(max_length=64)
    customer = TenantForeignKey(Customer, related_name="credit_memos")
    invoice = TenantForeignKey(Invoice, null=True, blank=True, related_name="credit_memos")
    issue_date = models.DateField()
    amount = MoneyField()
    currency = CurrencyField()
    open_balance = MoneyField()
    reason = models.CharField(max_length=200, blank=True)
    status = FSMField(default=CreditMemoStatus.OPEN, choices=CreditMemoStatus.choices, protected=True, max_length=20)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="credit_memo_number_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_memo_amount_positive"),
            models.CheckConstraint(condition=Q(open_balance__gte=0) & Q(open_balance__lte=F("amount")),
                                   name="credit_memo_open_balance_range"),
        ]

    def __str__(self):
        return self.number

    @transition(field=status, source=CreditMemoStatus.OPEN, target=CreditMemoStatus.APPLIED)
    def use_up(self):
        self.open_balance = Decimal("0")


class InvoiceImport(TenantModel):
    """One upload of the ERP's invoice CSV: who, when, what it did. The file itself is not kept."""

    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField(default=0)
    created_invoices = models.PositiveIntegerField(default=0)
    updated_invoices = models.PositiveIntegerField(default=0)
    unchanged_invoices = models.PositiveIntegerField(default=0)
    created_customers = models.PositiveIntegerField(default=0)
    imported_by = models.ForeignKey("o2c.User", null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        ordering = ["-created_at"]

    def __str__(self):
        return self.file_name


class InvoiceUpload(QueuedUpload):
    """A big invoice file for the background import (a million rows take longer than a request may). The rows
    stored so far are in the cache: the import is one transaction, invisible until it ends."""

    rows_expected = models.PositiveIntegerField(default=0)  # lines in the file less the header
    errors = models.JSONField(default=list, blank=True)  # "line N: reason", as many as the import reports
    invoice_import = TenantForeignKey(InvoiceImport, null=True, blank=True, related_name="+")

    def refusal_details(self, exc) -> dict:
        return {"errors": exc.extra.get("errors", [])}  # InvoiceFileError lists the bad lines there

