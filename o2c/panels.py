"""Sections apps add to the kernel's pages, so that the kernel shows their data without importing them.

The invoice page shows the payments applied to it (cash application's journal), and later the
deductions and disputes raised on it: each app registers a panel from its `AppConfig.ready()`:

    from o2c import panels
    panels.register_invoice_panel("cashapp.applications", "cashapp/_invoice_applications.html",
                                  lambda request, invoice: {"applications": ...}, order=10)

The page renders the panels in `order` with the request (so `caps`, `is_portal` and the rest of the
context processors' values are there) plus `invoice` and what the panel's context function returns. A
panel decides itself what a viewer may see (check `caps` or the membership); returning None hides it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.template.loader import render_to_string
from django.utils.safestring import SafeString


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    context: Callable  # (request, invoice) -> dict | None
    order: int = 100


_invoice_panels: dict[str, Panel] = {}


def register_invoice_panel(name: str, template: str, context: Callable, *, order: int = 100) -> None:
    """Register (or replace, by name: ready() can run twice) a section of the invoice page."""
    _invoice_panels[name] = Panel(name, template, context, order)


def invoice_panels(request, invoice) -> list[SafeString]:
    rendered = []
    for panel in sorted(_invoice_panels.values(), key=lambda p: (p.order, p.name)):
        context = panel.context(request, invoice)
        if context is not None:
            rendered.append(render_to_string(panel.template, {"invoice": invoice, **context}, request=request))
    return rendered
