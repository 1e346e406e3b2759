from django import forms

from .models import BankCsvMapping

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
