"""Give every existing tenant the standard dispute reasons, root causes and default SLA settings."""

from django.db import migrations

from disputes.models import STANDARD_ROOT_CAUSES
from o2c.cases import Category


def seed(apps, schema_editor):
    Tenant = apps.get_model("o2c", "Tenant")
    Reason = apps.get_model("disputes", "DisputeReason")
    Cause = apps.get_model("disputes", "RootCause")
    Settings = apps.get_model("disputes", "DisputeSettings")
    db = schema_editor.connection.alias  # the schema owner that migrates, not the app role (no rights yet)
    for tenant_id in Tenant.objects.using(db).values_list("id", flat=True):
        with schema_editor.connection.cursor() as cursor:  # row-level security, if already applied, sees this tenant
            cursor.execute("SELECT set_config('o2c.tenant_id', %s, true)", [str(tenant_id)])
        Reason.objects.using(db).bulk_create([Reason(tenant_id=tenant_id, code=c.value, name=c.label, category=c.value)
                                    for c in Category], ignore_conflicts=True)
        Cause.objects.using(db).bulk_create([Cause(tenant_id=tenant_id, code=code, name=name)
                                   for code, name in STANDARD_ROOT_CAUSES], ignore_conflicts=True)
        Settings.objects.using(db).bulk_create([Settings(tenant_id=tenant_id)], ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [("disputes", "0001_disputes_cases_and_catalogues")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
