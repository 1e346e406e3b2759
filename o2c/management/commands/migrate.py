"""`migrate` runs as the schema owner by default: the application role may not change the schema.

On a Citus coordinator it then runs `citus_distribute`, which places any table the migrations did not
(a database that became a coordinator after it was migrated)."""

from django.core.management.commands.migrate import Command as DjangoMigrate
from django.db import connections

from o2c import citus


class Command(DjangoMigrate):
    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(database="owner")

    def handle(self, *args, **options):
        super().handle(*args, **options)
        if connections[options["database"]].is_citus:
            report = citus.distribute(using=options["database"])
            if options["verbosity"]:
                self.stdout.write(f"Citus: {report}")
