"""Nightly aging snapshots: one fan-out task for beat, one tenant-scoped task per tenant."""

from datetime import date

from celery import shared_task

from o2c.celery import TenantTask
from o2c.models import Tenant

from .services import aging_snapshot_take


@shared_task(base=TenantTask, name="reporting.tasks.snapshot_aging")
def snapshot_aging(tenant_id: int, as_of: str | None = None) -> dict:
    snapshot = aging_snapshot_take(as_of=date.fromisoformat(as_of) if as_of else None)
    return {"tenant_id": tenant_id, "as_of": snapshot.as_of.isoformat(), "total": str(snapshot.total)}


@shared_task(name="reporting.tasks.snapshot_aging_all_tenants")
def snapshot_aging_all_tenants(as_of: str | None = None) -> list[str]:
    """Enqueue one snapshot per tenant; returns their task ids."""
    # Tenant is a global table: listing tenants needs no scope. One task each, so one tenant's failure
    # (or a retry) does not hold up the others.
    tenant_ids = Tenant.objects.order_by("id").values_list("id", flat=True)
    return [snapshot_aging.delay(tenant_id, as_of).id for tenant_id in tenant_ids]
