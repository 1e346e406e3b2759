"""Celery at scale: several worker processes on the per-kind queues (o2c/celery.py), real Redis, the test
database (plain PostgreSQL, and the Citus cluster in the Citus run).

- One tenant's stuck work holds up no other tenant: nothing per tenant waits on a global lock.
- The one-run-per-tenant guard holds across workers: the same run delivered to two workers at once, and a
  second request meanwhile, post every payment exactly once.
"""

import time

import pytest
from django.db import connections

from cashapp.models import MatchingRun
from cashapp.services import matching_run_enqueue
from cashapp.tasks import matching_run_execute_task
from o2c.tenancy import tenant_context
from tests.test_cashapp_worker import (  # noqa: F401, F811 - on_redis is a fixture
    CHUNK,
    N,
    assert_each_payment_applied_once,
    on_redis,
    payments_to_match,
    run_state,
    start_worker,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _workers(queue, tmp_path, n=2):
    return [start_worker(queue, tmp_path / f"worker{i}.log") for i in range(n)]


def _stop(workers):
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(30)


def _received(task_id: str, logs, timeout: float = 60) -> None:
    """Until a worker's log says it took the task (bounded; the event, not a guessed delay)."""
    deadline = time.monotonic() + timeout
    while not any(task_id in log.read_text() for log in logs if log.exists()):
        assert time.monotonic() < deadline, f"no worker took task {task_id}"
        time.sleep(0.02)


def test_a_tenant_whose_run_is_stuck_holds_up_no_other_tenant(tenant, other_tenant, on_redis, tmp_path):  # noqa: F811
    stuck, free = payments_to_match(tenant), payments_to_match(other_tenant)
    workers = _workers(on_redis, tmp_path)
    owner = connections["owner"]
    try:
        # The owner holds the stuck tenant's run row: its worker blocks in the run's first statement.
        with owner.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT id FROM cashapp_matchingrun WHERE tenant_id = %s AND id = %s FOR UPDATE",
                           [tenant.pk, stuck.pk])
        blocked = matching_run_execute_task.delay(tenant.pk, stuck.pk, CHUNK)
        _received(blocked.id, [tmp_path / "worker0.log", tmp_path / "worker1.log"])

        assert matching_run_execute_task.delay(other_tenant.pk, free.pk, CHUNK).get(timeout=180) == "done"
        assert run_state(tenant, stuck.pk)["status"] == "queued"  # still waiting on its own row only

        with owner.cursor() as cursor:
            cursor.execute("COMMIT")
        assert blocked.get(timeout=180) == "done"
    finally:
        with owner.cursor() as cursor:
            cursor.execute("ROLLBACK")
        _stop(workers)
    assert_each_payment_applied_once(tenant)
    assert_each_payment_applied_once(other_tenant)


def test_one_run_delivered_to_two_workers_at_once_posts_each_payment_once(tenant, on_redis, tmp_path):  # noqa: F811
    run = payments_to_match(tenant)
    workers = _workers(on_redis, tmp_path)
    try:
        twice = [matching_run_execute_task.delay(tenant.pk, run.pk, CHUNK) for _ in range(2)]
        with tenant_context(tenant):
            again = matching_run_enqueue(trigger="manual")  # a clerk asks meanwhile: joins or queues behind
        assert [result.get(timeout=180) for result in twice] == ["done", "done"]
        deadline = time.monotonic() + 120
        while run_state(tenant, again.pk)["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, "the queued run never ran"
            time.sleep(0.05)
    finally:
        _stop(workers)
    assert_each_payment_applied_once(tenant)
    with tenant_context(tenant):
        runs = list(MatchingRun.objects.all())  # the request joined the run, or queued one that found nothing left
        assert {r.status for r in runs} == {"done"} and sum(r.auto_applied for r in runs) == N
