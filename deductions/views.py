"""Pages of the deductions app: the worklist, a deduction, configuration, and the customer portal."""

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from o2c import inputs
from o2c.access import access_customer_by_id, access_invoice_by_id, invoice_scope
from o2c.errors import ApplicationError
from o2c.models import Invoice, Membership, Role
from o2c.permissions import can
from o2c.views import _render, capability_required, member_required

from . import integration, research, selectors, services
from .forms import (
    AssignForm,
    DeductionCreateForm,
    DocumentForm,
    FileForm,
    PortalDeductionForm,
    PromotionForm,
    ReasonCodeForm,
    ResolveForm,
)
from .models import CLOSED, Category, CustomerReasonCode, DeductionStatus, Priority, ReasonCode, TradePromotion
from .remittance import deductions_from_x12


def _error_text(exc: ApplicationError) -> str:
    return exc.message


# --- the worklist --------------------------------------------------------------------------------

@capability_required("deductions.view")
@require_GET
def deduction_list(request):
    g = request.GET
    owner = inputs.text(g, "owner", max_length=20)
    filters = {"status": inputs.text(g, "status", default="active", max_length=40),
               "reason": inputs.text(g, "reason", max_length=40), "category": inputs.text(g, "category", max_length=40),
               "customer_id": inputs.integer(g, "customer"),
               "owner_id": owner if owner == "none" else inputs.integer(g, "owner"),
               "min_age": inputs.integer(g, "age", min_value=0, max_value=36500),  # timedelta tops out near 10**9
               "search": inputs.text(g, "q", max_length=100)}
    scope = selectors.deduction_scope(request.membership)
    page = selectors.deduction_page(selectors.deduction_filter(scope, **filters), cursor=g.get("after"))
    context = {"page": page, "filters": filters, "statuses": DeductionStatus.choices, "categories": Category.choices,
               "reasons": ReasonCode.objects.order_by("code"), "query": g.urlencode(),
               "owners": Membership.objects.filter(is_active=True).exclude(role=Role.PORTAL_USER)
               .select_related("user").order_by("user__email")}
    if not g.get("after"):
        context["aging"] = selectors.aging(scope)
        context["metrics"] = selectors.metrics(scope)
    return _render(request, "deductions/list.html", "deductions/_rows.html", context)


@capability_required("deductions.work")
@require_http_methods(["GET", "POST"])
def deduction_new(request):
    form = DeductionCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customer = access_customer_by_id(request.membership, form.cleaned_data["customer_id"])
            invoice = None
            if form.cleaned_data["invoice_number"]:
                invoice = Invoice.objects.filter(number=form.cleaned_data["invoice_number"]).first()
                if invoice is None:
                    raise ApplicationError(f"no invoice {form.cleaned_data['invoice_number']}")
            d = services.deduction_create_by_clerk(
                customer=customer, invoice=invoice, amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"], reason_text=form.cleaned_data["reason_text"],
                documents=request.FILES.getlist("documents"), actor=request.user)
        except ApplicationError as exc:
            form.add_error(None, _error_text(exc))
        except Http404:
            form.add_error("customer_id", "no such customer")
        else:
            messages.success(request, f"{d.number} created")
            return redirect("deductions:detail", deduction_id=d.pk)
    return render(request, "deductions/new.html", {"form": form, "reasons": ReasonCode.objects.order_by("code")},
                  status=400 if form.errors else 200)


@capability_required("deductions.view")
@require_GET
def deduction_detail(request, deduction_id):
    d = selectors.access_deduction_by_id(request.membership, deduction_id)
    return render(request, "deductions/detail.html", _detail_context(request, d))


def _detail_context(request, d, **extra):
    return {"d": d, "age": selectors.age_days(d), "history": selectors.deduction_history(d),
            "documents": d.documents.order_by("pk"), "parts": d.parts.order_by("pk"),
            "merged_from": d.merged_from.order_by("pk"), "evidence": research.describe_outcome(d),
            "triage": integration.latest_triage(d.pk), "resolutions": selectors.resolutions_for(d.status),
            "closed": d.status in CLOSED, "document_form": DocumentForm(), "priorities": Priority.choices,
            "owners": Membership.objects.filter(is_active=True).exclude(role=Role.PORTAL_USER)
            .select_related("user").order_by("user__email"), **extra}


