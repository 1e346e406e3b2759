"""The "Disputes" section of the kernel's invoice page (registered in DisputesConfig.ready())."""

from o2c.permissions import can

from .selectors import dispute_scope


def invoice_disputes_panel(request, invoice):
    """Disputes naming this invoice that the viewer may see (a portal user: their own customer's)."""
    membership = request.membership
    if not (can(membership, "disputes.view") or can(membership, "portal.use")):
        return None
    disputes = list(dispute_scope(membership).filter(lines__invoice=invoice).distinct()
                    .select_related("reason_code").order_by("-pk")[:50])
    return {"invoice_disputes": disputes}
