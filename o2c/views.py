"""Web pages of the AR workspace. Thin: access functions, selectors and services do the work."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import inputs, panels, selectors
from .access import _as_id, access_customer_by_id, access_invoice_by_id, customer_scope, invoice_scope
from .errors import ApplicationError, ConflictError
from .forms import ApiTokenForm, InvitationForm, InvoiceFilterForm, InvoiceImportForm
from .models import ApiToken, Customer, Invitation, InvoiceImport, InvoiceUpload, Membership
from .permissions import can, roles_with
from .services.invoice_import import (
    InvoiceFileError,
    invoice_import_csv,
    invoice_upload_create,
    invoice_upload_rows_stored,
)
from .services.tenants import (
    api_token_create,
    api_token_revoke,
    invitation_create,
    invitation_revoke,
    membership_deactivate,
)
from .services.uploads import failures_refused
from .tasks import invoice_upload_import

CUSTOMER_TABS = (("outstanding", "Outstanding"), ("paid", "Paid"), ("void", "Void"), ("all", "All"))
INVITE_DROPDOWN_LIMIT = 300


def roles_required(roles):
    """The implementation of capability_required: views name a capability, never a role list."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            membership = getattr(request, "membership", None)
            if membership is None or membership.role not in roles:
                return render(request, "o2c/forbidden.html", status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def capability_required(capability: str):
    """Let in the roles that have this capability (o2c/permissions.py); others get the permission page (403),
    objects stay 404 via access_*. The view carries `capability` (tests/test_permissions.py checks every
    URL has one)."""

    def decorator(view):
        wrapped = roles_required(roles_with(capability))(view)
        wrapped.capability = capability
        return wrapped

    return decorator


# Every member of the tenant, portal users included (their own customer only, by the access functions).
member_required = capability_required("ledger.view")


def failure_status(exc: ApplicationError) -> int:
    """The status of a page or fragment that shows a service's refusal: 409 when the object's state is the
    reason (ConflictError), 422 when the input is."""
    return 409 if isinstance(exc, ConflictError) else 422


def _is_htmx(request) -> bool:
    # A history restore wants the whole page, not the fragment.
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def _render(request, full: str, partial: str, context: dict):
    response = render(request, partial if _is_htmx(request) else full, context)
    response["Vary"] = "HX-Request"
    return response


# --- dashboard ----------------------------------------------------------------------------------

@capability_required("ledger.view")
def dashboard(request):
    membership = request.membership
    if can(membership, "portal.use"):
        return redirect("customer_detail", customer_id=membership.customer_id)
    invoices = invoice_scope(membership)
    buckets = selectors.aging(invoices)
    total = sum((b.amount for b in buckets), start=0)
    return render(request, "o2c/dashboard.html", {
        "aging": buckets, "total_open": total,
        "overdue": sum((b.amount for b in buckets if b.key != "current"), start=0),
        "overdue_count": sum(b.count for b in buckets if b.key != "current"),
        "open_count": sum(b.count for b in buckets),
        "top_overdue": selectors.top_overdue_customers(invoices),
        "imports": selectors.recent_imports() if can(membership, "invoices.import") else [],
    })


# --- customers ----------------------------------------------------------------------------------

@capability_required("ledger.view")
def customer_list(request):
    search = inputs.text(request.GET, "q", max_length=100)
    page = selectors.customer_page(customer_scope(request.membership), search=search,
                                   cursor=inputs.text(request.GET, "after", max_length=40))
    return _render(request, "o2c/customer_list.html", "o2c/_customer_rows.html",
                   {"page": page, "q": search, "paged": bool(request.GET.get("after"))})


@capability_required("ledger.view")
def customer_detail(request, customer_id):
    customer = access_customer_by_id(request.membership, customer_id)
    invoices = invoice_scope(request.membership).filter(customer=customer)
    tab = request.GET.get("status", "outstanding")
    if tab not in dict(CUSTOMER_TABS):
        tab = "outstanding"
    listed = selectors.invoice_filter(invoices, status="" if tab == "all" else tab)
    page = selectors.invoice_page(listed, cursor=inputs.text(request.GET, "after", max_length=40),
                                  before=inputs.text(request.GET, "before", max_length=40))
    context = {"customer": customer, "page": page, "tab": tab, "tabs": CUSTOMER_TABS,
               "table_id": "customer-invoices"}
    if _is_htmx(request):
        return _render(request, "", "o2c/_invoice_table.html", context)
    context.update(selectors.customer_related(customer))
    context["overview"] = selectors.customer_overview(customer, invoices)
    context["activity"] = selectors.customer_activity(customer)
    context["parent"] = customer_scope(request.membership).filter(pk=customer.parent_id).first() \
        if customer.parent_id else None
    return _render(request, "o2c/customer_detail.html", "o2c/_invoice_table.html", context)


# --- invoices -----------------------------------------------------------------------------------

@capability_required("ledger.view")
def invoice_list(request):
    form = InvoiceFilterForm(request.GET or None)
    filters = form.filters() if request.GET else InvoiceFilterForm({}).filters()
    invoices = invoice_scope(request.membership).select_related("customer")
    page = selectors.invoice_page(selectors.invoice_filter(invoices, **filters),
                                  cursor=inputs.text(request.GET, "after", max_length=40),
                                  before=inputs.text(request.GET, "before", max_length=40))
    customer = None
    if filters["customer_id"]:
        customer = customer_scope(request.membership).filter(pk=filters["customer_id"]).first()
    filtered = any(v for k, v in filters.items())
    return _render(request, "o2c/invoice_list.html", "o2c/_invoice_table.html", {
        "form": form, "page": page, "filter_customer": customer, "filtered": filtered,
        "table_id": "invoice-results", "show_customer": True,
    })


@capability_required("ledger.view")
def invoice_detail(request, invoice_id):
    invoice = access_invoice_by_id(request.membership, invoice_id)
    return render(request, "o2c/invoice_detail.html", {
        "invoice": invoice,
        "credit_memos": list(invoice.credit_memos.order_by("-issue_date", "-id")),
        "activity": selectors.invoice_activity(invoice),
        "days_overdue": (timezone.localdate() - invoice.due_date).days,
        "panels": panels.invoice_panels(request, invoice),  # the apps' sections: payments applied, ...
    })


@capability_required("invoices.import")
@require_http_methods(["GET", "POST"])
def invoice_import(request):
    form = InvoiceImportForm(request.POST or None, request.FILES or None)
    errors, status = [], 200
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > settings.O2C_INVOICE_IMPORT_INLINE_BYTES:
            item = invoice_upload_create(data=upload.read(), file_name=upload.name, actor=request.user)
            tenant_id = request.tenant.pk
            transaction.on_commit(lambda: invoice_upload_import.delay(tenant_id, item.pk))
            return redirect("invoice_upload_status", invoice_upload_id=item.pk)
        try:
            with failures_refused("The invoice import", tenant=request.tenant.pk, user=request.user.pk):
                batch = invoice_import_csv(data=upload.read(), file_name=upload.name, actor=request.user)
        except InvoiceFileError as exc:
            errors, status = exc.errors, 422
            form.add_error(None, exc.message)
        except ApplicationError as exc:
            status = 422
            form.add_error(None, exc.message)
        else:
            messages.success(request, (
                f"Imported {batch.file_name}: {batch.created_invoices} new, {batch.updated_invoices} updated, "
                f"{batch.unchanged_invoices} unchanged invoices; {batch.created_customers} new customers."))
            return redirect("invoice_import")
    elif request.method == "POST":
        status = 422
    return render(request, "o2c/invoice_import.html", {
        "form": form, "errors": errors, "imports": InvoiceImport.objects.select_related("imported_by")
        .order_by("-created_at", "-id")[:25],
    }, status=status)


@capability_required("invoices.import")
@require_GET
def invoice_upload_status(request, invoice_upload_id):
    item = get_object_or_404(InvoiceUpload.objects.select_related("invoice_import"), pk=invoice_upload_id)
    stored = invoice_upload_rows_stored(item) if item.status == "queued" else 0
    percent = min(100, stored * 100 // item.rows_expected) if item.rows_expected else 0
    return _render(request, "o2c/invoice_upload_status.html", "o2c/_invoice_upload_status.html",
                   {"item": item, "stored": stored, "percent": percent})


# --- settings: users, invitations, API tokens ---------------------------------------------------

def _invitation_form(data=None):
    customers = list(Customer.objects.order_by("name")[: INVITE_DROPDOWN_LIMIT + 1])
    return InvitationForm(data, customers=customers if len(customers) <= INVITE_DROPDOWN_LIMIT else None)


def _settings_page(request, *, invite_form=None, token_form=None, new_key=None, status=200):
    response = render(request, "o2c/user_list.html", {
        "memberships": selectors.memberships_for_admin(),
        "invitations": selectors.pending_invitations(),
        "tokens": selectors.api_tokens(),
        "invite_form": invite_form or _invitation_form(),
        "token_form": token_form or ApiTokenForm(),
        "new_key": new_key,
    }, status=status)
    if new_key:
        response["Cache-Control"] = "no-store"  # the key is shown once; keep it out of caches
    return response


@capability_required("tenant.manage")
def user_list(request):
    return _settings_page(request)


@capability_required("tenant.manage")
@require_POST
def invitation_new(request):
    form = _invitation_form(request.POST)
    if form.is_valid():
        customer = None
        if form.cleaned_data.get("customer"):
            customer = customer_scope(request.membership).filter(pk=form.cleaned_data["customer"]).first()
            if customer is None:
                form.add_error("customer", "No such customer.")
        if not form.errors:
            try:
                invitation_create(email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                                  customer=customer, invited_by=request.user)
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                return _settings_page(request, invite_form=form, status=failure_status(exc))
            else:
                messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
                return redirect("user_list")
    return _settings_page(request, invite_form=form, status=422)


@capability_required("tenant.manage")
@require_POST
def invitation_cancel(request, invitation_id):
    invitation = get_object_or_404(Invitation.objects.all(), pk=_as_id(invitation_id))
    try:
        invitation_revoke(invitation=invitation, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The invitation to {invitation.email} was withdrawn.")
    return redirect("user_list")


@capability_required("tenant.manage")
@require_POST
def membership_remove(request, membership_id):
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=_as_id(membership_id))
    try:
        membership_deactivate(membership=membership, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{membership.user.email} no longer has access.")
    return redirect("user_list")


@capability_required("tenant.manage")
@require_POST
def api_token_new(request):
    form = ApiTokenForm(request.POST)
    if form.is_valid():
        token, key = api_token_create(name=form.cleaned_data["name"], role=form.cleaned_data["role"],
                                      created_by=request.user)
        # Rendered, not redirected: the key exists only in this response.
        return _settings_page(request, new_key={"token": token, "key": key})
    return _settings_page(request, token_form=form, status=422)


@capability_required("tenant.manage")
@require_POST
def api_token_revoke_view(request, api_token_id):
    token = get_object_or_404(ApiToken.objects.all(), pk=_as_id(api_token_id))
    api_token_revoke(token=token, actor=request.user)
    messages.success(request, f"API key “{token.name}” ({token.prefix}…) is revoked.")
    return redirect("user_list")


# --- areas still to come ------------------------------------------------------------------------

AREAS = {
    "payments": {
        "title": "Payments", "icon": "payments",
        "summary": "Every incoming payment in one place: bank files (BAI2, CAMT.053, lockbox), portal card and "
                   "ACH payments, with their remittance advice.",
        "points": ["Import bank statements and lockbox files; duplicates are detected",
                   "See each payment with its remittance lines and where it was applied",
                   "Receipts emailed to the customer's remittance contacts"],
    },
    "cashapp": {
        "title": "Cash application", "icon": "cashapp",
        "summary": "Match payments to open invoices automatically, and review what the matcher was unsure about.",
        "points": ["Exact and fuzzy matching on invoice numbers, amounts, customer names and aliases",
                   "A review queue of suggestions with confidence and reasons",
                   "Short payments become deductions; learned aliases improve the next run"],
    },
    "deductions": {
        "title": "Deductions", "icon": "deductions",
        "summary": "Short payments the customer took: classify them, check validity, resolve or write off.",
        "points": ["Reason codes mapped from each customer's own codes",
                   "Validity workflow with evidence and approvals",
                   "Write-off rules by amount and reason"],
    },
    "disputes": {
        "title": "Disputes", "icon": "disputes",
        "summary": "Customer disputes with messages, owners and SLAs, from the portal or raised by a clerk.",
        "points": ["Triage rules route each dispute to the right team",
                   "Resolution by credit memo, re-bill or write-off", "SLA timers and escalation"],
    },
    "collections": {
        "title": "Collections", "icon": "collections",
        "summary": "A prioritised worklist of overdue customers, dunning reminders, calls and promises to pay.",
        "points": ["Worklist ordered by risk and amount overdue",
                   "Dunning policies sending reminders on a schedule",
                   "Log calls and promises; broken promises come back to the list"],
    },
    "reporting": {
        "title": "Reports", "icon": "reports",
        "summary": "Aging, DSO, CEI and match rates over time, with exports for finance.",
        "points": ["Nightly aging snapshots and trends", "DSO and collection effectiveness (CEI)",
                   "CSV exports of any list"],
    },
}


@capability_required("workspace.view")
def area_placeholder(request, area):
    return render(request, "o2c/area_placeholder.html", {"area": AREAS[area], "area_key": area})
