"""Pages of the payment instructions: the list (approve, cancel, confirm, bank files), one instruction with its
history, and the settings (treasury account, approval limits). Thin: services and selectors do the work."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ..access import _as_id
from ..errors import ApplicationError
from ..models import InstructionKind, InstructionStatus, PaymentInstruction, RefundFile, Role, TreasuryAccount
from ..permissions import can
from ..views import capability_required
from . import selectors
from .forms import ApprovalLimitForm, InstructionFilterForm, RefundFileForm, TreasuryAccountForm
from .refund_files import refund_file_create
from .services import (
    approval_limit_update,
    approval_limits,
    instruction_approve,
    instruction_cancel,
    instruction_mark_done,
    limit_for,
    treasury_account_update,
)

LIST_LIMIT = 200


def _my_limit(request):
    """(limit, currency) the signed-in member may approve alone, for the page to show."""
    currency = request.tenant.base_currency
    return limit_for(request.membership.role, currency, approval_limits()), currency


@capability_required("instructions.view")
@require_GET
def index(request):
    form = InstructionFilterForm(request.GET or None)
    filters = form.filters() if request.GET else {"status": "", "kind": ""}
    instructions = list(selectors.instruction_list(**filters)[:LIST_LIMIT])
    limit, currency = _my_limit(request)
    return render(request, "instructions/index.html", {
        "form": form, "instructions": instructions,
        "csv_query": urlencode({k: v for k, v in filters.items() if v}),  # never echo other query parameters
        "limit": limit, "limit_currency": currency,
        "can_approve": can(request.membership, "instructions.approve"),
        "can_export": can(request.membership, "instructions.export"),
        "refund_files": selectors.recent_refund_files(), "refund_form": RefundFileForm(),
        "statuses": InstructionStatus, "kinds": InstructionKind, "truncated": len(instructions) == LIST_LIMIT,
    })


def _instruction(instruction_id) -> PaymentInstruction:
    return get_object_or_404(PaymentInstruction.objects.select_related("customer", "invoice", "refund_file"),
                             pk=_as_id(instruction_id))


@capability_required("instructions.view")
@require_GET
def detail(request, instruction_id):
    pi = _instruction(instruction_id)
    limit, currency = _my_limit(request)
    return render(request, "instructions/detail.html", {
        "pi": pi, "history": selectors.instruction_history(pi), "limit": limit, "limit_currency": currency,
        "can_approve": can(request.membership, "instructions.approve"),
    })


def _act(request, instruction_id, service, done: str, **kwargs):
    pi = _instruction(instruction_id)
    try:
        service(instruction_id=pi.pk, actor=request.user, **kwargs)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{pi.number} {done}.")
    target = request.POST.get("next", "")
    return redirect("instructions:detail", instruction_id=pi.pk) if target == "detail" else redirect(
        "instructions:index")


@capability_required("instructions.approve")
@require_POST
def approve(request, instruction_id):
    return _act(request, instruction_id, instruction_approve, "approved")


@capability_required("instructions.approve")
@require_POST
def cancel(request, instruction_id):
    return _act(request, instruction_id, instruction_cancel, "cancelled", reason=request.POST.get("reason", ""))


@capability_required("instructions.approve")
@require_POST
def mark_done(request, instruction_id):
    return _act(request, instruction_id, instruction_mark_done, "marked done")


@capability_required("instructions.export")
@require_POST
def refund_file_new(request):
    form = RefundFileForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the file format (pain.001 or NACHA).")
        return redirect("instructions:index")
    try:
        refund_file = refund_file_create(format=form.cleaned_data["format"],
                                         instruction_ids=request.POST.getlist("instruction_id"), actor=request.user,
                                         execution_date=form.cleaned_data["execution_date"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("instructions:index")
    messages.success(request, f"{refund_file.file_name}: {refund_file.count} refund(s) marked sent. Download it "
                              "below and hand it to the treasury.")
    return redirect("instructions:index")


@capability_required("instructions.export")
@require_GET
def refund_file_download(request, refund_file_id):
    refund_file = get_object_or_404(RefundFile.objects.all(), pk=_as_id(refund_file_id))
    content_type = "application/xml" if refund_file.format == "pain.001" else "text/plain"
    response = HttpResponse(refund_file.content.encode(), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{refund_file.file_name}"'
    response["Cache-Control"] = "no-store"  # bank account numbers
    return response


@capability_required("tenant.manage")
@require_http_methods(["GET", "POST"])
def settings_page(request):
    treasury = TreasuryAccount.objects.first()
    form, status = TreasuryAccountForm(instance=treasury), 200
    if request.method == "POST" and request.POST.get("section") == "limit":
        limit_form = ApprovalLimitForm(request.POST)
        if limit_form.is_valid() and limit_form.cleaned_data["role"] in Role.staff_roles():
            data = limit_form.cleaned_data
            approval_limit_update(role=data["role"], currency=data["currency"], max_amount=data["max_amount"],
                                  actor=request.user)
            messages.success(request, "Approval limit saved.")
            return redirect("instructions:settings")
        messages.error(request, "The limit must be an amount of 0 or more (empty: without limit).")
        status = 422
    elif request.method == "POST":
        form = TreasuryAccountForm(request.POST, instance=treasury)
        if form.is_valid():
            treasury_account_update(data=form.cleaned_data, actor=request.user)
            messages.success(request, "Treasury account saved.")
            return redirect("instructions:settings")
        status = 422
    return render(request, "instructions/settings.html", {
        "form": form, "limits": approval_limits(),
        "staff_roles": [(value, label) for value, label in Role.choices if value in Role.staff_roles()],
    }, status=status)
