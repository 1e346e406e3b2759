from django import forms

from o2c.money import parse_amount

from .models import Category, DocumentKind, Priority, Resolution


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class AmountField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        return parse_amount(value, "USD") if value else None


class DeductionCreateForm(forms.Form):
    customer_id = forms.IntegerField()
    invoice_number = forms.CharField(required=False, max_length=64)
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0.01)
    reason = forms.CharField(max_length=40)
    reason_text = forms.CharField(required=False, max_length=300)


class PortalDeductionForm(forms.Form):
    invoice_id = forms.IntegerField()
    amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0.01)
    reason = forms.CharField(max_length=40)
    reason_text = forms.CharField(required=False, max_length=300, widget=forms.Textarea(attrs={"rows": 3}))


class AssignForm(forms.Form):
    owner_id = forms.IntegerField(required=False)
    queue = forms.CharField(required=False, max_length=60)
    priority = forms.ChoiceField(choices=Priority.choices, required=False)


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(choices=Resolution.choices)
    memo = forms.CharField(required=False, max_length=300)


class DocumentForm(forms.Form):
    kind = forms.ChoiceField(choices=DocumentKind.choices, initial=DocumentKind.OTHER)
    file = forms.FileField()


class ReasonCodeForm(forms.Form):
    code = forms.SlugField(max_length=30)
    name = forms.CharField(max_length=120)
    category = forms.ChoiceField(choices=Category.choices)
    gl_account = forms.CharField(max_length=40)
    tolerance_max_amount = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    tolerance_max_share = forms.DecimalField(max_digits=5, decimal_places=4, min_value=0, max_value=1,
                                             required=False)


class PromotionForm(forms.Form):
    customer_id = forms.IntegerField()
    name = forms.CharField(max_length=120)
    start_date = forms.DateField()
    end_date = forms.DateField()
    invoice_numbers = forms.CharField(required=False, help_text="Space-separated; empty: any invoice of the period")
    products = forms.CharField(required=False, max_length=300)
    rate_percent = forms.DecimalField(max_digits=6, decimal_places=3, required=False, min_value=0)
    amount = forms.DecimalField(max_digits=14, decimal_places=2, required=False, min_value=0)
    currency = forms.CharField(max_length=3, initial="USD")
    budget = forms.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    approved = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        if data.get("rate_percent") is None and data.get("amount") is None:
            raise forms.ValidationError("give a rate or an amount")
        if data.get("start_date") and data.get("end_date") and data["end_date"] < data["start_date"]:
            raise forms.ValidationError("the period ends before it starts")
        return data


class FileForm(forms.Form):
    file = forms.FileField()
