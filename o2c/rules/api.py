"""API for the triage rules (the ERP team's pipeline keeps them in version control):

GET  /api/v1/triage-rules/                     the rules of both kinds, in order, with ids
GET  /api/v1/triage-rules/export/?format=json  the rule file (yaml by default), byte-stable
POST /api/v1/triage-rules/import/              {"format": "yaml"|"json", "content": "<the file>"}, all or nothing
"""

from django.http import HttpResponse
from rest_framework.response import Response

from ..api import TenantAPIView
from ..errors import ApplicationError
from .engine import KINDS
from .fileformat import FORMATS, rule_to_dict
from .services import spec_of, triage_rules, triage_rules_export, triage_rules_replace


class TriageRuleListApi(TenantAPIView):
    capability = "triage.view"

    def get(self, request, *args, **kwargs):
        return Response({kind: [{"id": rule.pk, "position": rule.position, **rule_to_dict(spec_of(rule))}
                                for rule in triage_rules(kind)] for kind in KINDS})


class TriageRuleExportApi(TenantAPIView):
    capability = "triage.view"

    def get(self, request, *args, **kwargs):
        fmt = request.query_params.get("format", "yaml")
        if fmt not in FORMATS:
            raise ApplicationError(f"format must be one of {', '.join(FORMATS)}")
        return HttpResponse(triage_rules_export(fmt),
                            content_type="application/json" if fmt == "json" else "application/yaml")


class TriageRuleImportApi(TenantAPIView):
    capability = "triage.manage"

    def post(self, request, *args, **kwargs):
        fmt, content = request.data.get("format", "yaml"), request.data.get("content")
        if not isinstance(content, str):
            raise ApplicationError('send {"format": "yaml" or "json", "content": "<the rule file>"}')
        actor = getattr(request.user, "pk", None) and request.user
        outcome = triage_rules_replace(content=content, format=fmt, actor=actor)
        return Response({"created": outcome.created, "updated": outcome.updated, "deleted": outcome.deleted,
                         "unchanged": outcome.unchanged})
