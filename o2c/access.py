"""Access functions: the few, tested ways a view gets a tenant's object.

Another tenant's object and a missing one both answer 404 (the scoped manager cannot see the
former); a portal user reaches only their own customer's rows.
"""

from django.http import Http404
from django.shortcuts import get_object_or_404

from .models import Customer, Invoice, Membership, Role

SESSION_TENANT_KEY = "o2c_tenant_id"


SESSION_COMPANIES_KEY = "o2c_companies"


def memberships_of(user, session=None) -> list[Membership]:
    """Every company the user belongs to: a question across tenants, asked at sign-in, at a tenant switch
    and when the session's company is gone. On Citus it is the one query of a signed-in user that goes to
    every shard (named: `fan_out`); the list is kept in the session for the switcher."""
    from .citus import fan_out
    from .tenancy import membership_lookup

    with membership_lookup(user.pk), fan_out("a user's memberships across tenants"):
        memberships = list(
            Membership.unscoped.filter(user=user, is_active=True).select_related("tenant").order_by("tenant__name")
        )
    if session is not None:
        session[SESSION_COMPANIES_KEY] = [[m.tenant_id, m.tenant.name] for m in memberships]
    return memberships


def membership_in(user, tenant_id: int) -> Membership | None:
    """The user's membership in one tenant: one shard's question, asked on every request."""
    from .tenancy import membership_lookup

    with membership_lookup(user.pk):
        return (Membership.unscoped.filter(tenant_id=tenant_id, user=user, is_active=True)
                .select_related("tenant").first())


def companies_of(request) -> list[dict]:
    """The switcher's list, from the session (refreshed whenever memberships_of runs for this session)."""
    if SESSION_COMPANIES_KEY not in request.session:
        memberships_of(request.user, request.session)
    return [{"tenant_id": tenant_id, "tenant": {"name": name}}
            for tenant_id, name in request.session[SESSION_COMPANIES_KEY]]


def active_membership(request) -> Membership | None:
    wanted = request.session.get(SESSION_TENANT_KEY)
    if wanted is not None and (membership := membership_in(request.user, wanted)) is not None:
        return membership
    memberships = memberships_of(request.user, request.session)
    if not memberships:
        return None
    request.session[SESSION_TENANT_KEY] = memberships[0].tenant_id
    return memberships[0]


def customer_scope(membership: Membership):
    """Customers this member may see: all of the tenant's, or a portal user's own and its children."""
    qs = Customer.objects.all()
    if membership.role == Role.PORTAL_USER:
        qs = qs.filter(pk__in=[membership.customer_id]) | qs.filter(parent_id=membership.customer_id)
    return qs


def invoice_scope(membership: Membership):
    qs = Invoice.objects.all()
    if membership.role == Role.PORTAL_USER:
        qs = qs.filter(customer__in=customer_scope(membership))
    return qs


def access_customer_by_id(membership: Membership, customer_id) -> Customer:
    return get_object_or_404(customer_scope(membership), pk=_as_id(customer_id))


def access_invoice_by_id(membership: Membership, invoice_id) -> Invoice:
    return get_object_or_404(invoice_scope(membership).select_related("customer"), pk=_as_id(invoice_id))


def _as_id(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("no such object")
