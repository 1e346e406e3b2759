"""Every existing tenant gets the default approval limits (new tenants get them on first use:
o2c.instructions.services.approval_limits)."""

from decimal import Decimal

from django.db import migrations

DEFAULTS = {"ar_clerk": Decimal("1000.00"), "collector": Decimal("0"), "finance_lead": None, "tenant_admin": None}


def seed(apps, schema_editor):
    Tenant = apps.get_model("o2c", "Tenant")
    ApprovalLimit = apps.get_model("o2c", "ApprovalLimit")
    db = schema_editor.connection.alias  # the schema owner that migrates, not the app role (no rights yet)
    rows = [ApprovalLimit(tenant_id=t.pk, role=role, max_amount=limit, currency=t.base_currency)
            for t in Tenant.objects.using(db).all() for role, limit in DEFAULTS.items()]
    ApprovalLimit.objects.using(db).bulk_create(rows, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("o2c", "0009_payment_instructions")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
