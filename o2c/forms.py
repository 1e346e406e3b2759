"""Web forms of the AR workspace. They validate input; services do the writing."""

from django import forms

from .models import Role
from .models.ledger import InvoiceStatus
from .selectors import AGING_BUCKETS

MAX_IMPORT_BYTES = 200 * 1024 * 1024  # a million rows are ~85 MB; files above O2C_INVOICE_IMPORT_INLINE_BYTES go
# to the background import

STATUS_CHOICES = [("", "Any status"), ("outstanding", "Outstanding (open + partially paid)"),
                  *InvoiceStatus.choices]
BUCKET_CHOICES = [("", "Any age"), *[(key, label if key == "current" else f"{label} days past due")
                                     for key, label, *_ in AGING_BUCKETS]]


class InvoiceFilterForm(forms.Form):
    """The invoice list's filters; they live in the query string so links and the back button keep them."""

    q = forms.CharField(required=False, max_length=64, label="Number or PO",
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "INV-1001 or PO number",
                                                      "autocomplete": "off"}))
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES)
    bucket = forms.ChoiceField(required=False, choices=BUCKET_CHOICES, label="Aging")
    currency = forms.RegexField(required=False, regex=r"^[A-Za-z]{3}$", max_length=3,
                                widget=forms.TextInput(attrs={"placeholder": "USD", "size": 4}))
    due_from = forms.DateField(required=False, label="Due from", widget=forms.DateInput(attrs={"type": "date"}))
    due_to = forms.DateField(required=False, label="Due to", widget=forms.DateInput(attrs={"type": "date"}))
    customer = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def filters(self) -> dict:
        """Keyword arguments for selectors.invoice_filter; invalid fields are ignored, not fatal."""
        data = self.cleaned_data if self.is_valid() else {
            k: v for k, v in getattr(self, "cleaned_data", {}).items() if k not in self.errors}
        return {
            "search": (data.get("q") or "").strip(), "status": data.get("status") or "",
            "bucket": data.get("bucket") or "", "currency": (data.get("currency") or "").upper(),
            "due_from": data.get("due_from"), "due_to": data.get("due_to"), "customer_id": data.get("customer"),
        }


class InvoiceImportForm(forms.Form):
    file = forms.FileField(label="Invoice CSV", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB; "
                                        "split it into several files.")
        return upload


class InvitationForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.AR_CLERK)
    customer = forms.IntegerField(required=False, min_value=1, label="Customer (portal users only)",
                                  help_text="The customer this portal user may see.")

    def __init__(self, *args, customers=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Tenants with thousands of customers get a number box; small ones a drop-down.
        if customers is not None:
            self.fields["customer"] = forms.TypedChoiceField(
                required=False, coerce=int, empty_value=None, label="Customer (portal users only)",
                choices=[("", "—"), *[(c.pk, str(c)) for c in customers]])

    def clean(self):
        data = super().clean()
        if data.get("role") == Role.PORTAL_USER and not data.get("customer"):
            self.add_error("customer", "Choose the customer this portal user belongs to.")
        if data.get("role") and data.get("role") != Role.PORTAL_USER:
            data["customer"] = None
        return data


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses the key, e.g. “SAP nightly export”.")
    role = forms.ChoiceField(choices=[c for c in Role.choices if c[0] != Role.PORTAL_USER], initial=Role.AR_CLERK)
