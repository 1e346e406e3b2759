"""Report pages. Thin: the figures come from `reporting.cases`."""

from django.shortcuts import render
from django.views.decorators.http import require_GET

from o2c.views import capability_required

from . import cases


@capability_required("workspace.view")
@require_GET
def index(request):
    """The disputes and deductions dashboard for a period of 30, 90 or 365 days."""
    days = cases.period_days(request.GET.get("days"))
    board = cases.case_dashboard(currency=request.tenant.base_currency, days=days)
    return render(request, "reporting/index.html", {"board": board, "periods": cases.PERIODS})
