"""API for payments: list and read payments, post a bank file."""

from rest_framework import serializers, status
from rest_framework.parsers import FileUploadParser, MultiPartParser
from rest_framework.response import Response

from o2c.api import MoneyField, TenantAPIView
from o2c.errors import ApplicationError
from o2c.services.uploads import failures_refused

from .models import Payment
from .services import bank_file_import


class PaymentSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    unapplied_amount = MoneyField(read_only=True)

    class Meta:
        model = Payment
        fields = ["id", "bank_reference", "account", "amount", "currency", "value_date", "booking_date", "channel",
                  "payer_name", "customer", "end_to_end_id", "remittance_text", "unapplied_amount", "status",
                  "bank_file", "created_at"]
        read_only_fields = fields


class PaymentApi(TenantAPIView):
    capability = "payments.view"
    serializer_class = PaymentSerializer
    lookup_url_kwarg = "payment_id"
    ordering = "-id"

    def get_queryset(self):
        qs = Payment.objects.all()
        status_ = self.request.query_params.get("status")
        return qs.filter(status=status_) if status_ else qs

    def get(self, request, *args, **kwargs):
        if self.lookup_url_kwarg in kwargs:
            return Response(self.get_serializer(self.get_object()).data)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class BankFileApi(TenantAPIView):
    """POST a file (multipart field `file`, or the raw body with Content-Disposition: attachment; filename=...)."""

    capability = "payments.import"
    parser_classes = [MultiPartParser, FileUploadParser]

    def post(self, request, *args, **kwargs):
        upload = request.data.get("file")
        if upload is None:
            raise ApplicationError("send the bank file as the multipart field 'file'")
        with failures_refused("The bank file import", tenant=request.tenant.pk):
            bank_file = bank_file_import(data=upload.read(), file_name=getattr(upload, "name", "upload"),
                                         actor=getattr(request.user, "pk", None) and request.user)
        body = {"id": bank_file.pk, "format": bank_file.format, "duplicate": bank_file.duplicate,
                "payments_created": bank_file.payments_created, "duplicates_skipped": bank_file.duplicates_skipped,
                "remittances": bank_file.remittances, "remittances_linked": bank_file.remittances_linked,
                "warnings": bank_file.warnings}
        return Response(body, status=status.HTTP_200_OK if bank_file.duplicate else status.HTTP_201_CREATED)
