"""Dispute pages: the staff worklist and case page, filing on a customer's behalf or from a deduction, and
the customer's portal pages. Thin: access functions, selectors and services do the work."""

from __future__ import annotations

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from o2c import inputs
from o2c.access import access_customer_by_id
from o2c.errors import ApplicationError
from o2c.models import Customer
from o2c.money import parse_amount
from o2c.permissions import can
from o2c.views import capability_required, member_required

from . import integration, selectors, services
from .catalogue import catalogue_ensure
from .forms import DisputeSettingsForm
from .models import MANUAL_TRANSITIONS, DisputeReason, DisputeStatus, Priority, Resolution, RootCause

LIVE_POLL_SECONDS = 2
CHOOSER_LIMIT = 300  # customers offered in the chooser; beyond that, open the customer and file from there


# --- helpers ----------------------------------------------------------------------------------------

def _lines_from_post(post, invoices) -> list[services.LineInput]:
    """The amounts typed next to each invoice; ids come from the field names, so they are checked again by
    the service (a forged id of another customer is refused there)."""
    currencies = {inv.pk: inv.currency for inv in invoices}
    lines = []
    for key, raw in post.items():
        if not key.startswith("amount_") or not raw.strip():
            continue
        invoice_id = inputs.parse_integer(key.removeprefix("amount_"), field=key)
        amount = parse_amount(raw, currencies.get(invoice_id, "USD"), label=f"the amount of invoice {invoice_id}")
        lines.append(services.LineInput(invoice_id, amount, post.get(f"note_{invoice_id}", "").strip()))
    return lines


def _filing_context(customer, **extra):
    catalogue_ensure()
    return {"customer": customer, "invoices": selectors.fileable_invoices(customer) if customer else [],
            "reasons": DisputeReason.objects.filter(is_active=True).order_by("name"), **extra}


def _thread_context(request, dispute, *, include_internal: bool):
    return {"dispute": dispute, "thread": selectors.thread(dispute, include_internal=include_internal),
            "sla": selectors.sla_state(dispute), "poll_seconds": LIVE_POLL_SECONDS,
            "transitions": [(name, label) for name, label in MANUAL_TRANSITIONS.items()
                            if name in {t.name for t in dispute.get_available_status_transitions()}]}


# --- staff ---------------------------------------------------------------------------------------------

@capability_required("disputes.view")
@require_GET
def index(request):
    g = request.GET
    page = selectors.worklist(request.membership, status=g.get("status", "open"), priority=g.get("priority", ""),
                              owner=request.user if g.get("mine") else None, overdue=bool(g.get("overdue")),
                              search=inputs.text(g, "q", max_length=100), cursor=inputs.text(g, "after", max_length=40))
    return render(request, "disputes/index.html", {
        "page": page, "filters": g, "statuses": [("open", "All open"), *DisputeStatus.choices, ("", "All")],
        "priorities": Priority.choices, "status": g.get("status", "open")})


@capability_required("disputes.view")
@require_GET
def detail(request, dispute_id):
    dispute = selectors.access_dispute_by_id(request.membership, dispute_id)
    context = _thread_context(request, dispute, include_internal=True)
    context.update({
        "lines": dispute.lines.select_related("invoice").order_by("id"),
        "attachments": dispute.attachments.order_by("id"), "resolutions": Resolution.choices,
        "root_causes": RootCause.objects.order_by("name"), "priorities": Priority.choices,
        "triage": integration.latest_triage(dispute.pk),
        "resolvable": ("triaged", "in_review", "waiting_customer"), "reopenable": ("resolved", "closed"),
    })
    return render(request, "disputes/detail.html", context)


@capability_required("disputes.view")
@require_GET
def live(request, dispute_id):
    dispute = selectors.access_dispute_by_id(request.membership, dispute_id)
    return render(request, "disputes/_live.html", _thread_context(request, dispute, include_internal=True))


def _act(request, dispute_id, work):
    dispute = selectors.access_dispute_by_id(request.membership, dispute_id)
    try:
        work(dispute)
    except ApplicationError as exc:  # includes ConflictError: a clear message, never a 500
        messages.error(request, exc.message)
    return redirect("disputes:detail", dispute_id=dispute.pk)


@capability_required("disputes.work")
@require_POST
def transition(request, dispute_id):
    name = request.POST.get("transition", "")
    return _act(request, dispute_id, lambda d: services.dispute_transition(dispute=d, name=name, actor=request.user))


@capability_required("disputes.resolve")
@require_POST
def resolve(request, dispute_id):
    def work(dispute):
        raw = request.POST.get("accepted_amount", "").strip()
        accepted = parse_amount(raw, dispute.currency) if raw else None
        services.dispute_resolve(dispute=dispute, resolution=request.POST.get("resolution", ""),
                                 accepted_amount=accepted, note=request.POST.get("note", ""),
                                 root_cause=request.POST.get("root_cause", ""), actor=request.user)
    return _act(request, dispute_id, work)


@capability_required("disputes.work")
@require_POST
def reopen(request, dispute_id):
    return _act(request, dispute_id, lambda d: services.dispute_reopen(
        dispute=d, reason=request.POST.get("reason", ""), actor=request.user))


@capability_required("disputes.work")
@require_POST
def update(request, dispute_id):
    p = request.POST
    return _act(request, dispute_id, lambda d: services.dispute_update(
        dispute=d, actor=request.user, owner=request.user if p.get("assign_to_me") else None,
        queue=p.get("queue") if "queue" in p else None, priority=p.get("priority") or None,
        root_cause=p.get("root_cause") if "root_cause" in p else None))


