"""Access functions: the few, tested ways a view gets a tenant's object.

Another tenant's object and a missing one both answer 404 (the scoped manager cannot see the
former); a portal user reaches only their own customer's rows.
"""

from django.http import Http404
from django.shortcuts import get_object_or_404

from .models import Customer, Invoice, Membership, Role

SESSION_TENANT_KEY = "o2c_tenant_id"


def memberships_of(user) -> list[Membership]:
    from .tenancy import membership_lookup

    with membership_lookup(user.pk):
        return list(
            Membership.unscoped.filter(user=user, is_active=True).select_related("tenant").order_by("tenant__name")
        )


def active_membership(request) -> Membership | None:
    memberships = memberships_of(request.user)
    request._o2c_memberships = memberships  # the tenant switcher lists them without asking again
    if not memberships:
        return None
    wanted = request.session.get(SESSION_TENANT_KEY)
    for membership in memberships:
        if membership.tenant_id == wanted:
            return membership
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
