"""The Celery app and the one task base class that re-enters the tenant scope."""

import os

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "o2c.settings")

app = Celery("o2c")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_default_queue = "o2c"
if os.environ.get("O2C_CELERY_QUEUE"):
    # Lets parallel test runs share one Redis: each worker consumes, and fans out to, its own queues.
    app.conf.task_default_queue = os.environ["O2C_CELERY_QUEUE"]
app.autodiscover_tasks()

# Work goes to a queue by kind, so each kind gets its own workers and none waits behind another: a
# million-row import does not hold up a tenant's matching run or a dispute's triage. Every task is
# per tenant (the sweeps only fan out one task per tenant), so any number of workers may consume a queue.
QUEUES = {
    "imports": ("o2c.invoice_upload_import", "payments.bank_file_upload_import"),
    "matching": ("cashapp.matching_run_execute", "cashapp.payment_receipts"),
    "cases": ("deductions.", "disputes.", "o2c.triage_run"),
    "periodic": ("reporting.", "cashapp.reap_stale_runs", "cashapp.retry_waiting_payments", "_all_tenants"),
}


def queue_of(task_name: str) -> str:
    """The queue a task goes to: `<default>.<kind>`, or the default queue for anything unlisted."""
    base = app.conf.task_default_queue
    for kind in ("periodic", "imports", "matching", "cases"):  # periodic first: the sweeps of every app
        if any(task_name.startswith(p) or (p.startswith("_") and task_name.endswith(p)) for p in QUEUES[kind]):
            return f"{base}.{kind}"
    return base


def all_queues(base: str | None = None) -> str:
    """For `celery worker --queues`: a worker that does every kind of work."""
    base = base or app.conf.task_default_queue
    return ",".join([base, *(f"{base}.{kind}" for kind in QUEUES)])


def _route(name, args, kwargs, options, task=None, **extra):
    return {"queue": queue_of(name)}


app.conf.task_routes = (_route,)


class TenantTask(Task):
    """Tasks take `tenant_id` as their first argument and run inside `tenant_context`.

    The scope is always left (even on failure) so a worker process never carries one tenant's scope
    into the next task.
    """

    abstract = True

    def __call__(self, tenant_id, *args, **kwargs):
        from .errors import TenantNotSet
        from .tenancy import RequestOrigin, origin_context, tenant_context

        if tenant_id is None:
            raise TenantNotSet(f"{self.name} was sent without a tenant_id")
        with origin_context(RequestOrigin(channel="task")), tenant_context(int(tenant_id)):
            return super().__call__(tenant_id, *args, **kwargs)
