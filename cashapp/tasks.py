"""Thin tasks: ids in, one service call."""

from celery import shared_task

from o2c.celery import TenantTask
from o2c.errors import TenantNotSet
from o2c.models import Tenant
from o2c.tenancy import RequestOrigin, origin_context


@shared_task(name="cashapp.matching_run_execute", acks_late=True)
def matching_run_execute_task(tenant_id, run_id, chunk_size=None):
    """Not a TenantTask on purpose: a run commits chunk by chunk, each in its own tenant scope, so that a
    killed worker loses at most one chunk and the re-run resumes after the last committed one."""
    from .services import matching_run_execute

    if tenant_id is None:
        raise TenantNotSet("cashapp.matching_run_execute was sent without a tenant_id")
    with origin_context(RequestOrigin(channel="task")):
        run = matching_run_execute(tenant_id=int(tenant_id), run_id=int(run_id),
                                   **({"chunk_size": int(chunk_size)} if chunk_size else {}))
    return run.status


@shared_task(base=TenantTask, name="cashapp.reap_stale_runs")
def reap_stale_runs(tenant_id):
    """Runs of the tenant whose worker died end as failed, with the reason; the queued run starts."""
    from .services import matching_runs_reap

    return [run.pk for run in matching_runs_reap()]


@shared_task(name="cashapp.reap_stale_runs_all_tenants")
def reap_stale_runs_all_tenants():
    """Beat, every minute: one sweep per tenant, so one tenant's failure does not hold up the others."""
    return [reap_stale_runs.delay(t).id for t in Tenant.objects.order_by("id").values_list("id", flat=True)]


@shared_task(base=TenantTask, name="cashapp.retry_waiting_payments")
def retry_waiting_payments(tenant_id):
    """Every waiting payment of the tenant matched again (the nightly retry); None when none waits."""
    from .scopes import RunScope
    from .services import matching_retry

    run = matching_retry(scope=RunScope.all(), trigger="schedule")
    return run.pk if run is not None else None


@shared_task(name="cashapp.retry_waiting_payments_all_tenants")
def retry_waiting_payments_all_tenants():
    """Beat, nightly by default (`O2C_MATCHING_RETRY_CRONTAB`): one retry per tenant. What the retries on events
    miss (a payment from an unknown payer that quotes an invoice imported later) is matched here."""
    return [retry_waiting_payments.delay(t).id for t in Tenant.objects.order_by("id").values_list("id", flat=True)]


@shared_task(base=TenantTask, name="cashapp.payment_receipts")
def payment_receipts_task(tenant_id, payment_ids):
    from .receipts import payment_receipts_send

    return payment_receipts_send(payment_ids)
