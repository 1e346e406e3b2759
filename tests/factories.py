"""factory_boy factories for the shared models.

Every tenant-owned factory must run inside `tenant_context(tenant)`: `TenantModel.save()` stamps the
current tenant and the database's row-level security refuses a row of any other tenant. Outside a
scope the save raises `TenantNotSet`, which is the point. Passing `tenant=` explicitly is allowed
but must name the tenant in scope (anything else is refused by `_stamp_tenant` and by RLS).

    with tenant_context(tenant):
        invoice = InvoiceFactory(amount=Decimal("120.00"))   # makes its customer too

Global factories (`TenantFactory`, `UserFactory`) need no scope. `member()` gives a user a role in
a tenant through the real service (the same path the app uses).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date, timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from o2c.models import (
    ApiToken,
    CreditMemo,
    Customer,
    CustomerAlias,
    CustomerBankAccount,
    CustomerContact,
    Invitation,
    Invoice,
    InvoiceImport,
    Membership,
    Role,
    Tenant,
    User,
)
from o2c.tenancy import current_tenant_id

PASSWORD = "correct-horse-battery-9"  # same as tests.conftest.PASSWORD


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: f"{o.slug.title()} Inc.")
    base_currency = "USD"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    username = factory.LazyAttribute(lambda o: o.email)
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805 - factory_boy hook signature
        if create:
            obj.save()


class _TenantScoped(factory.django.DjangoModelFactory):
    """Uses the tenant in scope; `_create` goes through the default (scoped) manager."""

    class Meta:
        abstract = True

    tenant_id = factory.LazyFunction(current_tenant_id)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        tenant = kwargs.pop("tenant", None)
        if tenant is not None:
            kwargs["tenant_id"] = tenant.pk
        obj = model_class(*args, **kwargs)
        obj.save()
        return obj


class CustomerFactory(_TenantScoped):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"C{n:05d}")
    name = factory.Sequence(lambda n: f"Customer {n} Ltd")
    payment_terms = "net 30"
    currency = "USD"
    credit_limit = Decimal("10000.00")


class CustomerContactFactory(_TenantScoped):
    class Meta:
        model = CustomerContact

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"ap{n}@customer.test")
    role = "Accounts payable"


class CustomerAliasFactory(_TenantScoped):
    class Meta:
        model = CustomerAlias

    customer = factory.SubFactory(CustomerFactory)
    alias = factory.Sequence(lambda n: f"CUST {n} TRADING")
    normalized = factory.LazyAttribute(lambda o: " ".join(o.alias.lower().split()))


class CustomerBankAccountFactory(_TenantScoped):
    class Meta:
        model = CustomerBankAccount

    customer = factory.SubFactory(CustomerFactory)
    account_identifier = factory.Sequence(lambda n: f"GB00TEST{n:010d}")
    bank_name = "Test Bank"


class InvoiceFactory(_TenantScoped):
    class Meta:
        model = Invoice

    number = factory.Sequence(lambda n: f"INV-{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    issue_date = factory.LazyFunction(lambda: date.today() - timedelta(days=10))
    due_date = factory.LazyAttribute(lambda o: o.issue_date + timedelta(days=30))
    amount = Decimal("100.00")
    currency = "USD"
    open_balance = factory.LazyAttribute(lambda o: o.amount)
    po_number = factory.Sequence(lambda n: f"PO-{n}")


class CreditMemoFactory(_TenantScoped):
    class Meta:
        model = CreditMemo

    number = factory.Sequence(lambda n: f"CM-{n:06d}")
    customer = factory.SubFactory(CustomerFactory)
    issue_date = factory.LazyFunction(date.today)
    amount = Decimal("25.00")
    currency = "USD"
    open_balance = factory.LazyAttribute(lambda o: o.amount)
    reason = "Returned goods"


class MembershipFactory(_TenantScoped):
    """A membership row without the service's audit event; prefer `member()` for signed-in users."""

    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.AR_CLERK
    customer = None


class InvitationFactory(_TenantScoped):
    """An invitation row; its raw nonce is on `.nonce` (only the hash is stored). For a usable link
    call `o2c.services.tenants.invitation_create`."""

    class Meta:
        model = Invitation
        exclude = ("nonce",)

    nonce = factory.LazyFunction(lambda: secrets.token_urlsafe(24))
    email = factory.Sequence(lambda n: f"invitee{n}@example.test")
    role = Role.AR_CLERK
    customer = None
    token_hash = factory.LazyAttribute(lambda o: hashlib.sha256(o.nonce.encode()).hexdigest())
    invited_by = factory.SubFactory(UserFactory)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class ApiTokenFactory(_TenantScoped):
    """A token row whose key is unknown (hash of random bytes). For a usable key call
    `o2c.services.tenants.api_token_create`."""

    class Meta:
        model = ApiToken

    name = factory.Sequence(lambda n: f"ERP key {n}")
    prefix = factory.Sequence(lambda n: f"pfx{n:08d}"[:12])
    key_hash = factory.LazyFunction(lambda: hashlib.sha256(secrets.token_bytes(32)).hexdigest())
    role = Role.AR_CLERK
    created_by = factory.SubFactory(UserFactory)


class InvoiceImportFactory(_TenantScoped):
    class Meta:
        model = InvoiceImport

    file_name = factory.Sequence(lambda n: f"invoices-{n}.csv")
    file_sha256 = factory.LazyFunction(lambda: secrets.token_hex(32))
    rows = 1
    created_invoices = 1


def member(tenant, role=Role.AR_CLERK, email: str | None = None, customer=None) -> User:
    """A user with a role in `tenant`, created through the service, password `PASSWORD`."""
    from o2c.services.tenants import user_create
    from o2c.tenancy import tenant_context

    email = email or f"{role}-{tenant.slug}-{secrets.token_hex(3)}@example.test"
    with tenant_context(tenant):
        user, _ = user_create(email=email, role=role, password=PASSWORD, customer=customer, check_password=False)
    return user
