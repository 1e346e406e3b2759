"""Where disputes meets the kernel's triage rules engine (`o2c.rules`), payment instructions and dunning
holds (`o2c.instructions`) and the deductions app (`deductions.selectors`, `deductions.services`): the case
and origin kind are filled in here, so the services speak of disputes only."""

from __future__ import annotations

import contextlib
import contextvars

from deductions import selectors as deduction_selectors
from deductions import services as deduction_services
from o2c import instructions, rules

CASE_KIND = "dispute"  # the triage source kind and the instructions' origin_kind


# --- triage rules ------------------------------------------------------------------------------------------

def register_case_source() -> None:
    """Register the "dispute" CaseSource; called from DisputesConfig.ready()."""
    from . import triage

    rules.register_case_source(rules.CaseSource(kind=CASE_KIND, facts=triage.facts, apply=triage.apply,
                                                recent=triage.recent, describe=triage.describe))


_applying_triage: contextvars.ContextVar[bool] = contextvars.ContextVar("disputes_applying_triage", default=False)


@contextlib.contextmanager
def applying_triage():
    """While the rules' own actions are applied, the moves they make do not ask for triage again (a loop)."""
    token = _applying_triage.set(True)
    try:
        yield
    finally:
        _applying_triage.reset(token)


def applying_triage_now() -> bool:
    return _applying_triage.get()


def triage_enqueue(dispute_ids) -> None:
    """Ask the rules engine to triage these disputes after the caller's transaction commits."""
    if not _applying_triage.get() and dispute_ids:
        rules.triage_enqueue(CASE_KIND, list(dispute_ids))


def latest_triage(dispute_id: int):
    """The last TriageResult of a dispute for its page, or None."""
    return rules.latest_triage(CASE_KIND, dispute_id)


# --- payment instructions and holds ---------------------------------------------------------------------

def instruction_create(*, kind: str, customer_id: int, amount, currency: str, origin_id: int, invoice_id=None,
                       memo: str = "", actor=None):
    """One payment instruction for a dispute's resolution."""
    return instructions.instruction_create(kind=kind, customer_id=customer_id, amount=amount, currency=currency,
                                           origin_kind=CASE_KIND, origin_id=origin_id, invoice_id=invoice_id,
                                           memo=memo, actor=actor)


def invoice_hold_place(*, invoice_id: int, amount, dispute_id: int, reason: str, actor=None) -> None:
    """Hold dunning on the disputed amount of an invoice while the dispute is open."""
    instructions.invoice_hold_place(invoice_id=invoice_id, amount=amount, origin_kind=CASE_KIND,
                                    origin_id=dispute_id, reason=reason, actor=actor)


def invoice_hold_release(*, dispute_id: int, actor=None) -> None:
    instructions.invoice_hold_release(origin_kind=CASE_KIND, origin_id=dispute_id, actor=actor)


# --- deductions ------------------------------------------------------------------------------------------

def deduction_for_dispute(membership, deduction_id):
    """The deduction a member may open a dispute from, or Http404."""
    return deduction_selectors.deduction_for_dispute(membership, deduction_id)


def deduction_settle(*, deduction_id: int, accepted_amount, note: str, actor) -> None:
    """A dispute opened from a deduction was decided: the deduction (the open claim) is settled by its app."""
    deduction_services.deduction_settle_by_dispute(deduction_id=deduction_id, accepted_amount=accepted_amount,
                                                   note=note, actor=actor)
