from django import forms

from .models import BankCsvMapping
from .parsers.types import CHANNELS

MAX_BANK_FILE_BYTES = 50 * 1024 * 1024


class BankFileUploadForm(forms.Form):
    file = forms.FileField(label="Bank or remittance file")
    mapping = forms.ModelChoiceField(queryset=None, required=False,  # set per request: tenant-scoped
                                     label="CSV column mapping (CSV files only)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mapping"].queryset = BankCsvMapping.objects.order_by("name")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BANK_FILE_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_BANK_FILE_BYTES // (1024 * 1024)} MB.")
        return upload


class CsvMappingForm(forms.Form):
    """The columns of a bank's CSV export, by header name. Checked as a whole by payments.csv_mappings."""

    name = forms.CharField(max_length=80, help_text="The bank and the export, e.g. 'Chase business CSV'.")
    date = forms.CharField(max_length=80, label="Booking date column")
    amount = forms.CharField(max_length=80, required=False, label="Signed amount column",
                             help_text="Positive is money in. Or leave empty and name credit/debit columns.")
    credit = forms.CharField(max_length=80, required=False, label="Credit column")
    debit = forms.CharField(max_length=80, required=False, label="Debit column")
    reference = forms.CharField(max_length=80, required=False, label="Bank reference column",
                                help_text="Without one, each row's reference is a hash of its contents.")
    value_date = forms.CharField(max_length=80, required=False, label="Value date column")
    payer_name = forms.CharField(max_length=80, required=False, label="Payer name column")
    payer_account = forms.CharField(max_length=80, required=False, label="Payer account column")
    text = forms.CharField(max_length=80, required=False, label="Remittance text column")
    invoice = forms.CharField(max_length=80, required=False, label="Invoice number column")
    currency = forms.CharField(max_length=80, required=False, label="Currency column")
    end_to_end_id = forms.CharField(max_length=80, required=False, label="End-to-end id column")
    date_format = forms.CharField(max_length=40, initial="%Y-%m-%d", label="Date format",
                                  help_text="As strptime reads it: %Y-%m-%d, %d.%m.%Y, %m/%d/%Y ...")
    decimal_separator = forms.ChoiceField(choices=[(".", "1234.56"), (",", "1234,56")], initial=".")
    thousands_separator = forms.ChoiceField(choices=[("", "none"), (",", "1,234"), (".", "1.234"), (" ", "1 234"),
                                                     ("'", "1'234")], required=False, initial="")
    delimiter = forms.ChoiceField(choices=[(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")],
                                  initial=",")
    default_currency = forms.CharField(max_length=3, initial="USD", label="Currency when there is no column")
    account = forms.CharField(max_length=70, required=False, label="Our account (statement id)")
    bank = forms.CharField(max_length=40, initial="csv", label="Bank (statement id)")
    channel = forms.ChoiceField(choices=[(c, c.replace("_", " ")) for c in CHANNELS], initial="other")
    sample = forms.FileField(required=False, label="Sample export (preview only, not imported)")

    MAPPING_FIELDS = ("date", "amount", "credit", "debit", "reference", "value_date", "payer_name", "payer_account",
                      "text", "invoice", "currency", "end_to_end_id", "date_format", "decimal_separator",
                      "thousands_separator", "delimiter", "default_currency", "account", "bank", "channel")

    def mapping_values(self) -> dict:
        return {k: self.cleaned_data.get(k, "") for k in self.MAPPING_FIELDS}

    def clean_sample(self):
        sample = self.cleaned_data.get("sample")
        if sample and sample.size > MAX_BANK_FILE_BYTES:
            raise forms.ValidationError("The sample is too large; a few hundred rows are enough.")
        return sample
