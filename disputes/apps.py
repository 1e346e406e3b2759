from django.apps import AppConfig


class DisputesConfig(AppConfig):
    name = "disputes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import integration, subscriptions  # noqa: F401 - subscribes to the ledger's events

        integration.register_case_source()

        from o2c import panels
        from o2c.services.demo import register_demo_step

        from .demo import demo_disputes
        from .panels import invoice_disputes_panel

        panels.register_invoice_panel("disputes.invoice", "disputes/_invoice_disputes.html",
                                      invoice_disputes_panel, order=30)
        register_demo_step("disputes.cases", demo_disputes)
