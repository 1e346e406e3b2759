"""A worker killed in the middle of a matching run loses nothing and posts nothing twice, and its run ends.

A real Celery worker (its own process, on Redis and the test database) runs a run of many small chunks;
the test kills it with SIGKILL once some chunks have committed, checks that exactly the committed chunks
are posted, then either runs the task again on a fresh worker (the redelivery) or lets the reaper fail the
run once its heartbeat is stale and has the next run take up the rest; every payment is applied exactly once.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connections
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from cashapp.models import Application, CashAppSettings, MatchingRun
from cashapp.services import matching_run_create, matching_run_enqueue, matching_runs_reap
from cashapp.tasks import matching_run_execute_task
from o2c.celery import all_queues, app
from o2c.models import AuditEvent, Invoice
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import Credit, import_credits
from tests.factories import CustomerFactory, InvoiceFactory

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/15")
pytestmark = pytest.mark.django_db(transaction=True)
N = 400
CHUNK = 10


@pytest.fixture
def on_redis():
    queue = f"o2c-test-{uuid.uuid4().hex[:12]}"
    keys = ("task_always_eager", "broker_url", "result_backend", "task_default_queue")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(task_always_eager=False, broker_url=REDIS_URL, result_backend=REDIS_URL, task_default_queue=queue)
    _reset()
    yield queue
    app.conf.update(saved)
    _reset()


def _reset():
    app._local.__dict__.pop("backend", None)
    app._pool = None
    app.amqp._producer_pool = None


def start_worker(queue, log: Path, **extra_env):
    env = {**os.environ, "DATABASE_URL": os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/o2c"),
           "O2C_DB_NAME": connections["default"].settings_dict["NAME"], "REDIS_URL": REDIS_URL,
           "O2C_CELERY_QUEUE": queue, **extra_env}
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "o2c", "worker", "--pool", "solo", "--queues", all_queues(queue),
             "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def run_state(tenant, run_id):
    with tenant_context(tenant):
        return MatchingRun.objects.values("status", "payments_done", "last_payment_id", "heartbeat_at").get(pk=run_id)


def payments_to_match(tenant):
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)  # the test starts the run itself
        customer = CustomerFactory(name="Umbrella Corporation")
        invoices = [InvoiceFactory(customer=customer, number=f"UMB-{i:05d}", amount=Decimal("100.00") + i)
                    for i in range(N)]
        import_credits([Credit(f"P{i:05d}", inv.amount, payer="UMBRELLA CORPORATION",
                               invoices=((inv.number, inv.amount),)) for i, inv in enumerate(invoices)])
        return matching_run_create(trigger="manual")


def kill_mid_run(tenant, run, queue, log: Path, **worker_env) -> dict:
    """Start a worker on the run, SIGKILL it once a few chunks have committed; the run's state at the kill."""
    worker = start_worker(queue, log, **worker_env)
    try:
        matching_run_execute_task.delay(tenant.pk, run.pk, CHUNK)
        deadline = time.monotonic() + 60
        # Wait for a few committed chunks (polling the run's progress row, as the UI does), then kill.
        while run_state(tenant, run.pk)["payments_done"] < 3 * CHUNK:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    return run_state(tenant, run.pk)


