"""Cash application's writes, by who makes them:

- `runs`: matching runs, which match the tenant's waiting payments within their scope chunk by chunk, post the
  confident answers and suggest the rest; one run per tenant at a time; retries of waiting payments when
  something relevant to them changes; the heartbeat and the reaper of dead runs.
- `clerk`: the clerk's actions (accept, re-split, reject, apply, reverse), the payer learning and the
  receipts they trigger, and the tenant's cash-application settings.
- `_shared`: what both write once a payment is decided (its latest `PaymentMatch`, the receipts).

Import from here; the submodules are an implementation detail except for tests of their private helpers.
"""

from .clerk import (
    CashAppError,
    SuggestionDecided,
    application_reverse,
    cash_app_settings_update,
    normalize_name,
    payment_apply,
    suggestion_accept,
    suggestion_reject,
)
from .runs import (
    CHUNK_SIZE,
    CLERK_OUTCOMES,
    RUN_QUEUED_ONCE,
    matching_after_import,
    matching_retry,
    matching_retry_after_commit,
    matching_retry_for_customers,
    matching_run_complete,
    matching_run_create,
    matching_run_enqueue,
    matching_run_execute,
    matching_runs_reap,
)

__all__ = [
    "CHUNK_SIZE", "CLERK_OUTCOMES", "RUN_QUEUED_ONCE", "CashAppError", "SuggestionDecided", "application_reverse",
    "cash_app_settings_update", "matching_after_import", "matching_run_complete", "matching_run_create",
    "matching_run_enqueue", "matching_run_execute", "matching_runs_reap", "matching_retry",
    "matching_retry_after_commit", "matching_retry_for_customers", "normalize_name", "payment_apply",
    "suggestion_accept", "suggestion_reject",
]
