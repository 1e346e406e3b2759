"""API v1 of deductions: list, read, create (clerk), transitions, and the CSV export."""

from rest_framework import serializers, status
from rest_framework.response import Response

from o2c.access import access_customer_by_id
from o2c.api import MoneyField, TenantAPIView, api_actor
from o2c.errors import ApplicationError
from o2c.models import Invoice
from o2c.spreadsheets import csv_response

from . import selectors, services
from .models import Deduction


class DeductionSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    remaining_amount = MoneyField(read_only=True)
    recovered_amount = MoneyField(read_only=True)
    number = serializers.CharField(read_only=True)
    reason_code = serializers.CharField(source="reason_code.code", default=None, read_only=True)
    category = serializers.CharField(source="reason_code.category", default=None, read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", default=None, read_only=True)
    payment_reference = serializers.CharField(source="payment.bank_reference", default=None, read_only=True)

    class Meta:
        model = Deduction
        fields = ["id", "number", "customer", "invoice", "invoice_number", "payment", "payment_reference", "amount",
                  "remaining_amount", "recovered_amount", "currency", "reason", "reason_code", "category",
                  "customer_reason_code", "reason_text", "source", "origin", "status", "resolution", "owner",
                  "queue", "priority", "sla_due", "parent", "merged_into", "duplicate_of", "denial_note",
                  "evidence", "created_at", "resolved_at"]
        read_only_fields = fields


class CreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    invoice_number = serializers.CharField(required=False, allow_blank=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0)
    reason = serializers.CharField(max_length=40)
    reason_text = serializers.CharField(required=False, allow_blank=True, max_length=300)


class DeductionApi(TenantAPIView):
    capability = "deductions.view"
    serializer_class = DeductionSerializer
    lookup_url_kwarg = "deduction_id"
    ordering = "-id"

    def get_queryset(self):
        qs = selectors.deduction_scope(self.request.membership).select_related("reason_code", "invoice", "payment")
        p = self.request.query_params
        return selectors.deduction_filter(qs, status=p.get("status", ""), reason=p.get("reason", ""),
                                          category=p.get("category", ""))

    def get(self, request, *args, **kwargs):
        if self.lookup_url_kwarg in kwargs:
            return Response(self.get_serializer(self.get_object()).data)
        page = self.paginate_queryset(self.get_queryset().order_by("-pk"))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class DeductionCreateApi(TenantAPIView):
    capability = "deductions.work"

    def post(self, request, *args, **kwargs):
        s = CreateSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        data = s.validated_data
        customer = access_customer_by_id(request.membership, data["customer"])
        invoice = None
        if data.get("invoice_number"):
            invoice = Invoice.objects.filter(number=data["invoice_number"]).first()
            if invoice is None:
                raise ApplicationError(f"no invoice {data['invoice_number']}")
        d = services.deduction_create_by_clerk(customer=customer, invoice=invoice, amount=data["amount"],
                                               reason=data["reason"], reason_text=data.get("reason_text", ""),
                                               actor=api_actor(request))
        return Response(DeductionSerializer(d).data, status=status.HTTP_201_CREATED)


TRANSITIONS = {"start_research": "deductions.work", "validate": "deductions.resolve",
               "invalidate": "deductions.resolve", "reopen": "deductions.resolve", "resolve": "deductions.resolve",
               "split": "deductions.work"}


class DeductionTransitionApi(TenantAPIView):
    """POST {"action": start_research|validate|invalidate|reopen|resolve|split, "note", "resolution",
    "amounts": [..]}; an illegal move answers 409 with the reason."""

    capability = "deductions.work"

    def post(self, request, deduction_id, *args, **kwargs):
        from o2c.permissions import can

        d = selectors.access_deduction_by_id(request.membership, deduction_id)
        action = request.data.get("action", "")
        if not isinstance(action, str) or action not in TRANSITIONS:  # JSON may send a list or an object
            raise ApplicationError(f"action must be one of {', '.join(TRANSITIONS)}")
        if not can(request.membership, TRANSITIONS[action]):
            return Response({"detail": "not allowed for your role"}, status=403)
        if action == "resolve":
            d = services.deduction_resolve(deduction_id=d.pk, resolution=request.data.get("resolution", ""),
                                           memo=request.data.get("memo", ""), actor=api_actor(request))
        elif action == "split":
            from o2c.money import parse_amount

            amounts = [parse_amount(str(a), d.currency) for a in request.data.get("amounts") or []]
            parts = services.deduction_split(deduction_id=d.pk, amounts=amounts, actor=api_actor(request))
            return Response({"parts": DeductionSerializer(parts, many=True).data})
        else:
            d = services.deduction_transition(deduction_id=d.pk, action=action, note=request.data.get("note", ""),
                                              actor=api_actor(request))
        return Response(DeductionSerializer(d).data)


class DeductionExportApi(TenantAPIView):
    capability = "deductions.view"

    def get(self, request, *args, **kwargs):
        return csv_response("deductions.csv", selectors.EXPORT_HEADER, selectors.export_rows())
