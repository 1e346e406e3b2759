"""`manage.py triage_rules --tenant SLUG import FILE | export FILE | dry-run FILE [--days 90]`

The rule file is YAML, or JSON when its name ends in .json (format in README, "Triage rules").
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from o2c.errors import ApplicationError
from o2c.rules.fileformat import format_for
from o2c.rules.services import dry_run, parse_rules, triage_rules_export, triage_rules_replace
from o2c.services.tenants import tenant_by_slug
from o2c.tenancy import RequestOrigin, origin_context, tenant_context

TABLE_ROWS = 50  # the table shows the cases that would change first; the summary counts all


class Command(BaseCommand):
    help = ("Import, export or dry-run a tenant's triage rules file (YAML, or JSON for *.json). Import replaces "
            "the rules of each kind in the file, all or nothing; a dry run shows what the file's rules would "
            "have done to the last --days days of cases and saves nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("import", help="replace the rules with the file's").add_argument("file", type=Path)
        sub.add_parser("export", help="write the rules to the file").add_argument("file", type=Path)
        dry = sub.add_parser("dry-run", help="what the file's rules would have done")
        dry.add_argument("file", type=Path)
        dry.add_argument("--days", type=int, default=90)

    def handle(self, *args, tenant, action, file, **options):
        try:
            tenant_obj = tenant_by_slug(tenant)
            with origin_context(RequestOrigin(channel="command")), tenant_context(tenant_obj):
                if action == "export":
                    self._export(file)
                elif action == "import":
                    outcome = triage_rules_replace(content=self._read(file), format=format_for(file.name))
                    self.stdout.write(self.style.SUCCESS(f"{file.name} into {tenant_obj.slug}: {outcome}"))
                else:
                    self._dry_run(file, options["days"])
        except ApplicationError as exc:
            raise CommandError(exc.message)

    def _read(self, file: Path) -> bytes:
        try:
            return file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}")

    def _export(self, file: Path) -> None:
        text = triage_rules_export(format_for(file.name))
        try:
            file.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {file}: {exc.strerror}")
        self.stdout.write(self.style.SUCCESS(f"wrote {file}"))

    def _dry_run(self, file: Path, days: int) -> None:
        report = dry_run(rules=parse_rules(self._read(file), format_for(file.name)), days=days)
        rows = sorted(report.rows, key=lambda r: (not r.changed, r.kind, r.case_id))[:TABLE_ROWS]
        self.stdout.write(f"{'case':<28} {'changed':<8} {'would fire':<50} was")
        for row in rows:
            would = ", ".join(f.name for f in row.would.fired) or "-"
            was = "never triaged" if row.was_fired is None else (", ".join(row.was_fired) or "-")
            self.stdout.write(f"{row.label[:28]:<28} {'yes' if row.changed else 'no':<8} {would[:50]:<50} {was}")
        for (kind, name), count in report.fire_counts().items():
            self.stdout.write(f"{kind} rule {name!r} would fire on {count} cases")
        self.stdout.write(self.style.SUCCESS(report.summary()))
