"""The Celery app and the one task base class that re-enters the tenant scope."""

import os

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "o2c.settings")

app = Celery("o2c")
app.config_from_object("django.conf:settings", namespace="CELERY")
if os.environ.get("O2C_CELERY_QUEUE"):
    # Lets parallel test runs share one Redis: each worker consumes, and fans out to, its own queue.
    app.conf.task_default_queue = os.environ["O2C_CELERY_QUEUE"]
app.autodiscover_tasks()


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
