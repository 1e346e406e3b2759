"""API v1 for ERPs and CRMs: customers and invoices. Every view derives from TenantAPIView."""

from django.urls import path
from rest_framework import serializers

from .access import customer_scope, invoice_scope
from .api import MoneyField, TenantAPIView
from .models import Customer, Invoice


class CustomerSerializer(serializers.ModelSerializer):
    credit_limit = MoneyField(allow_null=True, required=False)

    class Meta:
        model = Customer
        fields = ["id", "external_id", "name", "parent", "payment_terms", "credit_limit", "currency", "segment", "risk",
                  "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class InvoiceSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    open_balance = MoneyField(read_only=True)
    customer_external_id = serializers.CharField(source="customer.external_id", read_only=True)

    class Meta:
        model = Invoice
        fields = ["id", "number", "customer", "customer_external_id", "issue_date", "due_date", "amount",
                  "currency", "open_balance", "po_number", "discount_percent", "discount_due_date", "status"]
        read_only_fields = fields


class ReadOnlyApi(TenantAPIView):
    capability = "ledger.view"  # portal users too, scoped to their customer by the access functions
    ordering = "-id"

    def get(self, request, *args, **kwargs):
        if self.lookup_url_kwarg in kwargs:
            return self._respond(self.get_serializer(self.get_object()).data)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def _respond(self, data):
        from rest_framework.response import Response

        return Response(data)


class CustomerApi(ReadOnlyApi):
    serializer_class = CustomerSerializer
    lookup_url_kwarg = "customer_id"

    def get_queryset(self):
        return customer_scope(self.request.membership)


class InvoiceApi(ReadOnlyApi):
    serializer_class = InvoiceSerializer
    lookup_url_kwarg = "invoice_id"

    def get_queryset(self):
        qs = invoice_scope(self.request.membership).select_related("customer")
        status = self.request.query_params.get("status")
        return qs.filter(status=status) if status else qs


urlpatterns = [
    path("customers/", CustomerApi.as_view(), name="api_customer_list"),
    path("customers/<int:customer_id>/", CustomerApi.as_view(), name="api_customer_detail"),
    path("invoices/", InvoiceApi.as_view(), name="api_invoice_list"),
    path("invoices/<int:invoice_id>/", InvoiceApi.as_view(), name="api_invoice_detail"),
]