ACTION_CAPABILITY = {"start_research": "deductions.work", "validate": "deductions.resolve",
                     "invalidate": "deductions.resolve", "reopen": "deductions.resolve", "assign": "deductions.work",
                     "split": "deductions.work", "resolve": "deductions.resolve"}


@capability_required("deductions.work")
@require_POST
def deduction_action(request, deduction_id):
    d = selectors.access_deduction_by_id(request.membership, deduction_id)
    action = request.POST.get("action", "")
    if action not in ACTION_CAPABILITY or not can(request.membership, ACTION_CAPABILITY[action]):
        return render(request, "o2c/forbidden.html", status=403)
    try:
        message = _run_action(request, d, action)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        d.refresh_from_db()
        return render(request, "deductions/detail.html", _detail_context(request, d, error=exc.message),
                      status=exc.status_code)
    messages.success(request, message)
    return redirect("deductions:detail", deduction_id=d.pk)


def _run_action(request, d, action) -> str:
    p = request.POST
    if action == "assign":
        form = AssignForm(p)
        if not form.is_valid():
            raise ApplicationError("check the owner, queue and priority")
        owner = None
        if form.cleaned_data["owner_id"]:
            m = Membership.objects.filter(user_id=form.cleaned_data["owner_id"], is_active=True).exclude(
                role=Role.PORTAL_USER).select_related("user").first()
            if m is None:
                raise ApplicationError("that owner is not a member of this company")
            owner = m.user
        services.deduction_assign(deduction_id=d.pk, owner=owner, queue=form.cleaned_data["queue"],
                                  priority=form.cleaned_data["priority"] or None, actor=request.user)
        return "assigned"
    if action == "split":
        parts = services.deduction_split(deduction_id=d.pk, amounts=services.parse_amounts(p.get("amounts", ""),
                                                                                           d.currency),
                                         actor=request.user)
        return "split into " + ", ".join(x.number for x in parts)
    if action == "resolve":
        form = ResolveForm(p)
        if not form.is_valid():
            raise ApplicationError("choose a resolution")
        d = services.deduction_resolve(deduction_id=d.pk, resolution=form.cleaned_data["resolution"],
                                       memo=form.cleaned_data["memo"], actor=request.user)
        return f"{d.number} resolved" if d.status == DeductionStatus.RESOLVED else \
            f"{d.number}: resolution requested (instruction {d.instruction_id})"
    services.deduction_transition(deduction_id=d.pk, action=action, note=p.get("note", ""), actor=request.user)
    return f"{d.number} {services.ACTION_VERBS[action]}"


@capability_required("deductions.work")
@require_POST
def deduction_merge_view(request):
    scope = selectors.deduction_scope(request.membership)
    try:
        ids = inputs.id_list(request.POST, "ids")
        if scope.filter(pk__in=ids).count() != len(set(ids)):
            raise ApplicationError("a deduction to merge was not found")
        merged = services.deduction_merge(deduction_ids=ids, actor=request.user)
    except (ApplicationError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", "choose deductions to merge"))
        return redirect("deductions:index")
    messages.success(request, f"merged into {merged.number}")
    return redirect("deductions:detail", deduction_id=merged.pk)


# --- documents -----------------------------------------------------------------------------------

@member_required
@require_POST
def document_upload(request, deduction_id):
    portal = request.membership.role == Role.PORTAL_USER
    if not can(request.membership, "portal.file" if portal else "deductions.work"):
        return render(request, "o2c/forbidden.html", status=403)
    d = selectors.access_deduction_by_id(request.membership, deduction_id)
    form = DocumentForm(request.POST, request.FILES)
    target = "deductions:portal_detail" if portal else "deductions:detail"
    if not form.is_valid():
        messages.error(request, "choose a file")
        return redirect(target, deduction_id=d.pk)
    try:
        services.deduction_document_add(deduction_id=d.pk, uploaded=form.cleaned_data["file"],
                                        kind=form.cleaned_data["kind"], actor=request.user, from_customer=portal)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "document attached")
    return redirect(target, deduction_id=d.pk)


@member_required
@require_GET
def document_download(request, document_id):
    """Through this view only: the access function decides (tenant, and a portal user's own customer)."""
    portal = request.membership.role == Role.PORTAL_USER
    if not can(request.membership, "portal.use" if portal else "deductions.view"):
        return render(request, "o2c/forbidden.html", status=403)
    doc = selectors.access_document_by_id(request.membership, document_id)
    return FileResponse(default_storage.open(doc.path, "rb"), as_attachment=True, filename=doc.name,
                        content_type=doc.content_type)


