from django.apps import AppConfig


class CashappConfig(AppConfig):
    name = "cashapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from o2c import panels
        from o2c.services.demo import register_demo_step

        from . import handlers  # noqa: F401  (starts a matching run after each bank-file import)
        from .demo import demo_bank_statement
        from .selectors import invoice_applications

        panels.register_invoice_panel(
            "cashapp.applications", "cashapp/_invoice_applications.html",
            lambda request, invoice: {"applications": invoice_applications(invoice)}, order=10)
        register_demo_step("cashapp.bank_statement", demo_bank_statement)
