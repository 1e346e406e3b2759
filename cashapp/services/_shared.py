"""What a run and a clerk both write once a payment is decided: its latest decision (`PaymentMatch`) and,
for cash posted, the receipts (sent by a task once the transaction commits, unless turned off)."""

from __future__ import annotations

from django.db import transaction

from o2c.bulk import bulk_cursor
from o2c.citus import returning_on_citus
from o2c.tenancy import current_tenant_id

from ..matching import AUTO, SUGGEST, UNMATCHED
from ..models import CashAppSettings, MatchOutcome

_OUTCOME = {AUTO: MatchOutcome.AUTO, SUGGEST: MatchOutcome.SUGGEST, UNMATCHED: MatchOutcome.UNMATCHED}


def _record_matches(matches: list[tuple], run_id: int | None) -> None:
    """Upsert the latest decision per payment, in one statement from a COPYed temporary table."""
    if not matches:
        return
    tenant_id = current_tenant_id()
    with bulk_cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE _match_in (payment_id bigint, outcome text, customer_id bigint, "
                    "confidence numeric, explanation text) ON COMMIT DROP")
        with cur.copy("COPY _match_in FROM STDIN") as copy:
            for pid, outcome, customer, confidence, explanation in matches:
                copy.write_row((pid, _OUTCOME.get(outcome, outcome), customer, confidence, explanation))
        cur.execute(
            "INSERT INTO cashapp_paymentmatch (tenant_id, payment_id, outcome, customer_id, confidence, explanation, "
            "run_id, updated_at) SELECT %s, payment_id, outcome, customer_id, confidence, explanation, %s::bigint, "
            "now() "
            "FROM _match_in ON CONFLICT (tenant_id, payment_id) DO UPDATE SET outcome = excluded.outcome, "
            "customer_id = excluded.customer_id, confidence = excluded.confidence, "
            # excluded.updated_at is the now() of the INSERT: Citus refuses a function in DO UPDATE SET
            # unless it is IMMUTABLE, which now() is not.
            "explanation = excluded.explanation, run_id = excluded.run_id, updated_at = excluded.updated_at"
            + returning_on_citus(),
            [tenant_id, run_id])
        cur.execute("DROP TABLE _match_in")


def _send_receipts_after_commit(payment_ids: list[int]) -> None:
    from ..tasks import payment_receipts_task

    row = CashAppSettings.objects.first()
    if row is not None and not row.send_receipts:
        return
    tenant_id = current_tenant_id()
    transaction.on_commit(lambda: payment_receipts_task.delay(tenant_id, payment_ids))
