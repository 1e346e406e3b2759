"""What deductions listens to besides the ledger's postings (handlers.py): InstructionCompleted (close the
deduction the instruction resolved), and the triage rules engine's case source."""

from o2c.ledger import events

from . import integration


@events.handles(events.InstructionCompleted)
def _instructions_completed(batch: list[events.InstructionCompleted]) -> None:
    from .services import deductions_instruction_completed

    deductions_instruction_completed(batch)


integration.register_triage_source()
