"""Thin tasks: ids in, one service call."""

from celery import shared_task

from o2c.celery import TenantTask


@shared_task(base=TenantTask, name="payments.bank_file_upload_import", acks_late=True)
def bank_file_upload_import(tenant_id, upload_id):
    from .services import bank_file_upload_process

    return bank_file_upload_process(upload_id=upload_id).status
