from django.apps import AppConfig


class CashappConfig(AppConfig):
    name = "cashapp"
    default_auto_field = "django.db.models.BigAutoField"
