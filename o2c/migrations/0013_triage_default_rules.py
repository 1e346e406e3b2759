"""Give every existing tenant without triage rules the default rule set (new tenants get it from
`tenant_create`), so triage works from the first deduction on."""

from django.db import migrations


def install_defaults(apps, schema_editor):
    from o2c.rules.fileformat import parse_rule_file, rule_to_dict
    from o2c.rules.services import DEFAULTS_FILE

    Tenant = apps.get_model("o2c", "Tenant")
    TriageRule = apps.get_model("o2c", "TriageRule")
    sets = parse_rule_file(DEFAULTS_FILE.read_text(), "yaml")
    db = schema_editor.connection.alias  # migrations run as the schema owner ("owner"), not the app role
    with schema_editor.connection.cursor() as cursor:
        for tenant_id in Tenant.objects.using(db).values_list("pk", flat=True):
            # Row-level security may already be on for these tables: act as the tenant. SET LOCAL rather than
            # set_config(): Citus passes only the statement on to the workers, whose shards hold the policies.
            cursor.execute(f"SET LOCAL o2c.tenant_id = '{int(tenant_id)}'")
            if TriageRule.objects.using(db).filter(tenant_id=tenant_id).exists():
                continue
            TriageRule.objects.using(db).bulk_create(
                TriageRule(tenant_id=tenant_id, applies_to=kind, position=position, **rule_to_dict(spec))
                for kind, specs in sets.items() for position, spec in enumerate(specs, start=1)
            )
        cursor.execute("SET LOCAL o2c.tenant_id = ''")


class Migration(migrations.Migration):
    dependencies = [("o2c", "0012_triage_rules")]

    operations = [migrations.RunPython(install_defaults, migrations.RunPython.noop)]
