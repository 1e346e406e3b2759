from django.apps import AppConfig


class DeductionsConfig(AppConfig):
    name = "deductions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import handlers  # noqa: F401  (subscribes to the ledger's events)
