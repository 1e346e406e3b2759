from django.apps import AppConfig


class DeductionsConfig(AppConfig):
    name = "deductions"
    default_auto_field = "django.db.models.BigAutoField"
