"""`flush` empties tables as the schema owner: the application role may not TRUNCATE the audit log.

Django's transactional tests call `flush` on `default` after each test; that alias is the app role,
which is refused TRUNCATE on the append-only audit table by design. The owner may purge it only
with the explicit `o2c.allow_audit_purge` setting, which this command (a development tool) sets.
"""

from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections, transaction

OWNER_ALIAS = "owner"


class Command(DjangoFlush):
    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(database=OWNER_ALIAS)

    def handle(self, **options):
        options["database"] = OWNER_ALIAS
        connection = connections[OWNER_ALIAS]
        if connection.is_citus:
            # The shards' triggers run on the workers, which see the setting only as a propagated SET LOCAL:
            # the whole flush is one transaction that carries it.
            with transaction.atomic(using=OWNER_ALIAS), connection.cursor() as cursor:
                cursor.execute("SET LOCAL citus.propagate_set_commands = 'local'")
                cursor.execute("SET LOCAL o2c.allow_audit_purge = 'on'")
                return super().handle(**options)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('o2c.allow_audit_purge', 'on', false)")
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('o2c.allow_audit_purge', '', false)")
