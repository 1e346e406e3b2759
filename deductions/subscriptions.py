"""What deductions listens to: the ledger's InstructionCompleted (close the deduction the instruction
resolved), DeductionCancelled (the application was reversed), and the triage rules engine's case source."""

from o2c.ledger import events

from . import integration


@events.handles(events.InstructionCompleted)
def _instructions_completed(batch: list[events.InstructionCompleted]) -> None:
    from .services import deductions_instruction_completed

    deductions_instruction_completed(batch)


@events.handles(events.DeductionCancelled)
def _deductions_cancelled(batch: list[events.DeductionCancelled]) -> None:
    from .services import deductions_cancel_for_applications

    deductions_cancel_for_applications([e.application_id for e in batch])


integration.register_triage_source()
