"""How the deductions app answers the ledger (`o2c.ledger.events`), inside the ledger's transaction.

- `DeductionOpened` (cash application posted a short pay): every deduction of the batch goes in with one
  set-based INSERT from arrays, and its audit event with it in the same statement: a matching run opens
  thousands per chunk, and a row-by-row path would slow cash application down. Their intake (reason
  code from the tenant's catalogue, research, triage) runs in one task per batch after the commit.
- `DeductionCancelled` (the application that opened it was reversed): the open deductions are cancelled
  through the model's transition, audited. A deduction already being worked (any status but open or
  cancelled) refuses the reversal with a ConflictError, which rolls the whole reversal back: resolve the
  deduction first.

Registered from `DeductionsConfig.ready()`.
"""

from __future__ import annotations

from django.db import transaction

from o2c.bulk import bulk_cursor, pg_array
from o2c.errors import ConflictError
from o2c.ledger import events
from o2c.models import AuditEvent
from o2c.services.audit import audit_events, audit_origin
from o2c.tenancy import current_tenant_id

from .models import Deduction, DeductionStatus
from .tasks import deductions_intake as deductions_intake_task

_OPEN_SQL = (
    "WITH opened AS (INSERT INTO {deductions} (tenant_id, application_id, customer_id, invoice_id, payment_id, "
    "amount, currency, reason, reason_text, status, created_at) "
    "SELECT %s, d.*, %s, now() FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], "
    "%s::numeric[], %s::text[], %s::text[], %s::text[]) AS d "
    "RETURNING id, application_id, amount, currency, reason) "
    "INSERT INTO {audit} (tenant_id, created_at, actor_id, channel, ip, user_agent, action, object_type, "
    "object_id, object_repr, changes) "
    "SELECT %s, now(), %s::bigint, %s, %s::inet, %s, 'deduction.opened', %s, id, "
    "left(reason || ' ' || amount || ' ' || currency, 200), jsonb_build_object("
    "'amount', jsonb_build_array(NULL, amount::text), 'reason', jsonb_build_array(NULL, reason), "
    "'application', jsonb_build_array(NULL, application_id)) FROM opened RETURNING object_id"
)


@events.handles(events.DeductionOpened)
def deductions_open(batch: list[events.DeductionOpened]) -> None:
    tenant_id = current_tenant_id()
    actor_id, channel, ip, user_agent = audit_origin()
    columns = zip(*((e.application_id, e.customer_id, e.invoice_id, e.payment_id, e.amount, e.currency,
                     e.reason, e.reason_text[:300]) for e in batch), strict=True)
    sql = _OPEN_SQL.format(deductions=Deduction._meta.db_table, audit=AuditEvent._meta.db_table)
    with bulk_cursor() as cur:
        cur.execute(sql, [tenant_id, DeductionStatus.OPEN.value, *map(pg_array, columns),
                          tenant_id, actor_id, channel, ip, user_agent, Deduction._meta.model_name])
        ids = sorted(row[0] for row in cur.fetchall())
    # Reason codes, research and triage once the posting has committed (a sweep catches what a lost task left).
    transaction.on_commit(lambda: deductions_intake_task.delay(tenant_id, ids))


@events.handles(events.DeductionCancelled)
def deductions_cancel(batch: list[events.DeductionCancelled]) -> None:
    application_ids = [e.application_id for e in batch]
    deductions = list(Deduction.objects.select_for_update().filter(application_id__in=application_ids)
                      .order_by("pk"))
    for deduction in deductions:
        if deduction.status not in (DeductionStatus.OPEN, DeductionStatus.CANCELLED):
            raise ConflictError(f"the deduction of application {deduction.application_id} is being worked "
                                f"({deduction.get_status_display().lower()}); resolve it first")
    cancelled = [d for d in deductions if d.status == DeductionStatus.OPEN]
    for deduction in cancelled:
        deduction.cancel()
        deduction.save(update_fields=["status"])
    audit_events([("deduction.cancelled", d, {"status": [DeductionStatus.OPEN.value, d.status]})
                  for d in cancelled])
