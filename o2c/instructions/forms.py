"""Forms of the payment-instruction pages: they validate; the services write."""

import re

from django import forms

from ..models import InstructionKind, InstructionStatus, RefundFormat, TreasuryAccount
from .nacha import aba_valid
from .refund_files import iban_valid


class InstructionFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *InstructionStatus.choices])
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *InstructionKind.choices])

    def filters(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {"status": data.get("status") or "", "kind": data.get("kind") or ""}


class RefundFileForm(forms.Form):
    format = forms.ChoiceField(choices=RefundFormat.choices)
    execution_date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class TreasuryAccountForm(forms.ModelForm):
    class Meta:
        model = TreasuryAccount
        fields = ["debtor_name", "iban", "bic", "nacha_immediate_destination", "nacha_destination_name",
                  "nacha_immediate_origin", "nacha_origin_name", "nacha_company_name", "nacha_company_id",
                  "nacha_routing", "nacha_account"]

    def clean_iban(self):
        iban = self.cleaned_data["iban"].replace(" ", "").upper()
        if iban and not iban_valid(iban):
            raise forms.ValidationError("This is not a valid IBAN (country, check digits, account).")
        return iban

    def clean_bic(self):
        bic = self.cleaned_data["bic"].strip().upper()
        if bic and not re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", bic):
            raise forms.ValidationError("A BIC has 8 or 11 letters and digits, e.g. COBADEFFXXX.")
        return bic

    def _routing(self, name):
        value = self.cleaned_data[name].strip()
        if value and not aba_valid(value):
            raise forms.ValidationError("A routing number has 9 digits with a valid check digit.")
        return value

    def clean_nacha_immediate_destination(self):
        return self._routing("nacha_immediate_destination")

    def clean_nacha_routing(self):
        return self._routing("nacha_routing")

    def clean_nacha_immediate_origin(self):
        value = self.cleaned_data["nacha_immediate_origin"].strip()
        if value and not re.fullmatch(r"[0-9 ]{9,10}", value):
            raise forms.ValidationError("10 characters: usually 1 followed by your 9-digit EIN.")
        return value


class ApprovalLimitForm(forms.Form):
    role = forms.CharField(max_length=20)
    currency = forms.RegexField(regex=r"^[A-Za-z]{3}$", max_length=3)
    max_amount = forms.DecimalField(required=False, min_value=0, max_digits=14, decimal_places=2,
                                    help_text="Empty: without limit")
