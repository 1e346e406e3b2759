"""Thin tasks: ids in, one service call."""

from celery import shared_task

from .celery import TenantTask


@shared_task(base=TenantTask, name="o2c.invoice_upload_import", acks_late=True)
def invoice_upload_import(tenant_id, upload_id):
    from .services.invoice_import import invoice_upload_process

    return invoice_upload_process(upload_id=upload_id).status


@shared_task(base=TenantTask, name="o2c.triage_run", acks_late=True)
def triage_run(tenant_id, kind, ids):
    from .rules.services import triage_run as run

    return len(run(kind=kind, ids=ids))
