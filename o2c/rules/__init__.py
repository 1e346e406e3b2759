"""The triage rules engine shared by deductions and disputes (INTERFACES.md section 2).

    from o2c.rules import CaseSource, register_case_source, triage_enqueue, latest_triage

Apps register a `CaseSource` per kind from AppConfig.ready() and call `triage_enqueue(kind, ids)` when
cases are created or change; a Celery task evaluates the tenant's rules, stores a `TriageResult` per case
and hands the `TriageDecision`s to the source's `apply`.
"""

from .engine import FiredRule, RuleError, RuleSpec, TriageDecision
from .sources import CaseSource, register_case_source

# Cases per Celery task: 10,000 new deductions from one remittance become 5 tasks, not 10,000.
ENQUEUE_BATCH = 2000


def triage_enqueue(kind: str, ids) -> None:
    """Triage these cases in the background once the caller's transaction has committed."""
    from django.db import transaction

    from ..tasks import triage_run
    from ..tenancy import current_tenant_id
    from .engine import KINDS

    if kind not in KINDS:
        raise ValueError(f"unknown kind of case {kind!r}")
    tenant_id, ids = current_tenant_id(), sorted({int(i) for i in ids})
    for start in range(0, len(ids), ENQUEUE_BATCH):
        batch = ids[start:start + ENQUEUE_BATCH]
        transaction.on_commit(lambda batch=batch: triage_run.delay(tenant_id, kind, batch))


def latest_triage(kind: str, case_id: int):
    """The newest TriageResult of a case (rules fired, values, actions, explanation), or None."""
    from .services import latest_triage as latest

    return latest(kind, case_id)


__all__ = ["CaseSource", "FiredRule", "RuleError", "RuleSpec", "TriageDecision", "latest_triage",
           "register_case_source", "triage_enqueue"]
