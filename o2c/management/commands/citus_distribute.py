"""Distribute a migrated o2c database on its Citus coordinator (idempotent; `migrate` runs it too)."""

from django.core.management.base import BaseCommand, CommandError

from o2c import citus


class Command(BaseCommand):
    help = ("Make every tenant table distributed by tenant_id (one colocation group) and every other table a "
            "reference table, on a database whose Citus extension is installed and whose workers are added.")

    def add_arguments(self, parser):
        parser.add_argument("--database", default="owner")

    def handle(self, *args, database, **options):
        try:
            report = citus.distribute(using=database)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(str(report))
