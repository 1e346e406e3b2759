"""Payments pages: the list of payments and bank files, and the upload with its progress."""

from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from o2c import inputs
from o2c.views import _render, capability_required

from .csv_mappings import CsvMappingInvalid, csv_mapping_preview, csv_mapping_save
from .forms import BankFileUploadForm, CsvMappingForm
from .models import BankCsvMapping, BankFile, BankFileUpload, Payment, PaymentStatus
from .parsers.types import BankFileError
from .services import bank_file_upload_create
from .tasks import bank_file_upload_import

PAGE = 50


@capability_required("payments.view")
@require_GET
def payment_list(request):
    qs = Payment.objects.select_related("customer").order_by("-booking_date", "-pk")
    status = inputs.text(request.GET, "status", max_length=40)
    if status in PaymentStatus.values:
        qs = qs.filter(status=status)
    q = inputs.text(request.GET, "q", max_length=100)
    if q:
        qs = qs.filter(bank_reference__istartswith=q) | qs.filter(payer_name__icontains=q)
    return render(request, "payments/payment_list.html", {
        "payments": list(qs[:PAGE]), "status": status, "q": q,
        "files": list(BankFile.objects.order_by("-created_at", "-pk")[:10])})


@capability_required("payments.import")
@require_http_methods(["GET", "POST"])
def upload(request):
    form = BankFileUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        f = form.cleaned_data["file"]
        mapping = form.cleaned_data["mapping"]
        item = bank_file_upload_create(data=f.read(), file_name=f.name, actor=request.user,
                                       csv_mapping=mapping.mapping if mapping else None)
        tenant_id = request.tenant.pk
        transaction.on_commit(lambda: bank_file_upload_import.delay(tenant_id, item.pk))
        return redirect("payments:upload_status", bank_file_upload_id=item.pk)
    return render(request, "payments/upload.html", {"form": form}, status=422 if form.errors else 200)


@capability_required("payments.view")
@require_GET
def upload_status(request, bank_file_upload_id):
    item = get_object_or_404(BankFileUpload.objects.select_related("bank_file"), pk=bank_file_upload_id)
    return _render(request, "payments/upload_status.html", "payments/_upload_status.html", {"item": item})


@capability_required("payments.view")
@require_GET
def bank_file_detail(request, bank_file_id):
    bank_file = get_object_or_404(BankFile, pk=bank_file_id)
    return render(request, "payments/bank_file.html", {
        "bank_file": bank_file,
        "payments": list(bank_file.payments.select_related("customer").order_by("pk")[:500])})


# --- saved CSV mappings -----------------------------------------------------------------------------

@capability_required("payments.view")
@require_GET
def mapping_list(request):
    return render(request, "payments/mappings.html", {
        "mappings": list(BankCsvMapping.objects.order_by("name"))})


@capability_required("payments.import")
@require_http_methods(["GET", "POST"])
def mapping_edit(request, mapping_id=None):
    """New or existing mapping. 'Preview' parses the sample with it and stores nothing; 'Save' stores it."""
    mapping = get_object_or_404(BankCsvMapping, pk=mapping_id) if mapping_id is not None else None
    initial = {"name": mapping.name, **mapping.mapping} if mapping else None
    form = CsvMappingForm(request.POST or None, request.FILES or None, initial=initial)
    preview, warnings, problem = None, [], ""
    if request.method == "POST" and form.is_valid():
        try:
            if "preview" in request.POST:
                sample = form.cleaned_data.get("sample")
                if not sample:
                    raise CsvMappingInvalid("choose a sample export to preview")
                preview, warnings = csv_mapping_preview(values=form.mapping_values(), data=sample.read())
            else:
                csv_mapping_save(name=form.cleaned_data["name"], values=form.mapping_values(), actor=request.user,
                                 mapping=mapping)
                return redirect("payments:mappings")
        except (CsvMappingInvalid, BankFileError) as exc:
            problem = str(exc)
    status = 422 if (form.errors or problem) else 200
    return render(request, "payments/mapping_form.html", {
        "form": form, "mapping": mapping, "problem": problem, "warnings": warnings,
        "preview": preview, "preview_entries": list(preview.entries[:20]) if preview else []}, status=status)
