"""Shared fixtures. Tests run against real Postgres (as the unprivileged app role, so row-level
security is live) and real Redis."""

import contextlib
import os

import pytest
from django.conf import settings
from django.db import connections

from o2c.models import Role, Tenant
from o2c.tenancy import tenant_context
from tests import citus_support

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(scope="session")
def django_db_setup(django_test_environment, django_db_blocker, django_db_modify_db_settings):
    """Create the test database and migrate it as the schema owner, then serve tests as the app role.

    Django would migrate through the `default` alias, which is the app role and may not create
    tables; so `default` borrows the owner's credentials for the set-up only.
    """
    from django.test.utils import setup_databases, teardown_databases

    if citus_support.CITUS:
        with django_db_blocker.unblock():
            cluster = citus_support.start_cluster(os.environ.get("PYTEST_XDIST_WORKER", "main"))
        yield
        with django_db_blocker.unblock():
            citus_support.stop_cluster(cluster)
        return
    default = connections["default"].settings_dict
    owner = settings.DATABASES["owner"]
    app_credentials = default["USER"], default["PASSWORD"]
    with django_db_blocker.unblock():
        default["USER"], default["PASSWORD"] = owner["USER"], owner["PASSWORD"]
        connections["default"].close()
        try:
            db_cfg = setup_databases(verbosity=0, interactive=False, aliases=["default", "owner"],
                                     serialized_aliases=[])
        finally:
            connections["default"].close()
            default["USER"], default["PASSWORD"] = app_credentials
    yield
    with django_db_blocker.unblock():
        default["USER"], default["PASSWORD"] = owner["USER"], owner["PASSWORD"]
        connections["default"].close()
        # A connection still open in another thread (live server) must not fail the run.
        with contextlib.suppress(Exception):
            teardown_databases(db_cfg, verbosity=0)


def make_tenant(slug: str, name: str) -> Tenant:
    return Tenant.objects.create(slug=slug, name=name)


@pytest.fixture(autouse=True)
def _celery_join_flag_reset():
    """Celery keeps "would a join block?" in one process-wide flag, which eager `.delay()` sets and
    restores around each call. Two threads doing that at once (the concurrency tests) can restore it
    in the wrong order and leave it set, and then every later `result.get()` in this xdist process
    fails with "Never call result.get() within a task!". Each test starts with Celery's default."""
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)
    yield


@pytest.fixture
def rls_probe(db):
    """For tests that leave the ORM's scope out on purpose to show the database's own refusal: on Citus
    their queries go to every shard, which is the point (each shard's policy must refuse), so the
    Citus run's fan-out error is lifted for them. Inert on plain PostgreSQL."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SET citus.multi_task_query_log_level = 'off'")
    yield
    with contextlib.suppress(Exception), connections["default"].cursor() as cursor:
        cursor.execute("RESET citus.multi_task_query_log_level")


@pytest.fixture
def tenant(db):
    return make_tenant("acme", "Acme Industrial")


@pytest.fixture
def other_tenant(db):
    return make_tenant("globex", "Globex Corporation")


@pytest.fixture
def in_tenant(tenant):
    with tenant_context(tenant):
        yield tenant


@pytest.fixture
def quiet(in_tenant):
    """In the tenant, with no matching run after imports: for tests that look at the import alone."""
    from cashapp.models import CashAppSettings

    CashAppSettings.objects.create(match_after_import=False)
    return in_tenant


@pytest.fixture
def member_factory(db):
    """make(tenant, role, email=None, customer=None) -> User with a membership and a known password."""
    from o2c.services.tenants import user_create

    def make(tenant, role=Role.AR_CLERK, email=None, customer=None):
        email = email or f"{role}-{tenant.slug}@example.test"
        with tenant_context(tenant):
            user, _ = user_create(email=email, role=role, password=PASSWORD, customer=customer,
                                  check_password=False)
        return user

    return make


@pytest.fixture
def verified_client(client):
    """login(user) -> the Django test client, signed in with MFA passed (as after the TOTP step)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def login(user):
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        client.force_login(user)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
        return client

    return login


def pytest_collection_modifyitems(config, items):
    if citus_support.CITUS and not citus_support.WHOLE_SELECTION:  # the Citus run: only its suite
        kept = [item for item in items if item.path.name in citus_support.SUITE]
        config.hook.pytest_deselected(items=[item for item in items if item.path.name not in citus_support.SUITE])
        items[:] = kept
    _give_transactional_tests_the_owner(items)


def _give_transactional_tests_the_owner(items):
    """Transactional tests end with `flush`, which runs as the schema owner (see o2c's flush command),
    so they are given the `owner` alias as well."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None or not marker.kwargs.get("transaction"):
            continue
        databases = marker.kwargs.get("databases") or ["default"]
        if databases != "__all__" and "owner" not in databases:
            item.add_marker(pytest.mark.django_db(**{**marker.kwargs, "databases": [*databases, "owner"]}),
                            append=False)
