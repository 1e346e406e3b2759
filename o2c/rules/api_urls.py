from django.urls import path

from .api import TriageRuleExportApi, TriageRuleImportApi, TriageRuleListApi

urlpatterns = [
    path("triage-rules/", TriageRuleListApi.as_view(), name="api_triage_rules"),
    path("triage-rules/export/", TriageRuleExportApi.as_view(), name="api_triage_rules_export"),
    path("triage-rules/import/", TriageRuleImportApi.as_view(), name="api_triage_rules_import"),
]
