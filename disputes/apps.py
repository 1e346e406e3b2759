from django.apps import AppConfig


class DisputesConfig(AppConfig):
    name = "disputes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import integration, subscriptions  # noqa: F401 - subscribes to the ledger's events

        integration.register_case_source()
