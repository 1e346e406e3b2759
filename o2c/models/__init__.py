from .audit import AuditEvent
from .instructions import (
    ApprovalLimit,
    InstructionKind,
    InstructionStatus,
    InvoiceHold,
    NumberSequence,
    OriginKind,
    PaymentInstruction,
    RefundFile,
    RefundFormat,
    TreasuryAccount,
    WriteOff,
)
from .ledger import (
    CreditMemo,
    Customer,
    CustomerAlias,
    CustomerBankAccount,
    CustomerContact,
    Invoice,
    InvoiceImport,
    InvoiceUpload,
    PaymentTerms,
)
from .rules import TriageKind, TriageResult, TriageRule
from .tenants import ApiToken, Invitation, Membership, Role, Tenant, User
from .uploads import QueuedUpload, UploadStatus

__all__ = [
    "ApiToken", "AuditEvent", "CreditMemo", "Customer", "CustomerAlias", "CustomerBankAccount",
    "CustomerContact", "Invitation", "Invoice", "InvoiceImport", "InvoiceUpload", "Membership",
    "PaymentTerms", "QueuedUpload", "Role",
    "Tenant", "TriageKind", "TriageResult", "TriageRule", "UploadStatus", "User",
    # payment instructions
    "ApprovalLimit", "InstructionKind", "InstructionStatus", "InvoiceHold", "NumberSequence", "OriginKind",
    "PaymentInstruction", "RefundFile", "RefundFormat", "TreasuryAccount", "WriteOff",
]
