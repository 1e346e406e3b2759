"""API v1 endpoints of the deductions app, included under /api/v1/ by o2c/urls.py."""

from django.urls import path

from . import api

urlpatterns = [
    path("deductions/", api.DeductionApi.as_view(), name="api_deductions"),
    path("deductions/create/", api.DeductionCreateApi.as_view(), name="api_deduction_create"),
    path("deductions/export.csv", api.DeductionExportApi.as_view(), name="api_deductions_export"),
    path("deductions/<int:deduction_id>/", api.DeductionApi.as_view(), name="api_deduction"),
    path("deductions/<int:deduction_id>/transitions/", api.DeductionTransitionApi.as_view(),
         name="api_deduction_transition"),
]
