"""Thin tasks: notifications after commit and the SLA escalation sweep (beat)."""

from celery import shared_task

from o2c.celery import TenantTask
from o2c.models import Tenant


@shared_task(base=TenantTask, name="disputes.tasks.dispute_notify", acks_late=True)
def dispute_notify(tenant_id, dispute_id, event, message_id=None):
    from .notifications import dispute_notify_send

    return dispute_notify_send(dispute_id=dispute_id, event=event, message_id=message_id)


@shared_task(base=TenantTask, name="disputes.tasks.escalate_overdue")
def escalate_overdue(tenant_id):
    from .services import disputes_escalate

    return disputes_escalate()


@shared_task(name="disputes.tasks.escalate_overdue_all_tenants")
def escalate_overdue_all_tenants():
    """Beat: one sweep per tenant, so one tenant's failure does not hold up the others."""
    tenant_ids = Tenant.objects.order_by("id").values_list("id", flat=True)
    return [escalate_overdue.delay(tenant_id).id for tenant_id in tenant_ids]
