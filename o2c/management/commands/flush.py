"""`flush` empties tables as the schema owner: the application role may not TRUNCATE the audit log.

Django's transactional tests call `flush` on `default` after each test; that alias is the app role,
which is refused TRUNCATE on the append-only audit table by design. The owner may purge it only
with the explicit `o2c.allow_audit_purge` setting, which this command (a development tool) sets for
its own transaction only.
"""

from django.core.management.commands.flush import Command as DjangoFlush
from django.core.management.sql import emit_post_migrate_signal
from django.db import connections, transaction

OWNER_ALIAS = "owner"


class Command(DjangoFlush):
    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(database=OWNER_ALIAS)

    def handle(self, **options):
        options["database"] = OWNER_ALIAS
        connection = connections[OWNER_ALIAS]
        # SET LOCAL, not a session setting: on Citus an append-only trigger may run on the workers (a table
        # distributed with its triggers has them on every shard), which see a setting only when Citus
        # passes it on, and it passes on SET LOCAL alone. Django's flush joins this transaction.
        with transaction.atomic(using=OWNER_ALIAS):
            with connection.cursor() as cursor:
                if connection.is_citus:
                    cursor.execute("SET LOCAL citus.propagate_set_commands = 'local'")
                cursor.execute("SET LOCAL o2c.allow_audit_purge = 'on'")
            super().handle(**{**options, "inhibit_post_migrate": True})
        # After the commit, as Django's flush does: the handlers (o2c.rls.sync) take locks of their own.
        if not options.get("inhibit_post_migrate", False):
            emit_post_migrate_signal(options["verbosity"], options["interactive"], OWNER_ALIAS)
