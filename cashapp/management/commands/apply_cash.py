"""`manage.py apply_cash --tenant SLUG`: match and apply every unapplied payment now, in this process (after the
tenant's running run, if there is one: one run per tenant at a time)."""

import sys

from django.core.management.base import BaseCommand, CommandError

from cashapp.services import CHUNK_SIZE, matching_run_complete, matching_run_create, matching_run_execute
from o2c.errors import ApplicationError
from o2c.services.tenants import tenant_by_slug
from o2c.tenancy import RequestOrigin, origin_context, tenant_context


class Command(BaseCommand):
    help = ("Run cash application for a tenant synchronously: confident matches are posted, uncertain ones "
            "wait for a clerk as suggestions, the rest stay unapplied. While another run of the tenant is running, "
            "this command waits for it to end and then runs (--no-wait: queue the run behind it and return).")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE,
                            help=f"payments per transaction (default {CHUNK_SIZE}, what runs use)")
        parser.add_argument("--no-wait", action="store_true",
                            help="while another run is running, queue this one behind it and return")

    def handle(self, *args, tenant, chunk_size, no_wait, **options):
        try:
            tenant_obj = tenant_by_slug(tenant)
        except ApplicationError as exc:
            raise CommandError(exc.message)
        with origin_context(RequestOrigin(channel="command")):
            with tenant_context(tenant_obj):
                run = matching_run_create(trigger="command")
            if run.payments_total > chunk_size:
                self.stderr.write(f"matching {run.payments_total} payments in chunks of {chunk_size}...")
            self._told = False
            execute = matching_run_execute if no_wait else matching_run_complete
            extra = {} if no_wait else {"on_wait": self._waiting}
            run = execute(tenant_id=tenant_obj.pk, run_id=run.pk, chunk_size=chunk_size, **extra)
        if run.status == "queued":
            # Another run of the tenant is running: this one is queued behind it and starts when it ends.
            self.stdout.write(f"{tenant_obj.slug}: another matching run is running; run {run.pk} is queued "
                              "behind it and starts when it ends")
            return
        if run.status != "done":
            raise CommandError(f"matching run {run.pk} ended {run.status}: {run.error}")
        self.stdout.write(self.style.SUCCESS(
            f"{tenant_obj.slug}: {run.payments_done} payments matched: {run.auto_applied} applied automatically, "
            f"{run.suggested} waiting for a clerk, {run.unmatched} unmatched"))
        sys.stdout.flush()

    def _waiting(self, run) -> None:
        if not self._told:
            self.stderr.write(f"another matching run is running; run {run.pk} starts when it ends...")
            self._told = True
