"""Triage rules (ordered per kind of case, edited by a finance lead) and what they decided per case."""

from django.db import models

from ..tenancy import TenantModel


class TriageKind(models.TextChoices):
    DEDUCTION = "deduction", "Deductions"
    DISPUTE = "dispute", "Disputes"


class TriageRule(TenantModel):
    """One rule: a CEL condition and actions; `o2c.rules.engine` checks both before a row is saved."""

    applies_to = models.CharField(max_length=20, choices=TriageKind.choices)
    position = models.PositiveIntegerField()  # evaluation order within applies_to, from 1
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    condition = models.TextField()
    actions = models.JSONField(default=dict)
    stop = models.BooleanField(default=False)  # end evaluation when this rule fires
    enabled = models.BooleanField(default=True)
    updated_by = models.ForeignKey("o2c.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        ordering = ["applies_to", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "applies_to", "name"], name="triage_rule_name_unique"),
            models.CheckConstraint(condition=models.Q(position__gte=1), name="triage_rule_position_positive"),
        ]

    def __str__(self):
        return f"{self.applies_to} rule {self.position} {self.name}"


class TriageResult(TenantModel):
    """What the rules did to one case at one evaluation; the newest row per case is its current triage."""

    kind = models.CharField(max_length=20, choices=TriageKind.choices)
    case_id = models.BigIntegerField()
    rules_fired = models.JSONField(default=list)  # rule names in the order they fired
    values = models.JSONField(default=dict)  # {rule name: {fact path: value it read}}
    actions = models.JSONField(default=dict)  # the merged actions handed to the case's app
    explanation = models.TextField()
    errors = models.JSONField(default=list)  # rules that could not be evaluated on this case
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["tenant", "kind", "case_id", "created_at"], name="triage_result_case_idx")]

    def __str__(self):
        return f"triage of {self.kind} {self.case_id}"
