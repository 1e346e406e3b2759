"""What disputes hears from the ledger: InstructionCompleted for a dispute's own instructions."""

from o2c.ledger import events


@events.handles(events.InstructionCompleted)
def _instructions_completed(batch: list[events.InstructionCompleted]) -> None:
    from .services import disputes_instruction_completed

    disputes_instruction_completed(batch)
