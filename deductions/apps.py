from django.apps import AppConfig


class DeductionsConfig(AppConfig):
    name = "deductions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import subscriptions  # noqa: F401 - ledger events and the triage case source
