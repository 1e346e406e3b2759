"""Daily aging snapshots: the open balance per aging bucket as it stood on a date, for trend charts."""

from django.db import models

from o2c.money import CurrencyField, MoneyField
from o2c.tenancy import TenantModel


class AgingSnapshot(TenantModel):
    """One row per tenant and day; taking it again the same day overwrites it (the nightly task is retried)."""

    as_of = models.DateField()
    currency = CurrencyField()
    current = MoneyField()
    days_1_30 = MoneyField()
    days_31_60 = MoneyField()
    days_61_90 = MoneyField()
    days_90_plus = MoneyField()
    total = MoneyField()
    open_invoices = models.PositiveIntegerField()
    taken_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "as_of"], name="aging_snapshot_one_per_day"),
        ]
        ordering = ["-as_of"]

    def __str__(self):
        return f"aging {self.as_of}"

    # The selectors' bucket keys, mapped to the columns above.
    BUCKET_FIELDS = {
        "current": "current",
        "1_30": "days_1_30",
        "31_60": "days_31_60",
        "61_90": "days_61_90",
        "90_plus": "days_90_plus",
    }