@pytest.mark.parametrize("writer_process_from", ["20000", "0"], ids=["writer-thread", "writer-process"])
def test_killed_worker_resumes_without_loss_or_double_posting(tenant, on_redis, tmp_path, writer_process_from):
    """Also with the writer in a process of its own (cashapp.services.runs._ProcessWriter): it dies with the
    worker, so again exactly the committed chunks are posted."""
    run = payments_to_match(tenant)
    log = tmp_path / "worker.log"
    at_kill = kill_mid_run(tenant, run, on_redis, log, O2C_MATCHING_WRITER_PROCESS_FROM=writer_process_from)
    assert at_kill["status"] == "running" and at_kill["payments_done"] < N, "the run finished before the kill"
    assert ("posts from writer process" in log.read_text()) == (writer_process_from == "0")
    with tenant_context(tenant):
        # Exactly the committed chunks are posted: every payment up to the cursor, none after it.
        posted = set(Application.objects.values_list("payment_id", flat=True))
        assert posted == set(Payment.objects.filter(pk__lte=at_kill["last_payment_id"]).values_list("pk", flat=True))

    worker = start_worker(on_redis, log)
    try:
        assert matching_run_execute_task.delay(tenant.pk, run.pk, CHUNK).get(timeout=120) == "done"
    finally:
        worker.terminate()
        worker.wait(30)
    assert_each_payment_applied_once(tenant)
    with tenant_context(tenant):
        final = MatchingRun.objects.get(pk=run.pk)
        assert (final.status, final.payments_done, final.auto_applied) == ("done", N, N)


def assert_each_payment_applied_once(tenant):
    with tenant_context(tenant):
        per_payment = Application.objects.values("payment_id").annotate(n=Count("id"))
        assert len(per_payment) == N and all(row["n"] == 1 for row in per_payment)
        assert not Payment.objects.exclude(status="applied").exists()
        assert not Invoice.objects.exclude(open_balance=0).exists()


def test_a_run_whose_worker_was_killed_ends_failed_and_the_next_run_does_the_rest(tenant, on_redis, tmp_path,
                                                                                  settings, member_factory,
                                                                                  verified_client):
    stale = 2.0  # seconds without a heartbeat before a run counts as dead (an hour, the visibility timeout, in use)
    settings.O2C_MATCHING_RUN_STALE_SECONDS = stale
    run = payments_to_match(tenant)
    log = tmp_path / "worker.log"
    at_kill = kill_mid_run(tenant, run, on_redis, log, O2C_MATCHING_RUN_STALE_SECONDS=str(stale))
    assert at_kill["status"] == "running" and at_kill["payments_done"] < N, "the run finished before the kill"
    client = verified_client(member_factory(tenant))
    assert 'hx-trigger="every 1s"' in client.get(reverse("cashapp:run", args=[run.pk])).content.decode()

    # Nothing beats for the dead worker: wait (on the condition, bounded) until the heartbeat is stale.
    deadline = time.monotonic() + 30
    while timezone.now() - run_state(tenant, run.pk)["heartbeat_at"] <= timedelta(seconds=stale):
        assert time.monotonic() < deadline, "the heartbeat kept moving after the worker was killed"
        time.sleep(0.05)
    with tenant_context(tenant):
        assert [r.pk for r in matching_runs_reap()] == [run.pk]

    with tenant_context(tenant):
        dead = MatchingRun.objects.get(pk=run.pk)
        assert dead.status == "failed" and dead.error.startswith("worker stopped responding; last heartbeat at ")
        assert dead.last_payment_id == at_kill["last_payment_id"]
        assert AuditEvent.objects.filter(action="matching_run.failed", object_id=run.pk).exists()
        # What the dead run committed stays: exactly the payments up to its cursor.
        assert set(Application.objects.values_list("payment_id", flat=True)) == set(
            Payment.objects.filter(pk__lte=dead.last_payment_id).values_list("pk", flat=True))
    page = client.get(reverse("cashapp:run", args=[run.pk])).content.decode()
    assert "hx-trigger" not in page and "worker stopped responding" in page

    worker = start_worker(on_redis, log, O2C_MATCHING_RUN_STALE_SECONDS=str(stale))
    try:
        with tenant_context(tenant):
            after = matching_run_enqueue(trigger="manual")
        deadline = time.monotonic() + 120
        while run_state(tenant, after.pk)["status"] != "done":
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(30)
    assert_each_payment_applied_once(tenant)
    with tenant_context(tenant):
        after = MatchingRun.objects.get(pk=after.pk)
        assert after.auto_applied == N - dead.payments_done == after.payments_total