# --- configuration -------------------------------------------------------------------------------

@capability_required("deductions.configure")
@require_http_methods(["GET", "POST"])
def reason_codes(request):
    services.reason_codes_ensure()
    form = ReasonCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.reason_code_save(actor=request.user, **form.cleaned_data)
        messages.success(request, f"reason code {form.cleaned_data['code']} saved")
        return redirect("deductions:reason_codes")
    return render(request, "deductions/reason_codes.html", {
        "form": form, "codes": ReasonCode.objects.order_by("code"), "categories": Category.choices,
        "maps": CustomerReasonCode.objects.select_related("customer", "reason_code")
        .order_by("customer__name", "code")[:500],
        "import_form": FileForm()}, status=400 if form.errors else 200)


@capability_required("deductions.configure")
@require_POST
def customer_codes_import(request):
    form = FileForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "choose a CSV file")
    else:
        try:
            n = services.customer_reason_codes_import(data=form.cleaned_data["file"].read(), actor=request.user)
        except ApplicationError as exc:
            messages.error(request, "nothing imported: " + "; ".join(exc.extra.get("errors", [exc.message])[:20]))
        else:
            messages.success(request, f"{n} customer codes imported")
    return redirect("deductions:reason_codes")


@capability_required("deductions.configure")
@require_http_methods(["GET", "POST"])
def promotions(request):
    form = PromotionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            customer = access_customer_by_id(request.membership, data["customer_id"])
        except Http404:
            form.add_error("customer_id", "no such customer")
        else:
            services.promotion_create(customer=customer, actor=request.user, **{
                k: v for k, v in data.items() if k != "customer_id"})
            messages.success(request, f"promotion {data['name']} saved")
            return redirect("deductions:promotions")
    return render(request, "deductions/promotions.html", {
        "form": form, "promotions": TradePromotion.objects.select_related("customer").order_by("-start_date")[:200]},
        status=400 if form.errors else 200)


@capability_required("deductions.work")
@require_POST
def remittance_upload(request):
    form = FileForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "choose an X12 812 or 820 file")
        return redirect("deductions:index")
    try:
        outcome = deductions_from_x12(data=form.cleaned_data["file"].read(), actor=request.user)
    except ApplicationError as exc:
        messages.error(request, f"nothing imported: {exc.message}")
    else:
        messages.success(request, f"{len(outcome.created)} deductions created, {outcome.already} known already"
                         + (f"; skipped: {'; '.join(outcome.skipped[:5])}" if outcome.skipped else ""))
    return redirect("deductions:index")


# --- the customer portal -------------------------------------------------------------------------

@capability_required("portal.use")
@require_GET
def portal_list(request):
    rows = selectors.deduction_scope(request.membership).select_related("invoice").order_by("-pk")[:200]
    return _render(request, "deductions/portal_list.html", "deductions/_portal_rows.html", {"rows": rows})


@member_required
@require_GET
def portal_detail(request, deduction_id):
    """The customer's view of one deduction (staff may open it too, to see what the customer sees)."""
    if not (can(request.membership, "portal.use") or can(request.membership, "deductions.view")):
        return render(request, "o2c/forbidden.html", status=403)
    d = selectors.access_deduction_by_id(request.membership, deduction_id)
    return render(request, "deductions/portal_detail.html", {"d": d, "documents": d.documents.order_by("pk"),
                                                             "document_form": DocumentForm()})


@capability_required("portal.file")
@require_http_methods(["GET", "POST"])
def portal_new(request):
    form = PortalDeductionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invoice = access_invoice_by_id(request.membership, form.cleaned_data["invoice_id"])
            d = services.deduction_file_by_customer(
                membership=request.membership, invoice=invoice, amount=form.cleaned_data["amount"],
                reason=form.cleaned_data["reason"], reason_text=form.cleaned_data["reason_text"],
                documents=request.FILES.getlist("documents"), actor=request.user)
        except Http404:
            form.add_error("invoice_id", "choose one of your invoices")
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"deduction {d.number} filed")
            return redirect("deductions:portal_detail", deduction_id=d.pk)
    services.reason_codes_ensure()
    invoices = invoice_scope(request.membership).order_by("-issue_date")[:200]
    return render(request, "deductions/portal_new.html", {
        "form": form, "invoices": invoices, "reasons": ReasonCode.objects.filter(is_active=True).order_by("name")},
        status=400 if form.errors else 200)

