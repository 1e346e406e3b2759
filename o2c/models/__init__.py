from .audit import AuditEvent
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
]
