"""Cash application: what each payment did to which invoice, and why.

`Application` is the journal: rows are only ever inserted (the table is append-only for the app role and
refuses UPDATE/DELETE by trigger). Undoing one inserts its reversal, the same amounts negated, pointing at
the original; a unique key lets an application be reversed once. The balances on Payment
(`unapplied_amount`) and Invoice (`open_balance`) are derived from the journal and kept in step by the
services under row locks; their check constraints are the last line: a payment is never applied beyond
its amount and an invoice never below zero, whatever races.
"""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from o2c.money import MoneyField
from o2c.tenancy import TenantForeignKey, TenantModel, tenant_implied_by_parent

from .scopes import RunScope


class CashAppSettings(TenantModel):
    """One row per tenant (created on first use with these defaults)."""

    auto_apply_threshold = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.900"),
                                               help_text="Confidence at or above which a unique match posts itself")
    write_off_tolerance = MoneyField(default=Decimal("0.00"),
                                     help_text="Short pays up to this amount are written off, not deductions")
    discount_grace_days = models.PositiveSmallIntegerField(default=0)
    send_receipts = models.BooleanField(default=True, help_text="Email customers a receipt when payments apply")
    match_after_import = models.BooleanField(
        default=True, help_text="Match automatically: each bank file's payments once it is imported, and waiting "
                                "payments again when something relevant to them changes and nightly")

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant"], name="cashapp_settings_one_per_tenant"),
            models.CheckConstraint(condition=Q(auto_apply_threshold__gt=0) & Q(auto_apply_threshold__lte=1),
                                   name="cashapp_threshold_in_range"),
            models.CheckConstraint(condition=Q(write_off_tolerance__gte=0), name="cashapp_tolerance_not_negative"),
        ]


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


def _everything() -> dict:
    return {"all": True}


class MatchingRun(FSMModelMixin, TenantModel):
    """One pass of the matcher over the tenant's waiting payments within its `scope` (all of them, or those of
    an import, or a retry's: see `cashapp.scopes`), in chunks. `last_payment_id` is the
    resume point: each chunk commits its postings and the cursor together, so a run cut off mid-chunk
    starts again after the last committed chunk and posts nothing twice.

    One run at a time per tenant: at most one run is running and at most one is queued behind it (a partial
    unique constraint on (tenant, status), so two runs matching the same payments at once cannot exist
    whatever the services do). `heartbeat_at` is stamped by every committed chunk and by the executor's
    ticker; a running run whose heartbeat is older than `O2C_MATCHING_RUN_STALE_SECONDS` lost its worker and
    is failed by the reaper (`cashapp.services.runs.matching_runs_reap`)."""

    # import, manual, command; retries: invoices, payer_learned, rejection, schedule
    trigger = models.CharField(max_length=20, default="manual")
    scope = models.JSONField(default=_everything, help_text="What the run looks at: see cashapp.scopes.RunScope")
    bank_file = TenantForeignKey("payments.BankFile", null=True, blank=True, related_name="+")
    requested_by = models.ForeignKey("o2c.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = FSMField(default=RunStatus.QUEUED, choices=RunStatus.choices, protected=True, max_length=20)
    payments_total = models.PositiveIntegerField(default=0)
    payments_done = models.PositiveIntegerField(default=0)
    auto_applied = models.PositiveIntegerField(default=0)
    suggested = models.PositiveIntegerField(default=0)
    unmatched = models.PositiveIntegerField(default=0)
    # Of the decisions counted above, those that were already the payment's pending decision: left as they were
    # (the clerk's queue keeps its rows), not written again.
    unchanged = models.PositiveIntegerField(default=0)
    last_payment_id = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(default=timezone.now, help_text="Last sign of life of the run's executor")

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "status"],
                                    condition=Q(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]),
                                    name="matching_run_one_queued_one_running"),
        ]
        indexes = [models.Index(fields=["tenant", "created_at", "id"], name="matching_run_created_idx")]

    def __str__(self):
        return f"matching run {self.pk}"

    @property
    def run_scope(self) -> RunScope:
        return RunScope.from_json(self.scope)

    @property
    def percent(self) -> int:
        return 100 if not self.payments_total else min(100, int(100 * self.payments_done / self.payments_total))

    @transition(field=status, source=[RunStatus.QUEUED, RunStatus.RUNNING], target=RunStatus.RUNNING)
    def start(self):
        pass

    @transition(field=status, source=RunStatus.RUNNING, target=RunStatus.DONE)
    def finish(self):
        pass

    @transition(field=status, source=[RunStatus.QUEUED, RunStatus.RUNNING], target=RunStatus.FAILED)
    def fail(self, error: str):
        self.error = error


class ApplicationSource(models.TextChoices):
    AUTO = "auto", "Matched automatically"
    CONFIRMED = "confirmed", "Suggestion confirmed by a clerk"
    MANUAL = "manual", "Applied by a clerk"


