from django.db.backends.postgresql.schema import DatabaseSchemaEditor as PostgresSchemaEditor


class DatabaseSchemaEditor(PostgresSchemaEditor):
    """On a Citus coordinator, a table a migration creates is placed (distributed by tenant_id, or made a
    reference table) straight after its CREATE TABLE: the foreign keys the migration adds at its end then
    join placed tables, which Citus accepts. On plain PostgreSQL nothing changes."""

    def __enter__(self):
        editor = super().__enter__()
        if self.connection.is_citus and self.atomic_migration:
            # Placing tables and adding keys to reference tables in one transaction needs one connection
            # per worker (Citus refuses the parallel mode once a reference table has been touched).
            self.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        return editor

    def add_field(self, model, field):
        if not self.connection.is_citus:
            return super().add_field(model, field)
        from .. import citus

        with self.connection.cursor() as cursor:
            awaiting_tenant = field.name == "tenant" and not citus.is_placed(cursor, model._meta.db_table)
        if awaiting_tenant:
            return self._add_tenant_then_distribute(model, field)
        # Citus refuses an unnamed CHECK in ADD COLUMN (it must name the constraint on every shard), which
        # Django writes for e.g. a PositiveIntegerField; give it the name Django's alter_field would.
        name = self._create_index_name(model._meta.db_table, [field.column], suffix="_check")
        self.sql_check_constraint = f"CONSTRAINT {self.quote_name(name)} CHECK (%(check)s)"
        try:
            return super().add_field(model, field)
        finally:
            del self.sql_check_constraint

    def _add_tenant_then_distribute(self, model, field):
        """The tenant column of a table created without it: the column first, then distribution, then
        its key to the (reference) tenant table, which Citus accepts only from a distributed table."""
        from .. import citus

        enforced = field.db_constraint
        field.db_constraint = False
        try:
            super().add_field(model, field)
        finally:
            field.db_constraint = enforced
        with self.connection.cursor() as cursor:
            citus.make_distributed(cursor, model._meta.db_table)
        if enforced:
            self.deferred_sql.append(self._create_fk_sql(model, field, "_fk_%(to_table)s_%(to_column)s"))

    # o2c.citus is imported when used: it reads the models, which need this backend loaded first.
    def create_model(self, model):
        super().create_model(model)
        if self.connection.is_citus:
            from .. import citus

            with self.connection.cursor() as cursor:
                citus.place_new_table(cursor, model)
