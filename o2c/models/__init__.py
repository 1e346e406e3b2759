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
    InvoiceUploadStatus,
    PaymentTerms,
)
from .tenants import ApiToken, Invitation, Membership, Role, Tenant, User

__all__ = [
    "ApiToken", "AuditEvent", "CreditMemo", "Customer", "CustomerAlias", "CustomerBankAccount",
    "CustomerContact", "Invitation", "Invoice", "InvoiceImport", "InvoiceUpload", "InvoiceUploadStatus", "Membership",
    "PaymentTerms", "Role",
    "Tenant", "User",
]
