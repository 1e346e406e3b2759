"""Where deductions meets the kernel's triage rules engine (`o2c.rules`) and payment instructions
(`o2c.instructions`): the case kind and origin kind are filled in here, so the services speak of deductions
only."""

from __future__ import annotations

from o2c import instructions, rules

CASE_KIND = "deduction"
ORIGIN_KIND = "deduction"


def register_triage_source() -> None:
    """Register the "deduction" CaseSource with the rules engine (from AppConfig.ready())."""
    from . import triage

    rules.register_case_source(rules.CaseSource(
        kind=CASE_KIND, facts=triage.facts, apply=triage.apply, recent=triage.recent, describe=triage.describe))


def triage_enqueue(ids) -> None:
    """Have the tenant's triage rules evaluate these deductions after the caller's transaction commits."""
    ids = sorted(set(ids))
    if ids:
        rules.triage_enqueue(CASE_KIND, ids)


def latest_triage(deduction_id: int):
    return rules.latest_triage(CASE_KIND, deduction_id)


def instruction_create(*, kind: str, customer_id: int, amount, currency: str, origin_id: int,
                       invoice_id: int | None = None, memo: str = "", actor=None, account: str = ""):
    """Ask for a payment instruction (credit memo, write-off, re-bill, collection restart) for a deduction.

    The instruction may complete at once (inside this transaction, dispatching InstructionCompleted to
    deductions.subscriptions) or later, after approval.
    """
    return instructions.instruction_create(
        kind=kind, customer_id=customer_id, amount=amount, currency=currency, origin_kind=ORIGIN_KIND,
        origin_id=origin_id, invoice_id=invoice_id, memo=memo, actor=actor, account=account)


def write_offs_request(requests: list[dict]) -> list:
    """Write-off instructions asked for by the system (no one approves them here: they wait for someone who
    may), in one batch: the instruction or the ApplicationError that refused it, in order."""
    return instructions.instructions_request([
        instructions.InstructionRequest(kind="write_off", origin_kind=ORIGIN_KIND, **r) for r in requests])

