"""Writes for reporting: the daily aging snapshot."""

from datetime import date

from django.db import transaction
from django.utils import timezone

from o2c.models import Invoice, Tenant
from o2c.selectors import aging
from o2c.tenancy import current_tenant_id

from .models import AgingSnapshot


def aging_snapshot_take(*, as_of: date | None = None) -> AgingSnapshot:
    """Record the current tenant's aging as of a date; idempotent per (tenant, as_of).

    Runs inside the caller's tenant scope and sums exactly what the dashboard's aging shows, labelled
    with the tenant's base currency (a tenant invoicing in several currencies would need FX first).
    """
    as_of = as_of or timezone.localdate()
    tenant_id = current_tenant_id()
    buckets = {b.key: b for b in aging(Invoice.objects.all(), today=as_of)}
    values = {field: buckets[key].amount for key, field in AgingSnapshot.BUCKET_FIELDS.items()}
    values["total"] = sum(values.values())
    values["open_invoices"] = sum(b.count for b in buckets.values())
    values["currency"] = Tenant.objects.get(pk=tenant_id).base_currency
    with transaction.atomic():
        # update_or_create under the unique constraint: a retried or concurrent run overwrites, never duplicates.
        snapshot, _ = AgingSnapshot.objects.update_or_create(as_of=as_of, defaults=values)
    return snapshot
