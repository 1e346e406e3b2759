from django import forms

from .models import CashAppSettings


class CashAppSettingsForm(forms.ModelForm):
    class Meta:
        model = CashAppSettings
        fields = ["auto_apply_threshold", "write_off_tolerance", "discount_grace_days", "send_receipts",
                  "match_after_import"]
        labels = {"auto_apply_threshold": "Auto-apply threshold (0-1)",
                  "write_off_tolerance": "Write off short pays up to",
                  "discount_grace_days": "Days of grace for early-payment discounts"}