class Application(TenantModel):
    append_only = True  # o2c.rls.sync revokes UPDATE/DELETE and adds the refusing trigger

    # Enforced keys: payment, invoice and reverses (the money). The tenant, the customer (copied from the
    # invoice by posting) and the run are provenance, not enforced: see TenantForeignKey.
    tenant = tenant_implied_by_parent()
    payment = TenantForeignKey("payments.Payment", related_name="applications")
    invoice = TenantForeignKey("o2c.Invoice", related_name="applications")
    customer = TenantForeignKey("o2c.Customer", related_name="applications", enforced=False)
    applied_amount = MoneyField(help_text="Cash of the payment applied to the invoice")
    discount_amount = MoneyField(default=Decimal(0), help_text="Earned early-payment discount")
    deduction_amount = MoneyField(default=Decimal(0), help_text="Short pay moved to a deduction")
    write_off_amount = MoneyField(default=Decimal(0), help_text="Short pay within tolerance, written off")
    reverses = TenantForeignKey("self", null=True, blank=True, related_name="reversals")
    source = models.CharField(max_length=20, choices=ApplicationSource.choices)
    confidence = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    explanation = models.TextField(blank=True)
    run = TenantForeignKey(MatchingRun, null=True, blank=True, related_name="applications", enforced=False)
    # Indexed only where set (below): a run's postings have no author, and each index entry is paid per posting.
    created_by = models.ForeignKey("o2c.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                   db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            # An original moves money forward; a reversal moves exactly the same back (checked by the service)
            # and is never itself reversed.
            models.CheckConstraint(
                condition=(Q(reverses__isnull=True) & Q(applied_amount__gte=0) & Q(discount_amount__gte=0)
                           & Q(deduction_amount__gte=0) & Q(write_off_amount__gte=0)
                           & (Q(applied_amount__gt=0) | Q(discount_amount__gt=0) | Q(deduction_amount__gt=0)
                              | Q(write_off_amount__gt=0)))
                | (Q(reverses__isnull=False) & Q(applied_amount__lte=0) & Q(discount_amount__lte=0)
                   & Q(deduction_amount__lte=0) & Q(write_off_amount__lte=0)),
                name="application_signs",
            ),
            # Only reversals hold reverses_id: the originals (nearly every row) need no entry in this key.
            models.UniqueConstraint(fields=["tenant", "reverses"], condition=Q(reverses__isnull=False),
                                    name="application_reversed_once"),
        ]
        # No indexes of its own beyond the author's: the (tenant_id, payment_id) and (tenant_id, invoice_id)
        # indexes that every tenant foreign key gets serve the payment and invoice pages; each extra index is
        # paid per posting.
        indexes = [models.Index(fields=["created_by"], condition=Q(created_by__isnull=False),
                                name="application_created_by_idx")]

    def __str__(self):
        return f"{self.applied_amount} to invoice {self.invoice_id}"

    @property
    def settled_amount(self) -> Decimal:
        return self.applied_amount + self.discount_amount + self.deduction_amount + self.write_off_amount


class MatchOutcome(models.TextChoices):
    AUTO = "auto", "Applied automatically"
    SUGGEST = "suggest", "Waiting for a clerk"
    UNMATCHED = "unmatched", "Nothing found"
    CONFIRMED = "confirmed", "Confirmed by a clerk"
    MANUAL = "manual", "Applied by a clerk"
    REJECTED = "rejected", "Suggestions rejected by a clerk"


class PaymentMatch(TenantModel):
    """The latest decision about a payment and its explanation (one row per payment, updated)."""

    tenant = tenant_implied_by_parent()  # by the payment; customer and run are provenance (TenantForeignKey)
    payment = TenantForeignKey("payments.Payment", related_name="+")
    outcome = models.CharField(max_length=20, choices=MatchOutcome.choices)
    customer = TenantForeignKey("o2c.Customer", null=True, blank=True, related_name="+", enforced=False)
    confidence = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    explanation = models.TextField(blank=True)
    run = TenantForeignKey(MatchingRun, null=True, blank=True, related_name="+", enforced=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "payment"], name="payment_match_one_per_payment")]
        indexes = [models.Index(fields=["tenant", "outcome", "payment"], name="payment_match_outcome_idx")]


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a clerk"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"


class Suggestion(FSMModelMixin, TenantModel):
    """One ranked answer the matcher was not sure enough to post. `allocations` is a list of
    {invoice_id, invoice_number, applied, discount, deduction, deduction_reason, write_off} (amounts as strings)."""

    tenant = tenant_implied_by_parent()  # by the payment; customer and run are provenance (TenantForeignKey)
    payment = TenantForeignKey("payments.Payment", related_name="suggestions")
    run = TenantForeignKey(MatchingRun, null=True, blank=True, related_name="suggestions", enforced=False)
    rank = models.PositiveSmallIntegerField()
    customer = TenantForeignKey("o2c.Customer", null=True, blank=True, related_name="+", enforced=False)
    confidence = models.DecimalField(max_digits=4, decimal_places=3)
    explanation = models.TextField()
    allocations = models.JSONField()
    on_account = MoneyField(default=Decimal(0))
    status = FSMField(default=SuggestionStatus.PENDING, choices=SuggestionStatus.choices, protected=True,
                      max_length=20)
    decided_by = models.ForeignKey("o2c.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                   db_index=False)  # indexed only where set (below): pending ones have none
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "payment", "rank"], condition=Q(status="pending"),
                                    name="suggestion_rank_unique_pending"),
            models.CheckConstraint(condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                                   name="suggestion_confidence_in_range"),
        ]
        indexes = [models.Index(fields=["tenant", "status", "confidence", "id"], name="suggestion_queue_idx"),
                   models.Index(fields=["decided_by"], condition=Q(decided_by__isnull=False),
                                name="suggestion_decided_by_idx")]

    @transition(field=status, source=SuggestionStatus.PENDING, target=SuggestionStatus.ACCEPTED)
    def accept(self):
        pass

    @transition(field=status, source=SuggestionStatus.PENDING, target=SuggestionStatus.REJECTED)
    def reject(self):
        pass

    @transition(field=status, source=SuggestionStatus.PENDING, target=SuggestionStatus.SUPERSEDED)
    def supersede(self):
        pass


class PaymentReceipt(TenantModel):
    """A receipt sent to the customer for a payment; unique, so a re-run task never sends twice."""

    payment = TenantForeignKey("payments.Payment", related_name="+")
    customer = TenantForeignKey("o2c.Customer", related_name="+")
    recipients = models.JSONField(default=list)
    applied_total = MoneyField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "payment"], name="payment_receipt_once")]
