"""The one place where deductions meets the parts of issue 13 built in parallel (check after merging).

- triage rules engine (`o2c.rules`): `register_case_source`, `triage_enqueue`, `latest_triage`
- payment instructions (`o2c.instructions`): `instruction_create`

Imports are lazy so this app works, and its tests run, before those packages exist: triage is then a
no-op and a resolution that needs an instruction is refused with a message that says why.
"""

from __future__ import annotations

import logging

from o2c.errors import ConflictError

log = logging.getLogger(__name__)
CASE_KIND = "deduction"
ORIGIN_KIND = "deduction"


class InstructionsUnavailable(ConflictError):
    """The payment-instructions package is not installed in this build."""


def _rules():
    try:
        import o2c.rules as rules
    except ImportError:
        return None
    return rules


def register_triage_source() -> bool:
    """Register the "deduction" CaseSource with the rules engine (from AppConfig.ready())."""
    rules = _rules()
    if rules is None:
        return False
    from . import triage

    rules.register_case_source(rules.CaseSource(
        kind=CASE_KIND, facts=triage.facts, apply=triage.apply, recent=triage.recent, describe=triage.describe))
    return True


def triage_enqueue(ids) -> None:
    """Have the tenant's triage rules evaluate these deductions after the caller's transaction commits."""
    ids = sorted(set(ids))
    rules = _rules()
    if rules is None or not ids:
        return
    rules.triage_enqueue(CASE_KIND, ids)


def latest_triage(deduction_id: int):
    rules = _rules()
    if rules is None:
        return None
    return rules.latest_triage(CASE_KIND, deduction_id)


def instruction_create(*, kind: str, customer_id: int, amount, currency: str, origin_id: int,
                       invoice_id: int | None = None, memo: str = "", actor=None, account: str = ""):
    """Ask for a payment instruction (credit memo, write-off, re-bill, collection restart) for a deduction.

    The instruction may complete at once (inside this transaction, dispatching InstructionCompleted to
    deductions.subscriptions) or later, after approval.
    """
    try:
        from o2c.instructions import instruction_create as create
    except ImportError:
        raise InstructionsUnavailable("payment instructions are not available in this installation; "
                                      "the deduction cannot be resolved this way yet")
    return create(kind=kind, customer_id=customer_id, amount=amount, currency=currency, origin_kind=ORIGIN_KIND,
                  origin_id=origin_id, invoice_id=invoice_id, memo=memo, actor=actor, account=account)
