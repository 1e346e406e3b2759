from django.apps import AppConfig


class DeductionsConfig(AppConfig):
    name = "deductions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Subscriptions to the ledger's events and the triage case source.
        from o2c import panels
        from o2c.services.demo import register_demo_step

        from . import handlers, subscriptions  # noqa: F401
        from .demo import demo_deductions
        from .panels import invoice_deductions_panel

        panels.register_invoice_panel("deductions.invoice", "deductions/_invoice_deductions.html",
                                      invoice_deductions_panel, order=20)
        register_demo_step("deductions.cases", demo_deductions)
