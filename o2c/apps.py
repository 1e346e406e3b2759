from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_rls(sender, using, **kwargs):
    # Once per migrate run is enough; post_migrate fires for every app, so key on the o2c app. `flush` sends it
    # too (without a plan), but changes no schema: nothing to sync then (on Citus that saves seconds a test).
    if sender.name == "o2c" and "plan" in kwargs:
        from . import rls

        rls.sync(using)


class O2CConfig(AppConfig):
    name = "o2c"
    verbose_name = "o2c core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import lookups

        lookups.register()
        post_migrate.connect(_sync_rls, dispatch_uid="o2c-rls-sync")
