"""Row-level tenancy: the one mechanism.

A context variable holds the current tenant. It is set only by `tenant_context()`, which the web
middleware, the API base class and the Celery task base class enter and always leave. Entering it
also opens a transaction and runs `SET LOCAL o2c.tenant_id`, so Postgres row-level security (the
second line, see `o2c.rls`) sees the same tenant as the ORM.

The default manager of every tenant model filters by the current tenant and raises `TenantNotSet`
when there is none: a forgotten scope fails closed instead of returning every tenant's rows.
The single bypass is the `unscoped` manager; grep for `.unscoped` to find every use.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connections, models, transaction

from .errors import TenantNotSet

_current_tenant_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("o2c_tenant_id", default=None)


@dataclass(frozen=True)
class RequestOrigin:
    """Who is acting and from where; read by the audit log."""

    user_id: int | None = None
    ip: str | None = None
    user_agent: str = ""
    channel: str = "system"  # web, api, task, command, system


_current_origin: contextvars.ContextVar[RequestOrigin] = contextvars.ContextVar(
    "o2c_origin", default=RequestOrigin()
)


def current_tenant_id() -> int:
    tenant_id = _current_tenant_id.get()
    if tenant_id is None:
        raise TenantNotSet("no tenant in scope: wrap the work in tenant_context(tenant)")
    return tenant_id


def current_tenant_id_or_none() -> int | None:
    return _current_tenant_id.get()


def current_origin() -> RequestOrigin:
    return _current_origin.get()


@contextmanager
def origin_context(origin: RequestOrigin):
    token = _current_origin.set(origin)
    try:
        yield origin
    finally:
        _current_origin.reset(token)


def set_db_tenant(tenant_id: int | None, using: str = "default") -> None:
    """SET LOCAL the tenant for row-level security; only meaningful inside a transaction."""
    # A SET LOCAL statement rather than set_config(): Citus (citus.propagate_set_commands = 'local')
    # passes SET LOCAL on to the workers, where the shards' policies read it. The value is a bigint.
    with connections[using].cursor() as cursor:
        cursor.execute(f"SET LOCAL o2c.tenant_id = '{int(tenant_id or 0) or ''}'")


@contextmanager
def tenant_context(tenant, using: str = "default"):
    """Scope ORM queries and the database session to one tenant, inside one transaction.

    Nesting the same tenant is allowed (a task called eagerly from a request); switching to another
    tenant inside a scope is not, because the enclosing transaction has already been pinned.
    """
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    if tenant_id is None:
        raise TenantNotSet("tenant_context needs a saved tenant")
    outer = _current_tenant_id.get()
    if outer is not None and outer != tenant_id:
        raise RuntimeError("cannot switch tenant inside another tenant's scope")
    token = _current_tenant_id.set(tenant_id)
    # SET LOCAL outlives this block when an outer transaction encloses it (a command looping over
    # tenants): then hand the database back the caller's value on the way out, so RLS fails closed
    # after the scope. Outermost, the transaction's end clears it; a block being rolled back gets
    # it from the rollback.
    hand_back = connections[using].in_atomic_block and outer != tenant_id
    try:
        with transaction.atomic(using=using):
            set_db_tenant(tenant_id, using)
            yield tenant_id
            if hand_back and not connections[using].needs_rollback:
                set_db_tenant(outer, using)
    finally:
        _current_tenant_id.reset(token)


@contextmanager
def membership_lookup(user_id: int, using: str = "default"):
    """Let the database show one user's memberships across tenants (sign-in, tenant switch).

    The memberships policy admits rows of `o2c.user_id` besides the current tenant's; nothing else
    does, so this opens no other table.
    """
    # SET LOCAL lasts to the end of the outermost transaction: inside a request's tenant scope
    # (switch-tenant) the user's other memberships would stay visible, so a nested lookup clears it
    # on the way out. (On an exception the atomic block's rollback undoes the setting instead.)
    nested = connections[using].in_atomic_block
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            cursor.execute(f"SET LOCAL o2c.user_id = '{int(user_id)}'")  # SET LOCAL: see set_db_tenant
        yield
        if nested and not connections[using].needs_rollback:
            with connections[using].cursor() as cursor:
                cursor.execute("SET LOCAL o2c.user_id = ''")


class TenantQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        tenant_id = current_tenant_id()
        for obj in objs:
            _stamp_tenant(obj, tenant_id)
        return super().bulk_create(objs, *args, **kwargs)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """Default manager: the current tenant's rows, or an exception."""

    def get_queryset(self):
        return super().get_queryset().filter(tenant_id=current_tenant_id())


