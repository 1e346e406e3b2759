from django.apps import AppConfig


class DeductionsConfig(AppConfig):
    name = "deductions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Subscriptions to the ledger's events and the triage case source.
        from . import handlers, subscriptions  # noqa: F401
