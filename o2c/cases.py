"""Vocabulary shared by the two kinds of case (deductions and disputes) and the triage rules that read them."""

from django.db import models


class Category(models.TextChoices):
    """The standard categories every tenant's reason codes (and each customer's own codes) map onto."""

    PRICING = "pricing", "Pricing"
    SHORTAGE = "shortage", "Shortage"
    DAMAGE = "damage", "Damage"
    RETURNS = "returns", "Returns"
    PROMOTION = "promotion", "Promotion / trade"
    FREIGHT = "freight", "Freight"
    TAX = "tax", "Tax"
    UNEARNED_DISCOUNT = "unearned_discount", "Unearned discount"
    COMPLIANCE = "compliance", "Compliance fines"
    UNKNOWN = "unknown", "Unknown"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"
