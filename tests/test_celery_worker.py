"""A real Celery worker process on real Redis and the test database: tasks re-enter (and leave) the
tenant scope, and a task without a tenant fails closed.

One worker (solo pool: a single process, so consecutive tasks share it) serves the module on a queue of
its own, so parallel test runs can share one Redis database.
"""

import os
import subprocess
import sys
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connections

from o2c.celery import all_queues, app
from o2c.errors import TenantNotSet
from o2c.models import Customer, Invoice
from o2c.tenancy import tenant_context
from reporting.models import AgingSnapshot
from reporting.tasks import snapshot_aging, snapshot_aging_all_tenants

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/15")
TIMEOUT = 60
pytestmark = pytest.mark.django_db(transaction=True)


def _reset_connections():
    # The app caches its result backend per thread and its broker and producer pools: drop them so the
    # new settings apply (closing them instead breaks kombu's shared pool registry).
    app._local.__dict__.pop("backend", None)
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture(scope="module")
def queue():
    return f"o2c-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def celery_on_redis(queue):
    keys = ("task_always_eager", "broker_url", "result_backend", "task_default_queue")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(task_always_eager=False, broker_url=REDIS_URL, result_backend=REDIS_URL,
                    task_default_queue=queue)
    _reset_connections()
    yield
    app.conf.update(saved)
    _reset_connections()


@pytest.fixture(scope="module")
def worker(django_db_setup, celery_on_redis, queue, tmp_path_factory):
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/o2c"),
        "O2C_DB_NAME": connections["default"].settings_dict["NAME"],
        "REDIS_URL": REDIS_URL,
        "O2C_CELERY_QUEUE": queue,
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "o2c", "worker", "--pool", "solo", "--queues", all_queues(queue),
             "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    yield proc
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.returncode not in (0, -15):
        print(log.read_text())


def wait(result):
    return result.get(timeout=TIMEOUT)


def ledger(tenant, amounts_by_days_late: dict[int, str]) -> None:
    """Open invoices of `tenant`, due the given number of days ago, committed for the worker to see."""
    today = date.today()
    with tenant_context(tenant):
        customer = Customer.objects.create(external_id=f"C-{tenant.slug}", name=f"{tenant.slug} buyer")
        Invoice.objects.bulk_create([
            Invoice(number=f"{tenant.slug}-{n}", customer=customer, issue_date=today - timedelta(days=late + 30),
                    due_date=today - timedelta(days=late), amount=Decimal(amount), open_balance=Decimal(amount),
                    currency="USD")
            for n, (late, amount) in enumerate(amounts_by_days_late.items())
        ])


def snapshot_of(tenant) -> AgingSnapshot:
    with tenant_context(tenant):
        return AgingSnapshot.objects.get()


def test_worker_snapshots_each_tenant_in_its_own_scope(worker, tenant, other_tenant):
    ledger(tenant, {-5: "100.00", 10: "20.50", 120: "7.25"})
    ledger(other_tenant, {45: "1000.00", 75: "3.00"})

    # One after the other on the same single-process worker: the second task would fail to enter its
    # tenant's scope (or count the first tenant's rows) if the first one's scope had leaked.
    first = wait(snapshot_aging.delay(tenant.id))
    second = wait(snapshot_aging.delay(other_tenant.id))

    assert first["total"] == "127.7500" and second["total"] == "1003.0000"
    acme, globex = snapshot_of(tenant), snapshot_of(other_tenant)
    assert (acme.current, acme.days_1_30, acme.days_31_60, acme.days_61_90, acme.days_90_plus) == (
        Decimal("100"), Decimal("20.5"), 0, 0, Decimal("7.25"))
    assert (globex.current, globex.days_31_60, globex.days_61_90, globex.total, globex.open_invoices) == (
        0, Decimal("1000"), Decimal("3"), Decimal("1003"), 2)


def test_beat_task_fans_out_one_task_per_tenant(worker, tenant, other_tenant):
    ledger(tenant, {3: "50.00"})
    ledger(other_tenant, {100: "80.00"})
    as_of = date.today().isoformat()

    task_ids = wait(snapshot_aging_all_tenants.delay(as_of))
    results = [wait(app.AsyncResult(task_id)) for task_id in task_ids]

    assert sorted(r["tenant_id"] for r in results) == sorted([tenant.id, other_tenant.id])
    assert (snapshot_of(tenant).days_1_30, snapshot_of(other_tenant).days_90_plus) == (Decimal("50"), Decimal("80"))
    # Beat may fire twice (a retry, a restart): the snapshot is replaced, not duplicated.
    wait(snapshot_aging.delay(tenant.id, as_of))
    with tenant_context(tenant):
        assert AgingSnapshot.objects.count() == 1


def test_task_without_tenant_fails_closed(worker, tenant):
    ledger(tenant, {10: "30.00"})

    with pytest.raises(TenantNotSet, match="without a tenant_id"):
        wait(snapshot_aging.delay(None))

    with tenant_context(tenant):
        assert not AgingSnapshot.objects.exists()
    # The failure left no scope behind: the same worker still serves the next tenant's task.
    assert wait(snapshot_aging.delay(tenant.id))["total"] == "30.0000"