def _stamp_tenant(obj, tenant_id: int) -> None:
    if obj.tenant_id is None:
        obj.tenant_id = tenant_id
    elif obj.tenant_id != tenant_id:
        raise TenantNotSet(f"refusing to write a row of tenant {obj.tenant_id} in tenant {tenant_id}'s scope")


def tenant_implied_by_parent():
    """The `tenant` field for high-volume tables (a matching run writes 100k+ journal rows, an import a
    million invoices): no foreign key of its own, because the row's enforced composite key to its parent,
    e.g. (tenant_id, payment_id) -> payment (tenant_id, id), already proves the tenant exists; each foreign
    key is one more lookup per row at commit."""
    return models.ForeignKey("o2c.Tenant", on_delete=models.PROTECT, related_name="+", editable=False,
                             db_index=False, db_constraint=False)


class TenantModel(models.Model):
    """Base of every tenant-owned table.

    `o2c.rls` gives each subclass forced row-level security, a (tenant_id, id) primary key and
    composite foreign keys; the schema gate test checks that it did.
    """

    # No index of its own: the (tenant_id, id) primary key leads with it.
    tenant = models.ForeignKey("o2c.Tenant", on_delete=models.PROTECT, related_name="+", editable=False,
                               db_index=False)

    objects = TenantManager()
    unscoped = models.Manager()  # the bypass: still bound by row-level security in the database

    class Meta:
        abstract = True
        base_manager_name = "objects"
        default_manager_name = "objects"

    def save(self, *args, **kwargs):
        _stamp_tenant(self, current_tenant_id())
        super().save(*args, **kwargs)


class _TenantJoinedForeignKey(models.ForeignKey):
    """Joins through the key also match tenant_id (`ON b.id = a.b_id AND b.tenant_id = a.tenant_id`).

    The scope filters only the queried table; with the tenant on both sides of every join, Citus sees that
    all tables of a query are on one tenant's shard and routes it there, and single-node PostgreSQL can use
    the (tenant_id, id) keys. Migrations see a plain ForeignKey: nothing in the schema changes."""

    def get_extra_restriction(self, alias, related_alias):
        if alias is None or related_alias is None:  # Django's subquery pushdown names one side only
            return None
        from django.db.models.expressions import Col
        from django.db.models.lookups import Exact

        theirs = self.related_model._meta.get_field("tenant")
        ours = self.model._meta.get_field("tenant")
        return Exact(Col(alias, theirs), Col(related_alias, ours))

    def deconstruct(self):
        name, _, args, kwargs = super().deconstruct()
        return name, "django.db.models.ForeignKey", args, kwargs


def TenantForeignKey(to, on_delete=models.PROTECT, enforced=True, indexed=True, **kwargs):  # noqa: N802 - reads like a field class
    """A foreign key between tenant tables.

    Django's own single-column constraint is left out; `o2c.rls` adds
    FOREIGN KEY (tenant_id, <col>) REFERENCES <to> (tenant_id, id), so a row can never point at
    another tenant's row.

    `enforced=False` keeps the index but not the constraint, for provenance columns of the matching
    run's journal rows (which run wrote them, which customer they concern) whose value the service copies
    from rows that are enforced: at 100k rows a run, every foreign key costs seconds of lookups at commit.
    Row-level security still keeps the referenced row inside the tenant.

    `indexed=False` (only with `enforced=False`) leaves out the (tenant_id, <col>) index too, for a
    provenance column nothing reads rows by, such as the import batch that created an invoice: a million
    entries an import for an index no query uses.
    """
    if indexed is False and enforced:
        raise ValueError("an enforced key needs its index: deleting the referenced row looks rows up by it")
    kwargs["db_constraint"] = False
    kwargs.setdefault("db_index", False)  # o2c.rls indexes (tenant_id, <col>) instead
    field = _TenantJoinedForeignKey(to, on_delete=on_delete, **kwargs)
    field.o2c_enforced = enforced
    field.o2c_indexed = indexed
    return field
