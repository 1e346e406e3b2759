"""The Citus test run: `make test` runs the tests marked `citus` a second time, with O2C_CITUS=1, on a real
cluster (a coordinator and two workers started per xdist worker from `scripts/citus_cluster.py`).

There the application role has `citus.multi_task_query_log_level = 'error'`: any query of a tenant-scoped
request or task that Citus would send to every shard fails the test that made it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connections

ROOT = Path(__file__).resolve().parents[1]
# O2C_CITUS=1 runs SUITE on the cluster; O2C_CITUS=all runs whatever tests were selected there.
CITUS = os.environ.get("O2C_CITUS") in ("1", "all")
WHOLE_SELECTION = os.environ.get("O2C_CITUS") == "all"
DB_NAME = "test_o2c_citus"
# Each xdist worker takes the next ten ports; below the ephemeral range (see scripts/citus_cluster.py).
BASE_PORT = int(os.environ.get("O2C_CITUS_PORT", "26000"))

# The tests that run again on the cluster: tenancy (the probe, RLS), import, a cash-application run, the
# concurrency and kill-a-worker tests, the pages' wiring, the cluster's own tests, and the whole day's export
# against a single-node run's. Kept small: CI time.
SUITE = {
    "test_citus.py",
    "test_citus_growth.py",
    "test_citus_single_shard.py",
    "test_schema_gate.py",
    "test_cross_tenant_probe.py",
    "test_rls.py",
    "test_tenancy.py",
    "test_payments_import.py",
    "test_cashapp_run_concurrency.py",
    "test_cashapp_worker.py",
    "test_celery_scale.py",
    "test_views.py",
    "test_citus_export_equal.py",
}


def cluster_module():
    name = "o2c_citus_cluster"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "citus_cluster.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def _port(worker_id: str) -> int:
    index = int(worker_id[2:]) if worker_id.startswith("gw") else 0
    return BASE_PORT + 10 * index


def point_django_at(host: str, port: int, name: str) -> None:
    for alias in ("default", "owner"):
        for config in (settings.DATABASES[alias], connections[alias].settings_dict):
            config.update(HOST=host, PORT=str(port), NAME=name)
        connections[alias].close()
        connections[alias].__dict__.pop("is_citus", None)  # cached per connection object: another database now
    # Subprocesses (the Celery workers of the worker tests) read the URL.
    os.environ["DATABASE_URL"] = f"postgresql://postgres@{host}:{port}/{name}"
    os.environ["O2C_DB_NAME"] = name


_started = []  # the cluster of this process, for tests that grow it


def cluster_base():
    return _started[0].base


def start_cluster(worker_id: str):
    """A coordinator and two workers, o2c migrated (the schema editor distributes) and the strict role."""
    clusters = cluster_module()
    cluster = clusters.start(workers=2, port=_port(worker_id))
    try:
        clusters.create_database(cluster, DB_NAME)
        point_django_at("127.0.0.1", cluster.coordinator.port, DB_NAME)
        call_command("migrate", verbosity=0, database="owner")
        with connections["owner"].cursor() as cursor:
            cursor.execute(f"ALTER ROLE {settings.O2C_APP_DB_USER} IN DATABASE {DB_NAME} "
                           "SET citus.multi_task_query_log_level = 'error'")
        connections["owner"].close()
        _started.append(cluster)
    except Exception:
        clusters.stop(cluster)
        raise
    return cluster


def stop_cluster(cluster) -> None:
    for alias in ("default", "owner"):
        connections[alias].close()
    cluster_module().stop(cluster)
