"""API v1 for disputes: list, detail and filing; the thread; transitions. A portal user works only on their
own customer's disputes and never sees internal notes; another tenant's or customer's dispute is a 404."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from rest_framework import serializers
from rest_framework.response import Response

from o2c import inputs
from o2c.access import access_customer_by_id
from o2c.api import MoneyField, TenantAPIView, api_actor
from o2c.errors import ApplicationError
from o2c.money import parse_amount, parse_number
from o2c.permissions import can

from . import integration, selectors, services
from .models import Dispute, DisputeMessage


class DisputeLineSerializer(serializers.Serializer):
    invoice = serializers.IntegerField(source="invoice_id")
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    description = serializers.CharField(read_only=True)
    amount = MoneyField(read_only=True)


class DisputeSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    accepted_amount = MoneyField(read_only=True, allow_null=True)
    reason_code = serializers.CharField(source="reason_code.code", read_only=True)
    root_cause = serializers.CharField(source="root_cause.code", read_only=True, default=None)
    owner = serializers.EmailField(source="owner.email", read_only=True, default=None)
    lines = DisputeLineSerializer(many=True, read_only=True)

    class Meta:
        model = Dispute
        fields = ["id", "number", "customer", "amount", "currency", "status", "resolution", "accepted_amount",
                  "reason_code", "root_cause", "owner", "queue", "priority", "channel", "deduction", "due_at",
                  "escalation_level", "created_at", "lines"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    author = serializers.EmailField(source="author.email", read_only=True, default=None)

    class Meta:
        model = DisputeMessage
        fields = ["id", "author", "from_customer", "internal", "body", "created_at"]
        read_only_fields = fields


def _require(membership, *capabilities):
    if not any(can(membership, c) for c in capabilities):
        raise PermissionDenied


class DisputeBaseApi(TenantAPIView):
    capability = "disputes.api"  # the entry gate; what each role may do is checked per method below

    def get_queryset(self):
        return selectors.dispute_scope(self.request.membership).select_related(
            "reason_code", "root_cause", "owner").prefetch_related("lines__invoice")

    def dispute(self, kwargs) -> Dispute:
        return selectors.access_dispute_by_id(self.request.membership, kwargs["dispute_id"])

    @property
    def portal(self) -> bool:
        return selectors.is_portal(self.request.membership)


class DisputeApi(DisputeBaseApi):
    """GET /disputes/ and /disputes/<id>/; POST /disputes/ files one."""

    serializer_class = DisputeSerializer

    def get(self, request, *args, **kwargs):
        _require(request.membership, "disputes.view", "portal.use")
        if "dispute_id" in kwargs:
            self.dispute(kwargs)  # 404 before anything else
            return Response(self.get_serializer(self.get_queryset().get(pk=kwargs["dispute_id"])).data)
        status = request.query_params.get("status")
        qs = self.get_queryset().filter(status=status) if status else self.get_queryset()
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def post(self, request, *args, **kwargs):
        if "dispute_id" in kwargs:
            self.dispute(kwargs)
            return Response({"detail": "method not allowed"}, status=405)
        _require(request.membership, "disputes.work", "portal.file")
        data = request.data
        lines = _lines(data.get("lines"))
        common = {"reason_code": str(data.get("reason_code", "")), "message": str(data.get("message", "")),
                  "lines": lines, "actor": api_actor(request)}
        if self.portal:
            dispute = services.dispute_file(membership=request.membership, **common)
        elif data.get("deduction"):
            deduction = integration.deduction_for_dispute(request.membership, data["deduction"])
            dispute = services.dispute_from_deduction(deduction=deduction, reason_code=common["reason_code"],
                                                      message=common["message"], actor=api_actor(request))
        else:
            customer = access_customer_by_id(request.membership, data.get("customer"))
            dispute = services.dispute_file_for_customer(customer=customer, **common)
        return Response(self.get_serializer(self.get_queryset().get(pk=dispute.pk)).data, status=201)


def _lines(raw) -> list[services.LineInput]:
    if not isinstance(raw, list) or not raw:
        raise ApplicationError("lines: a list of {invoice, amount, description}")
    lines = []
    for n, item in enumerate(raw, start=1):
        if not isinstance(item, dict) or "invoice" not in item or "amount" not in item:
            raise ApplicationError("each line needs an invoice id and an amount")
        invoice_id = inputs.parse_integer(item["invoice"], field=f"line {n}: invoice")
        # Only a plain number that fits the column: Decimal took "1e999999", whose check against the
        # invoice's currency (in the service, which knows it) raised InvalidOperation, a 500.
        amount = parse_number(str(item["amount"]), label=f"line {n}: amount")
        lines.append(services.LineInput(invoice_id, amount, str(item.get("description", ""))[:300]))
    return lines


class DisputeMessageApi(DisputeBaseApi):
    serializer_class = MessageSerializer
    pagination_class = None

    def get(self, request, *args, **kwargs):
        _require(request.membership, "disputes.view", "portal.use")
        dispute = self.dispute(kwargs)
        return Response(self.get_serializer(selectors.thread(dispute, include_internal=not self.portal),
                                            many=True).data)

    def post(self, request, *args, **kwargs):
        dispute = self.dispute(kwargs)
        _require(request.membership, "disputes.work", "portal.file")
        posted = services.message_post(dispute=dispute, body=str(request.data.get("body", "")),
                                       actor=api_actor(request), from_customer=self.portal,
                                       internal=not self.portal and bool(request.data.get("internal")))
        return Response(self.get_serializer(posted).data, status=201)


class DisputeTransitionApi(DisputeBaseApi):
    """POST {"transition": triage|start_review|request_info|close|resolve|reopen, ...}: 409 when not allowed now."""

    serializer_class = DisputeSerializer

    def post(self, request, *args, **kwargs):
        dispute = self.dispute(kwargs)
        data, actor = request.data, api_actor(request)
        name = str(data.get("transition", ""))
        if name == "resolve":
            _require(request.membership, "disputes.resolve")
            raw = data.get("accepted_amount")
            services.dispute_resolve(dispute=dispute, resolution=str(data.get("resolution", "")),
                                     accepted_amount=parse_amount(str(raw), dispute.currency) if raw else None,
                                     note=str(data.get("note", "")), root_cause=str(data.get("root_cause", "")),
                                     actor=actor)
        elif name == "reopen":
            _require(request.membership, "disputes.work")
            services.dispute_reopen(dispute=dispute, reason=str(data.get("reason", "")), actor=actor)
        else:
            _require(request.membership, "disputes.work")
            services.dispute_transition(dispute=dispute, name=name, actor=actor)
        return Response(self.get_serializer(self.get_queryset().get(pk=dispute.pk)).data)
