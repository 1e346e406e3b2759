"""The clerk's cash-application workspace: review queue, payment workspace, unapplied cash, runs."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from deductions.models import DeductionReason
from o2c import inputs
from o2c.errors import ApplicationError
from o2c.inputs import BadInput, safe_next
from o2c.models import Invoice
from o2c.money import money_in_text
from o2c.views import _render, capability_required, failure_status
from payments.models import Payment

from . import calibration, selectors
from .forms import CashAppSettingsForm
from .models import Application, CashAppSettings, MatchingRun, PaymentMatch, Suggestion, SuggestionStatus
from .services import (
    application_reverse,
    cash_app_settings_update,
    matching_run_enqueue,
    payment_apply,
    suggestion_accept,
    suggestion_reject,
)


@capability_required("cashapp.view")
@require_GET
def queue(request):
    order = "oldest" if request.GET.get("order") == "oldest" else "confidence"
    return render(request, "cashapp/queue.html", {
        "payments": selectors.review_queue(order=order), "queue_size": selectors.queue_size(), "order": order,
        "runs": selectors.recent_runs(), "reasons": DeductionReason.choices,
    })


@capability_required("cashapp.apply")
@require_POST
def suggestion_accept_view(request, suggestion_id):
    suggestion = get_object_or_404(Suggestion, pk=suggestion_id)
    try:
        suggestion_accept(suggestion=suggestion, actor=request.user)
    except ApplicationError as exc:
        return _action_failed(request, exc, suggestion.payment_id)
    messages.success(request, f"Applied payment {suggestion.payment.bank_reference}.")
    return _after_action(request)


@capability_required("cashapp.apply")
@require_POST
def suggestion_reject_view(request, suggestion_id):
    suggestion = get_object_or_404(Suggestion, pk=suggestion_id)
    try:
        suggestion_reject(suggestion=suggestion, actor=request.user)
    except ApplicationError as exc:
        return _action_failed(request, exc, suggestion.payment_id)
    return _after_action(request)


def _after_action(request):
    if request.headers.get("HX-Request") == "true":
        return HttpResponse("")  # the card goes away; the queue stays where the clerk is
    return redirect(safe_next(request, reverse("cashapp:index")))  # never off-site: `next` comes from the form


def _action_failed(request, exc: ApplicationError, payment_id: int):
    if request.headers.get("HX-Request") == "true":
        return render(request, "cashapp/_error.html", {"message": exc.message}, status=failure_status(exc))
    messages.error(request, exc.message)
    return redirect("cashapp:payment", payment_id=payment_id)


@capability_required("cashapp.view")
@require_GET
def payment_workspace(request, payment_id):
    payment = get_object_or_404(Payment.objects.select_related("customer", "bank_file"), pk=payment_id)
    return _workspace(request, payment)


def _workspace(request, payment, *, rows=None, error="", status=200):
    applications = selectors.payment_applications(payment)
    pending = list(payment.suggestions.filter(status=SuggestionStatus.PENDING).select_related("customer")
                   .order_by("rank"))
    if rows is None:
        rows = [{"invoice": a["invoice_number"], "applied": _editable(a["applied"], payment.currency),
                 "deduction": _editable(a["deduction"], payment.currency), "reason": a["deduction_reason"]}
                for a in (pending[0].allocations if pending else [])]
    return render(request, "cashapp/payment.html", {
        "payment": payment, "applications": applications, "pending": pending, "rows": rows, "error": error,
        "match": PaymentMatch.objects.filter(payment=payment).first(),
        "audit": selectors.payment_audit(payment, applications), "reasons": DeductionReason.choices,
        "remittance_lines": list(payment.remittance_lines.order_by("position", "pk")),
    }, status=status)


def _editable(amount, currency: str) -> str:
    """An amount put into a form field for the clerk to read and change: the currency's minor unit, no
    grouping ("1525.50", not "1525.5000"). Exact: only zeros beyond the minor unit are dropped."""
    return money_in_text(str(amount), currency)


MAX_ROWS = 500  # more invoices than one payment is ever split over


def _rows_from_post(post) -> list[dict]:
    """The allocation rows as typed, kept as text so a refused form comes back as the clerk left it."""
    columns = [post.getlist("invoice"), post.getlist("applied"), post.getlist("deduction"), post.getlist("reason")]
    if max(map(len, columns)) > MAX_ROWS:
        raise BadInput("invoice", f"more than {MAX_ROWS} rows")
    rows = []
    for number, applied, deduction, reason in zip(*columns, strict=False):
        if number.strip() or applied.strip():
            rows.append({"invoice": number.strip(), "applied": applied.strip() or "0",
                         "deduction": deduction.strip() or "0", "reason": reason})
    return rows


def _allocations(rows: list[dict]) -> list[dict]:
    """Rows to allocations; an amount that is no plain number, too large, or finer than the invoice's
    currency is refused naming the row (o2c.inputs), never rounded, never a 500."""
    if not rows:
        raise ApplicationError("add at least one invoice")
    numbers = {inputs.check_text(r["invoice"], field="invoice", max_length=64) for r in rows}
    invoices = {i.number: i for i in Invoice.objects.filter(number__in=numbers)}
    allocations = []
    for r in rows:
        invoice = invoices.get(r["invoice"])
        if invoice is None:
            raise ApplicationError(f"invoice {r['invoice'] or '(blank)'} not found")
        applied, deduction = (inputs.amount(r[name], field=f"{name} of invoice {invoice.number}",
                                            currency=invoice.currency) for name in ("applied", "deduction"))
        reason = inputs.check_text(r["reason"], field=f"reason of invoice {invoice.number}", max_length=40)
        allocations.append({"invoice_id": invoice.pk, "invoice_number": invoice.number, "applied": str(applied),
                            "discount": "0", "deduction": str(deduction),
                            "deduction_reason": reason if deduction else "", "write_off": "0"})
    return allocations


@capability_required("cashapp.apply")
@require_POST
def payment_apply_view(request, payment_id):
    """Apply by hand, or accept the suggestion re-split: the rows the clerk left in the form are posted."""
    payment = get_object_or_404(Payment, pk=payment_id)
    rows = _rows_from_post(request.POST)
    try:
        suggestion_id = inputs.integer(request.POST, "suggestion")
        allocations = _allocations(rows)
        if suggestion_id:
            suggestion = get_object_or_404(Suggestion, pk=suggestion_id, payment=payment)
            suggestion_accept(suggestion=suggestion, actor=request.user, allocations=allocations)
        else:
            payment_apply(payment=payment, allocations=allocations, actor=request.user)
    except (ApplicationError, ValueError) as exc:
        payment.refresh_from_db()
        status = failure_status(exc) if isinstance(exc, ApplicationError) else 422
        return _workspace(request, payment, rows=rows, error=getattr(exc, "message", str(exc)), status=status)
    messages.success(request, f"Applied payment {payment.bank_reference}.")
    return redirect("cashapp:payment", payment_id=payment.pk)


@capability_required("cashapp.apply")
@require_POST
def application_reverse_view(request, application_id):
    application = get_object_or_404(Application, pk=application_id)
    try:
        application_reverse(application=application, actor=request.user,
                            reason=inputs.text(request.POST, "reason", max_length=200))
    except ApplicationError as exc:
        return _action_failed(request, exc, application.payment_id)
    messages.success(request, f"Reversed the application to invoice {application.invoice.number}.")
    return redirect("cashapp:payment", payment_id=application.payment_id)


@capability_required("cashapp.view")
@require_GET
def invoice_search(request):
    q = inputs.text(request.GET, "q", max_length=100)
    return render(request, "cashapp/_invoice_results.html", {"invoices": selectors.open_invoice_search(q), "q": q})


@capability_required("cashapp.apply")
@require_GET
def allocation_row(request):
    try:
        invoice = get_object_or_404(Invoice, pk=int(request.GET.get("invoice", "")))
    except ValueError:
        raise Http404 from None
    return render(request, "cashapp/_allocation_row.html", {
        "row": {"invoice": invoice.number, "applied": _editable(invoice.open_balance, invoice.currency),
                "deduction": "0", "reason": ""},
        "reasons": DeductionReason.choices})


@capability_required("cashapp.view")
@require_GET
def unapplied(request):
    return render(request, "cashapp/unapplied.html", {"payments": selectors.unapplied_payments()})


@capability_required("cashapp.apply")
@require_POST
def run_start(request):
    run = matching_run_enqueue(trigger="manual", actor=request.user)
    running = selectors.run_in_progress(other_than=run)
    if running is None:
        messages.info(request, f"Matching {run.payments_total} unapplied payments.")
    else:  # one run per tenant at a time: this request queued behind it (or joined the run already queued)
        messages.info(request, f"Matching run {running.pk} is in progress ({running.percent} %); run {run.pk} "
                               "is queued behind it and will match the payments still unapplied when it ends.")
    return redirect("cashapp:index")


@capability_required("cashapp.configure")
@require_http_methods(["GET", "POST"])
def settings_view(request):
    current = CashAppSettings.objects.first() or CashAppSettings()
    form = CashAppSettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        cash_app_settings_update(values={k: form.cleaned_data[k] for k in form.Meta.fields}, actor=request.user)
        messages.success(request, "Cash-application settings saved; the next run uses them.")
        return redirect("cashapp:settings")
    history = calibration.tenant_calibration()
    return render(request, "cashapp/settings.html", {
        "form": form, "threshold": current.auto_apply_threshold, "history": history,
        "benchmark": None if history.enough else calibration.benchmark_calibration(),
        "min_decisions": calibration.MIN_DECISIONS, "window": f"{selectors.CALIBRATION_WINDOW:,}",
    }, status=422 if form.errors else 200)


@capability_required("cashapp.view")
@require_GET
def run_status(request, matching_run_id):
    run = get_object_or_404(MatchingRun, pk=matching_run_id)
    return _render(request, "cashapp/run.html", "cashapp/_run.html", {"run": run})
