"""`manage.py import_bank_file --tenant SLUG FILE [--mapping NAME]`: a bank or remittance file, exactly once."""

import gc
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from o2c.errors import ApplicationError
from o2c.services.tenants import tenant_by_slug
from o2c.services.uploads import failures_refused
from o2c.tenancy import RequestOrigin, origin_context, tenant_context
from payments.models import BankCsvMapping
from payments.services import bank_file_import


class Command(BaseCommand):
    help = ("Import a bank statement or remittance file (BAI2, camt.052/053/054, MT940/942, lockbox, NACHA, "
            "X12 820, or CSV with --mapping). The format is detected from the content. The same file or the "
            "same entries again create nothing; a broken file stores nothing.")
    # Django's system checks (models, URLs, templates, security settings) cost 0.2 s of every start-up, a
    # fifth of a 100k-payment import's start; they guard the code, not the file, and `manage.py check` and
    # the test suite run them.
    requires_system_checks = []

    def run_from_argv(self, argv):
        """The command line's way in (`call_command` does not come here): the process ends with the command."""
        try:
            super().run_from_argv(argv)
        finally:
            # Nothing is left to collect that exiting does not free: without this the interpreter's collections
            # at exit walked every object of Django and the apps, 0.2-0.4 s after a big import had committed.
            gc.freeze()

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--mapping", help="name of a saved CSV mapping, or a JSON file holding one")
        parser.add_argument("--no-match", action="store_true",
                            help="store the file without starting its matching run (a back-fill matched later by "
                                 "apply_cash)")
        parser.add_argument("file", type=Path)

    def handle(self, *args, tenant, file, mapping=None, no_match=False, **options):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}")
        try:
            tenant_obj = tenant_by_slug(tenant)
            with (origin_context(RequestOrigin(channel="command")), tenant_context(tenant_obj),
                  failures_refused("The bank file import", tenant=tenant_obj.pk)):
                csv_mapping = self._mapping(mapping) if mapping else None
                bank_file = bank_file_import(data=data, file_name=file.name, csv_mapping=csv_mapping,
                                             match=not no_match)
        except ApplicationError as exc:
            raise CommandError(exc.message)
        if bank_file.duplicate:
            self.stdout.write(self.style.WARNING(
                f"{file.name} was already imported into {tenant_obj.slug} as bank file {bank_file.pk} "
                f"({bank_file.created_at:%Y-%m-%d %H:%M}); nothing new was created"))
            return
        self.stdout.write(self.style.SUCCESS(
            f"{file.name} into {tenant_obj.slug}: format {bank_file.format}; {bank_file.statements} statements, "
            f"{bank_file.payments_created} payments created, {bank_file.duplicates_skipped} duplicates skipped, "
            f"{bank_file.debits_skipped} debits/reversals skipped, {bank_file.remittances} remittance advices "
            f"({bank_file.remittances_linked} linked)"))
        for warning in bank_file.warnings:
            self.stdout.write(self.style.WARNING(f"warning: {warning}"))

    def _mapping(self, name: str) -> dict:
        saved = BankCsvMapping.objects.filter(name=name).first()
        if saved is not None:
            return saved.mapping
        path = Path(name)
        if path.suffix == ".json" and path.is_file():
            try:
                return json.loads(path.read_text())
            except ValueError as exc:
                raise CommandError(f"{name} is not valid JSON: {exc}")
        raise CommandError(f"no saved CSV mapping named {name!r} (and no JSON file of that name)")
