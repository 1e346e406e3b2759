"""Give every existing tenant the default reason catalogue and link its deductions to it.

Runs as the schema owner; the deductions table already has forced row-level security, so each tenant is
set as the session's tenant (SET LOCAL) for its own rows. New tenants get the catalogue on first use
(deductions.services.reason_codes_ensure).
"""

from django.db import migrations

from deductions.models import DEFAULT_REASON_CODES, DEFAULT_WRITE_OFF_ACCOUNT


def seed(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        cur.execute("SELECT id FROM o2c_tenant ORDER BY id")
        for (tenant_id,) in cur.fetchall():
            cur.execute("SELECT set_config('o2c.tenant_id', %s, true)", [str(tenant_id)])
            for code, name, category in DEFAULT_REASON_CODES:
                cur.execute(
                    "INSERT INTO deductions_reasoncode (tenant_id, code, name, category, gl_account, is_active) "
                    "VALUES (%s, %s, %s, %s, %s, true) ON CONFLICT DO NOTHING",
                    [tenant_id, code, name, str(category), DEFAULT_WRITE_OFF_ACCOUNT])
            cur.execute(
                "UPDATE deductions_deduction d SET reason_code_id = r.id FROM deductions_reasoncode r "
                "WHERE d.tenant_id = %s AND r.tenant_id = d.tenant_id AND r.code = d.reason "
                "AND d.reason_code_id IS NULL", [tenant_id])
        cur.execute("SELECT set_config('o2c.tenant_id', '', true)")


class Migration(migrations.Migration):
    dependencies = [("deductions", "0002_reason_codes_promotions_documents_lifecycle")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
