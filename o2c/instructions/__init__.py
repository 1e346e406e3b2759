"""Payment instructions: what a resolved deduction or dispute asks of the ledger, the ERP and the treasury.

The names below are the interface the deductions and disputes apps call (INTERFACES.md section 3).
"""

from ..models.instructions import InstructionKind, InstructionStatus, OriginKind, RefundFormat
from .refund_files import refund_file_create
from .services import (
    InstructionRequest,
    held_invoice_ids,
    instruction_approve,
    instruction_cancel,
    instruction_create,
    instruction_mark_done,
    instructions_request,
    invoice_hold_place,
    invoice_hold_release,
)

__all__ = [
    "InstructionKind", "InstructionRequest", "InstructionStatus", "OriginKind", "RefundFormat", "held_invoice_ids",
    "instruction_approve", "instruction_cancel", "instruction_create", "instruction_mark_done",
    "instructions_request", "invoice_hold_place", "invoice_hold_release", "refund_file_create",
]
