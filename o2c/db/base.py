from django.db.backends.postgresql import base
from django.utils.functional import cached_property

from .schema import DatabaseSchemaEditor


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor

    @cached_property
    def is_citus(self) -> bool:
        """Whether this database is a Citus coordinator (asked once per connection object)."""
        with self.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")
            return cursor.fetchone()[0]
