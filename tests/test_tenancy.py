"""The one scoping mechanism: a context variable, fail-closed managers, always-reset scopes."""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from o2c.celery import TenantTask, app
from o2c.errors import TenantNotSet
from o2c.models import Customer, Invoice, Membership, Role
from o2c.rls import tenant_models
from o2c.tenancy import (
    TenantManager,
    current_origin,
    current_tenant_id,
    current_tenant_id_or_none,
    membership_lookup,
    tenant_context,
)
from tests.factories import CustomerFactory, InvoiceFactory, member

pytestmark = pytest.mark.django_db

seen: list = []


@app.task(base=TenantTask, name="tests.test_tenancy.record_scope")
def record_scope(tenant_id, fail=False):
    seen.append((current_tenant_id(), current_origin().channel, Customer.objects.count()))
    if fail:
        raise ValueError("boom")
    return tenant_id


def _db_setting(name="o2c.tenant_id"):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting(%s, true)", [name])
        return cursor.fetchone()[0] or ""


def test_default_manager_raises_without_a_tenant(tenant):
    with tenant_context(tenant):
        CustomerFactory()
    with pytest.raises(TenantNotSet):
        Customer.objects.count()
    with pytest.raises(TenantNotSet):
        list(Invoice.objects.all())


def test_saving_without_a_tenant_raises(tenant):
    with pytest.raises(TenantNotSet):
        Customer(external_id="X", name="No scope").save()


def test_every_tenant_model_has_the_scoped_default_and_one_named_bypass():
    for model in tenant_models():
        managers = {m.name: type(m) for m in model._meta.managers}
        assert isinstance(model._default_manager, TenantManager), model
        assert isinstance(model._base_manager, TenantManager), model  # related lookups scope too
        assert set(managers) == {"objects", "unscoped"}, (model, managers)


def test_scope_sees_only_its_tenant(tenant, other_tenant, rls_probe):
    with tenant_context(tenant):
        mine = CustomerFactory(name="Mine")
    with tenant_context(other_tenant):
        CustomerFactory(name="Theirs")
    with tenant_context(tenant):
        assert list(Customer.objects.values_list("name", flat=True)) == ["Mine"]
        # Even the bypass sees only this tenant's rows: RLS is on o2c.tenant_id.
        assert list(Customer.unscoped.values_list("pk", flat=True)) == [mine.pk]


def test_writing_another_tenants_row_in_scope_is_refused(tenant, other_tenant):
    with tenant_context(tenant):
        with pytest.raises(TenantNotSet, match="refusing"):
            Customer(tenant_id=other_tenant.pk, external_id="X", name="Smuggled").save()


def test_bulk_create_stamps_the_current_tenant(tenant):
    with tenant_context(tenant):
        made = Customer.objects.bulk_create([Customer(external_id=f"B{i}", name="Bulk") for i in range(3)])
        assert {c.tenant_id for c in made} == {tenant.pk}


def test_nested_same_tenant_is_allowed_and_switching_is_refused(tenant, other_tenant):
    with tenant_context(tenant):
        with tenant_context(tenant.pk):
            assert current_tenant_id() == tenant.pk
        with pytest.raises(RuntimeError, match="cannot switch tenant"):
            with tenant_context(other_tenant):
                pass  # pragma: no cover
        assert current_tenant_id() == tenant.pk
    assert current_tenant_id_or_none() is None


def test_scope_is_reset_after_an_exception(tenant):
    with pytest.raises(ZeroDivisionError):
        with tenant_context(tenant):
            assert _db_setting() == str(tenant.pk)
            1 / 0  # noqa: B018
    assert current_tenant_id_or_none() is None
    assert _db_setting() == ""  # the savepoint's rollback took the setting with it


def test_database_setting_is_handed_back_after_the_scope(tenant, other_tenant, rls_probe):
    """Inside an enclosing transaction (as here, and in a command looping over tenants) SET LOCAL
    would outlive the block; the scope restores the caller's value so RLS fails closed after it."""
    with tenant_context(tenant):
        CustomerFactory()
    assert _db_setting() == ""
    assert Customer.unscoped.count() == 0
    with tenant_context(other_tenant):
        assert _db_setting() == str(other_tenant.pk)
        with tenant_context(other_tenant):
            pass
        assert _db_setting() == str(other_tenant.pk)  # a nested same-tenant scope keeps it


def test_membership_lookup_does_not_outlive_its_block(tenant, other_tenant, rls_probe):
    user = member(tenant, Role.AR_CLERK)
    with tenant_context(other_tenant):
        with membership_lookup(user.pk):
            assert Membership.unscoped.filter(user=user).count() == 1  # the user's own, in tenant A
        assert _db_setting("o2c.user_id") == ""
        assert Membership.unscoped.filter(user=user).count() == 0


def test_tenant_task_runs_in_scope_and_always_leaves_it(tenant):
    with tenant_context(tenant):
        CustomerFactory()
    seen.clear()
    assert record_scope.delay(tenant.pk).get() == tenant.pk
    assert seen == [(tenant.pk, "task", 1)]
    assert current_tenant_id_or_none() is None
    with pytest.raises(ValueError, match="boom"):
        record_scope.delay(tenant.pk, fail=True)
    assert current_tenant_id_or_none() is None
    assert current_origin().channel == "system"


def test_tenant_task_refuses_a_missing_tenant():
    with pytest.raises(TenantNotSet):
        record_scope.delay(None)


def test_web_request_scope_is_left_after_the_response(tenant, verified_client):
    user = member(tenant, Role.AR_CLERK)
    client = verified_client(user)
    assert client.get(reverse("customer_list")).status_code == 200
    assert current_tenant_id_or_none() is None
    assert _db_setting() == ""


def test_api_token_scope_is_left_after_the_response(tenant):
    from o2c.services.tenants import api_token_create

    admin = member(tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        InvoiceFactory()
        _, key = api_token_create(name="erp", role=Role.AR_CLERK, created_by=admin)
    response = Client(HTTP_AUTHORIZATION=f"Bearer {key}").get(reverse("api_invoice_list"))
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1
    assert current_tenant_id_or_none() is None
    assert _db_setting() == ""


# Every use of the bypass, by file, with the reason. A new use fails until it is reviewed and listed.
UNSCOPED_USES = {
    "o2c/tenancy.py": "defines it",
    "o2c/access.py": "memberships_of: a user's memberships across tenants at sign-in (RLS admits only theirs)",
    "o2c/admin.py": "the operator's admin returns none() outside a tenant",
}


def test_the_bypass_is_used_only_where_reviewed():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    packages = [d for d in root.iterdir() if (d / "__init__.py").exists() and d.name != "tests"]
    assert any(p.name == "o2c" for p in packages)
    found = set()
    for package in packages:
        for path in package.rglob("*.py"):
            if "unscoped" in path.read_text(encoding="utf-8", errors="replace"):
                found.add(path.relative_to(root).as_posix())
    assert "o2c/access.py" in found  # the scan sees a known use
    unreviewed = sorted(found - set(UNSCOPED_USES))
    assert not unreviewed, f"new uses of the `unscoped` bypass: {unreviewed}; review them and list them here"
