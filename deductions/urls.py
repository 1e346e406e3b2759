from django.urls import path

from . import views

app_name = "deductions"
urlpatterns = [
    path("", views.deduction_list, name="index"),
    path("new/", views.deduction_new, name="new"),
    path("merge/", views.deduction_merge_view, name="merge"),
    path("remittance/", views.remittance_upload, name="remittance_upload"),
    path("reason-codes/", views.reason_codes, name="reason_codes"),
    path("reason-codes/import/", views.customer_codes_import, name="customer_codes_import"),
    path("promotions/", views.promotions, name="promotions"),
    path("portal/", views.portal_list, name="portal_list"),
    path("portal/new/", views.portal_new, name="portal_new"),
    path("portal/<int:deduction_id>/", views.portal_detail, name="portal_detail"),
    path("<int:deduction_id>/", views.deduction_detail, name="detail"),
    path("<int:deduction_id>/action/", views.deduction_action, name="action"),
    path("<int:deduction_id>/documents/", views.document_upload, name="document_upload"),
    path("documents/<int:document_id>/", views.document_download, name="document_download"),
]
