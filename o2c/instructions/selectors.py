"""Reads for the payment-instruction pages, the API and the CSV export."""

from django.db.models import Q

from ..models import AuditEvent, InstructionStatus, PaymentInstruction, RefundFile, WriteOff

OPEN_STATUSES = (InstructionStatus.PENDING_APPROVAL, InstructionStatus.APPROVED, InstructionStatus.SENT)
CSV_COLUMNS = ["id", "number", "kind", "status", "customer_external_id", "customer_name", "invoice_number",
               "amount", "currency", "origin_kind", "origin_id", "memo", "account", "requested_by", "approved_by",
               "created_at", "approved_at", "sent_at", "done_at", "cancelled_at", "credit_memo_number",
               "rebill_invoice_number", "write_off_number", "refund_file_name"]


def instruction_list(*, status: str = "", kind: str = "", customer_id: int | None = None):
    qs = PaymentInstruction.objects.select_related("customer", "invoice", "refund_file", "requested_by",
                                                   "approved_by", "credit_memo", "rebill_invoice", "write_off")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    return qs.order_by("-id")


def instruction_history(pi: PaymentInstruction) -> list:
    """The instruction's audit trail and that of the bank file it went out in."""
    where = Q(object_type="paymentinstruction", object_id=pi.pk)
    if pi.refund_file_id:
        where |= Q(object_type="refundfile", object_id=pi.refund_file_id)
    return list(AuditEvent.objects.filter(where).select_related("actor").order_by("created_at", "id"))


def recent_refund_files(limit: int = 10) -> list:
    return list(RefundFile.objects.defer("content").select_related("created_by").order_by("-id")[:limit])


def csv_row(pi: PaymentInstruction) -> list:
    def when(value):
        return value.isoformat() if value else ""

    return [pi.pk, pi.number, pi.kind, pi.status, pi.customer.external_id, pi.customer.name,
            getattr(pi.invoice, "number", ""), pi.amount, pi.currency, pi.origin_kind, pi.origin_id, pi.memo,
            pi.account, getattr(pi.requested_by, "email", ""), getattr(pi.approved_by, "email", ""),
            when(pi.created_at), when(pi.approved_at), when(pi.sent_at), when(pi.done_at), when(pi.cancelled_at),
            getattr(pi.credit_memo, "number", ""), getattr(pi.rebill_invoice, "number", ""),
            getattr(pi.write_off, "number", ""), getattr(pi.refund_file, "file_name", "")]


def customer_statement_extras(customer) -> dict:
    """For the customer's page: write-offs and instructions still under way (small, capped)."""
    return {
        "write_offs": list(WriteOff.objects.filter(customer=customer).select_related("invoice")
                           .order_by("-created_at", "-id")[:20]),
        "pending_instructions": list(PaymentInstruction.objects.filter(customer=customer, status__in=OPEN_STATUSES)
                                     .select_related("invoice").order_by("-id")[:20]),
    }
