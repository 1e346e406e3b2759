"""Management commands: thin wrappers over services that print results and fail with CommandError."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from o2c.models import Customer, Invoice, InvoiceImport, Membership, Role, Tenant, User
from o2c.tenancy import tenant_context

HEADER = "invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,discount_percent," \
         "discount_due_date,erp_extra\n"
GOOD = HEADER + (
    "INV-1,C-1,Northwind Foods,2026-01-01,2026-01-31,1200.50,USD,PO-9,2,2026-01-11,x\n"
    "INV-2,C-1,Northwind Foods,2026-01-05,2026-02-04,99.99,USD,,,,y\n"
    "INV-3,C-2,Harbor Logistics,2026-01-07,2026-03-08,5000,USD,PO-10,,,z\n"
)


def run(*args, **kwargs) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def test_create_tenant(db):
    out = run("create_tenant", "initech", "--name", "Initech", "--currency", "eur")
    tenant = Tenant.objects.get(slug="initech")
    assert (tenant.name, tenant.base_currency) == ("Initech", "EUR")
    assert "Created tenant initech" in out


def test_create_tenant_refuses_a_duplicate_slug(tenant):
    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", tenant.slug, "--name", "Another Acme")
    assert Tenant.objects.filter(slug=tenant.slug).count() == 1


def test_create_tenant_refuses_a_bad_slug(db):
    with pytest.raises(CommandError, match="lowercase"):
        run("create_tenant", "Not A Slug", "--name", "X")
    assert not Tenant.objects.exists()


@pytest.mark.parametrize("role", sorted(Role.staff_roles()))
def test_create_user_with_each_staff_role(tenant, role):
    out = run("create_user", "--tenant", tenant.slug, "--email", f"{role}@Example.test", "--role", role,
              "--password", "a-long-enough-password-1")
    user = User.objects.get(email=f"{role}@example.test")
    assert user.check_password("a-long-enough-password-1")
    assert not user.is_superuser
    with tenant_context(tenant):
        assert Membership.objects.get(user=user).role == role
    assert "TOTP" in out


def test_create_user_generates_and_prints_a_password(tenant):
    out = run("create_user", "--tenant", tenant.slug, "--email", "new@example.test", "--role", Role.AR_CLERK)
    password = out.split("Password: ", 1)[1].split()[0]
    assert User.objects.get(email="new@example.test").check_password(password)


def test_create_portal_user_needs_a_customer(tenant):
    with pytest.raises(CommandError, match="bound to a customer"):
        run("create_user", "--tenant", tenant.slug, "--email", "p@example.test", "--role", Role.PORTAL_USER)
    assert not User.objects.filter(email="p@example.test").exists()

    with tenant_context(tenant):
        customer = Customer.objects.create(external_id="C-7", name="Harbor Logistics")
    run("create_user", "--tenant", tenant.slug, "--email", "p@example.test", "--role", Role.PORTAL_USER,
        "--customer", "C-7")
    with tenant_context(tenant):
        membership = Membership.objects.get(user__email="p@example.test")
    assert (membership.role, membership.customer_id) == (Role.PORTAL_USER, customer.pk)


def test_create_user_customer_of_another_tenant_is_unknown(tenant, other_tenant):
    with tenant_context(other_tenant):
        Customer.objects.create(external_id="C-OTHER", name="Globex Buyer")
    with pytest.raises(CommandError, match="no customer with external id 'C-OTHER'"):
        run("create_user", "--tenant", tenant.slug, "--email", "p@example.test", "--role", Role.PORTAL_USER,
            "--customer", "C-OTHER")


def test_create_superuser(tenant):
    run("create_user", "--tenant", tenant.slug, "--email", "root@example.test", "--role", Role.TENANT_ADMIN,
        "--password", "a-long-enough-password-1", "--superuser")
    user = User.objects.get(email="root@example.test")
    assert user.is_superuser and user.is_staff


def test_create_user_unknown_tenant(db):
    with pytest.raises(CommandError, match="no tenant with slug 'nope'"):
        run("create_user", "--tenant", "nope", "--email", "x@example.test", "--role", Role.AR_CLERK)


def test_create_user_weak_password_is_refused(tenant):
    with pytest.raises(CommandError, match="too short"):
        run("create_user", "--tenant", tenant.slug, "--email", "x@example.test", "--role", Role.AR_CLERK,
            "--password", "short")
    assert not User.objects.filter(email="x@example.test").exists()


def test_import_invoices_then_reimport_changes_nothing(tenant, tmp_path):
    path = tmp_path / "erp.csv"
    path.write_text(GOOD)
    out = run("import_invoices", "--tenant", tenant.slug, str(path))
    assert "3 invoices created, 0 updated, 0 unchanged; 2 customers created" in out
    with tenant_context(tenant):
        invoice = Invoice.objects.get(number="INV-1")
        assert (str(invoice.amount), invoice.customer.name, str(invoice.discount_percent)) == (
            "1200.5000", "Northwind Foods", "2.00")
        before = list(Invoice.objects.order_by("number").values_list("number", "amount", "updated_at"))

    out = run("import_invoices", "--tenant", tenant.slug, str(path))
    assert "0 invoices created, 0 updated, 3 unchanged; 0 customers created" in out
    with tenant_context(tenant):
        assert list(Invoice.objects.order_by("number").values_list("number", "amount", "updated_at")) == before
        assert Customer.objects.count() == 2


def test_import_invoices_bad_row_stores_nothing(tenant, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(GOOD + "INV-4,C-3,Cedar Farms,2026-02-30,2026-03-01,10,USD,,,,\n"
                           "INV-5,C-3,Cedar Farms,2026-02-01,2026-03-01,ten,USD,,,,\n")
    with pytest.raises(CommandError) as info:
        run("import_invoices", "--tenant", tenant.slug, str(path))
    message = str(info.value)
    assert "nothing was imported" in message
    assert "line 5: issue_date '2026-02-30' is not a date" in message
    assert "line 6: amount 'ten' is not a number" in message
    with tenant_context(tenant):
        assert not Invoice.objects.exists()
        assert not Customer.objects.exists()
        assert not InvoiceImport.objects.exists()


def test_import_invoices_goes_to_the_named_tenant_only(tenant, other_tenant, tmp_path):
    path = tmp_path / "erp.csv"
    path.write_text(GOOD)
    run("import_invoices", "--tenant", other_tenant.slug, str(path))
    with tenant_context(tenant):
        assert not Invoice.objects.exists()
    with tenant_context(other_tenant):
        assert Invoice.objects.count() == 3


def test_import_invoices_unknown_tenant_and_missing_file(db, tmp_path):
    path = tmp_path / "erp.csv"
    path.write_text(GOOD)
    with pytest.raises(CommandError, match="no tenant with slug 'nope'"):
        run("import_invoices", "--tenant", "nope", str(path))
    with pytest.raises(CommandError, match="cannot read"):
        run("import_invoices", "--tenant", "nope", str(tmp_path / "missing.csv"))


def test_totp_code_prints_a_code_the_device_accepts(tenant, member_factory, settings):
    settings.DEBUG = True
    user = member_factory(tenant, Role.COLLECTOR)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    code = run("totp_code", "--email", user.email).strip()
    assert len(code) == 6
    assert device.verify_token(code)


def test_totp_code_refuses_without_debug_or_device(tenant, member_factory, settings):
    user = member_factory(tenant, Role.COLLECTOR)
    settings.DEBUG = True
    with pytest.raises(CommandError, match="no authenticator"):
        run("totp_code", "--email", user.email)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        run("totp_code", "--email", user.email)