@capability_required("disputes.work")
@require_POST
def message(request, dispute_id):
    return _act(request, dispute_id, lambda d: services.message_post(
        dispute=d, body=request.POST.get("body", ""), actor=request.user, from_customer=False,
        internal=bool(request.POST.get("internal")), attachments=request.FILES.getlist("attachments")))


@capability_required("disputes.work")
@require_http_methods(["GET", "POST"])
def new(request):
    """File on a customer's behalf (?customer=ID) or from a deduction (?deduction=ID)."""
    source = request.POST if request.method == "POST" else request.GET
    deduction = None
    if source.get("deduction"):
        deduction = integration.deduction_for_dispute(request.membership, source["deduction"])
        customer = deduction.customer
    elif source.get("customer"):
        customer = access_customer_by_id(request.membership, source["customer"])
    else:
        customer = None
    if request.method == "GET":
        customers = None if customer else list(Customer.objects.filter(is_active=True).order_by("name")[:CHOOSER_LIMIT])
        return render(request, "disputes/new.html", _filing_context(customer, deduction=deduction, customers=customers))
    try:
        if deduction is not None:
            dispute = services.dispute_from_deduction(deduction=deduction, reason_code=request.POST.get("reason", ""),
                                                      message=request.POST.get("message", ""), actor=request.user)
        elif customer is not None:
            invoices = selectors.fileable_invoices(customer)
            dispute = services.dispute_file_for_customer(
                customer=customer, lines=_lines_from_post(request.POST, invoices), actor=request.user,
                reason_code=request.POST.get("reason", ""), message=request.POST.get("message", ""),
                attachments=request.FILES.getlist("attachments"))
        else:
            raise ApplicationError("choose the customer the dispute is for")
    except ApplicationError as exc:
        return render(request, "disputes/new.html", _filing_context(customer, deduction=deduction, error=exc.message,
                                                                    posted=request.POST), status=exc.status_code)
    messages.success(request, f"{dispute.number} filed.")
    return redirect("disputes:detail", dispute_id=dispute.pk)


@member_required
@require_GET
def attachment(request, dispute_attachment_id):
    """Staff download any of the tenant's; a portal user only those of their own, non-internal messages."""
    doc = selectors.access_attachment_by_id(request.membership, dispute_attachment_id)
    try:
        handle = default_storage.open(doc.path, "rb")
    except FileNotFoundError:
        raise Http404("the file is gone")
    return FileResponse(handle, as_attachment=True, filename=doc.name, content_type=doc.content_type)


# --- portal --------------------------------------------------------------------------------------------

@capability_required("portal.use")
@require_GET
def portal_list(request):
    disputes = (selectors.dispute_scope(request.membership).select_related("reason_code").order_by("-id")[:200])
    return render(request, "disputes/portal_list.html", {"disputes": disputes})


@capability_required("portal.file")
@require_http_methods(["GET", "POST"])
def portal_new(request):
    customer = request.membership.customer
    if request.method == "GET":
        return render(request, "disputes/portal_new.html", _filing_context(customer))
    try:
        dispute = services.dispute_file(
            membership=request.membership, lines=_lines_from_post(request.POST, selectors.fileable_invoices(customer)),
            reason_code=request.POST.get("reason", ""), message=request.POST.get("message", ""),
            attachments=request.FILES.getlist("attachments"), actor=request.user)
    except ApplicationError as exc:
        return render(request, "disputes/portal_new.html",
                      _filing_context(customer, error=exc.message, posted=request.POST), status=exc.status_code)
    messages.success(request, f"Your dispute {dispute.number} was filed. We will answer here.")
    return redirect("disputes:portal_detail", dispute_id=dispute.pk)


# The case pages of the portal let staff in too, as a preview of what the customer sees (no internal notes);
# the access function keeps a portal user to their own customer's disputes.
@member_required
@require_GET
def portal_detail(request, dispute_id):
    dispute = selectors.access_dispute_by_id(request.membership, dispute_id)
    context = _thread_context(request, dispute, include_internal=False)
    context["lines"] = dispute.lines.select_related("invoice").order_by("id")
    return render(request, "disputes/portal_detail.html", context)


@member_required
@require_GET
def portal_live(request, dispute_id):
    dispute = selectors.access_dispute_by_id(request.membership, dispute_id)
    return render(request, "disputes/_portal_live.html", _thread_context(request, dispute, include_internal=False))


@member_required
@require_POST
def portal_reply(request, dispute_id):
    dispute = selectors.access_dispute_by_id(request.membership, dispute_id)
    if not selectors.is_portal(request.membership):
        messages.error(request, "Staff answer on the case page, where internal notes are kept apart.")
        return redirect("disputes:detail", dispute_id=dispute.pk)
    if not can(request.membership, "portal.file"):
        return render(request, "o2c/forbidden.html", status=403)
    try:
        services.message_post(dispute=dispute, body=request.POST.get("body", ""), actor=request.user,
                              from_customer=True, attachments=request.FILES.getlist("attachments"))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("disputes:portal_detail", dispute_id=dispute.pk)



# --- settings ------------------------------------------------------------------------------------------

@capability_required("disputes.configure")
@require_http_methods(["GET", "POST"])
def settings_page(request):
    """Business hours, time zone, working days and the SLA hours of each state."""
    current = catalogue_ensure()
    initial = {name: getattr(current, name) for name in services.SETTINGS_FIELDS}
    form = DisputeSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.dispute_settings_update(actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Dispute settings saved. New SLA clocks use them; running ones keep theirs.")
            return redirect("disputes:settings")
    return render(request, "disputes/settings.html", {"form": form}, status=400 if form.errors else 200)
