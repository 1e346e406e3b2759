"""The "Deductions" section of the kernel's invoice page (registered in DeductionsConfig.ready())."""

from o2c.permissions import can

from .selectors import deduction_scope


def invoice_deductions_panel(request, invoice):
    """The invoice's deductions the viewer may see: staff all of them, a portal user their own customer's
    (the invoice page itself is already scoped; the scope here keeps the panel right on its own)."""
    membership = request.membership
    if not (can(membership, "deductions.view") or can(membership, "portal.use")):
        return None
    deductions = list(deduction_scope(membership).filter(invoice=invoice).select_related("reason_code")
                      .order_by("-pk")[:50])
    return {"invoice_deductions": deductions}
