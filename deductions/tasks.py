"""Thin tasks: ids in, one service call."""

from celery import shared_task

from o2c.celery import TenantTask
from o2c.models import Tenant


@shared_task(base=TenantTask, name="deductions.research", acks_late=True)
def deductions_research(tenant_id, ids):
    from .research import deduction_research

    return len(deduction_research(ids))


@shared_task(base=TenantTask, name="deductions.intake", acks_late=True)
def deductions_intake(tenant_id, ids=None):
    from .services import deductions_intake as intake

    return len(intake(ids))


@shared_task(name="deductions.intake_all_tenants")
def deductions_intake_all_tenants():
    """Sweep: deductions cash application inserted without the app (SQL) get their intake."""
    return [deductions_intake.delay(t).id for t in Tenant.objects.order_by("id").values_list("id", flat=True)]


@shared_task(base=TenantTask, name="deductions.denial_notify", acks_late=True)
def deduction_denial_notify(tenant_id, deduction_id):
    from .notifications import denial_send

    return denial_send(deduction_id)


@shared_task(base=TenantTask, name="deductions.triage_notify", acks_late=True)
def deduction_triage_notify(tenant_id, deduction_id, documents, notify, explanation):
    from .notifications import documents_request_send, staff_notify

    sent = documents_request_send(deduction_id, documents) if documents else 0
    return sent + (staff_notify(deduction_id, notify, explanation) if notify else 0)


@shared_task(base=TenantTask, name="deductions.triage_notify_batch", acks_late=True)
def deductions_triage_notify(tenant_id, items):
    """The document requests and staff notices of one triage batch: [(deduction id, documents, notify,
    explanation), ...]."""
    from .notifications import triage_follow_ups_send

    return triage_follow_ups_send(items)
