"""API v1 of the payment instructions: list and detail, approve, and a CSV export with a stable column list."""

from django.shortcuts import get_object_or_404
from django.urls import path
from rest_framework import serializers
from rest_framework.response import Response

from ..access import _as_id
from ..api import MoneyField, TenantAPIView
from ..models import PaymentInstruction
from ..spreadsheets import csv_response
from . import selectors
from .forms import InstructionFilterForm
from .services import instruction_approve


class InstructionSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", read_only=True, default=None)
    credit_memo_number = serializers.CharField(source="credit_memo.number", read_only=True, default=None)
    rebill_invoice_number = serializers.CharField(source="rebill_invoice.number", read_only=True, default=None)
    write_off_number = serializers.CharField(source="write_off.number", read_only=True, default=None)

    class Meta:
        model = PaymentInstruction
        fields = ["id", "number", "kind", "status", "customer", "customer_external_id", "invoice", "invoice_number",
                  "amount", "currency", "origin_kind", "origin_id", "memo", "account", "requested_by", "approved_by",
                  "created_at", "approved_at", "sent_at", "done_at", "cancelled_at", "credit_memo",
                  "credit_memo_number", "rebill_invoice", "rebill_invoice_number", "write_off", "write_off_number",
                  "refund_file"]
        read_only_fields = fields


def _filters(request) -> dict:
    form = InstructionFilterForm(request.query_params)
    return form.filters()


class InstructionApi(TenantAPIView):
    capability = "instructions.view"
    serializer_class = InstructionSerializer
    lookup_url_kwarg = "instruction_id"

    def get_queryset(self):
        return selectors.instruction_list(**_filters(self.request))

    def get(self, request, *args, **kwargs):
        if self.lookup_url_kwarg in kwargs:
            return Response(self.get_serializer(self.get_object()).data)
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class InstructionApproveApi(TenantAPIView):
    capability = "instructions.approve"

    def post(self, request, instruction_id):
        pi = get_object_or_404(PaymentInstruction.objects.all(), pk=_as_id(instruction_id))
        instruction_approve(instruction_id=pi.pk, actor=request.user)
        return Response(InstructionSerializer(selectors.instruction_list().get(pk=pi.pk)).data)


class InstructionCsvApi(TenantAPIView):
    capability = "instructions.export"

    def get(self, request):
        rows = map(selectors.csv_row, selectors.instruction_list(**_filters(request)).iterator(chunk_size=2000))
        return csv_response("payment-instructions.csv", selectors.CSV_COLUMNS, rows)


urlpatterns = [
    path("payment-instructions/", InstructionApi.as_view(), name="api_instruction_list"),
    path("payment-instructions.csv", InstructionCsvApi.as_view(), name="api_instruction_csv"),
    path("payment-instructions/<int:instruction_id>/", InstructionApi.as_view(), name="api_instruction_detail"),
    path("payment-instructions/<int:instruction_id>/approve/", InstructionApproveApi.as_view(),
         name="api_instruction_approve"),
]
