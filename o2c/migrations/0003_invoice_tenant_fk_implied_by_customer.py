from django.db import migrations

# Found by its columns, not its name: Django derived the name from a hash.
DROP = """
DO $$
DECLARE name text;
BEGIN
  SELECT c.conname INTO name
  FROM pg_constraint c
  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
  WHERE c.conrelid = 'o2c_invoice'::regclass AND c.confrelid = 'o2c_tenant'::regclass
    AND c.contype = 'f' AND array_length(c.conkey, 1) = 1 AND a.attname = 'tenant_id';
  IF name IS NOT NULL THEN
    EXECUTE format('ALTER TABLE o2c_invoice DROP CONSTRAINT %I', name);
  END IF;
END $$
"""

ADD = """
ALTER TABLE o2c_invoice ADD CONSTRAINT o2c_invoice_tenant_id_fk_o2c_tenant_id
  FOREIGN KEY (tenant_id) REFERENCES o2c_tenant (id) DEFERRABLE INITIALLY DEFERRED
"""


class Migration(migrations.Migration):
    """An invoice's tenant must exist: its composite key to the customer already says so.

    FOREIGN KEY (tenant_id, customer_id) REFERENCES o2c_customer (tenant_id, id) (o2c.rls; customer_id is
    NOT NULL) means the tenant of every invoice is the tenant of an existing customer, and the customer's
    own FOREIGN KEY (tenant_id) REFERENCES o2c_tenant keeps that tenant from disappearing while it has
    customers. The invoice's direct key to o2c_tenant therefore guards nothing more, but each inserted
    invoice queued a check of it (SELECT ... FOR KEY SHARE on the tenant, run at commit): a million-invoice
    import spent about 4 s of its commit there. Only the database constraint goes; the model field, the
    ORM's PROTECT and Django's migration state are unchanged (Django finds foreign keys by their columns,
    so a later migration of the field finds none to drop and adds none back).
    """

    dependencies = [
        ("o2c", "0002_invoice_hot_updates"),
    ]

    operations = [
        migrations.RunSQL(DROP, reverse_sql=ADD),
    ]
