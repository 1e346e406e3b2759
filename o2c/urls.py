from django.contrib import admin
from django.urls import include, path

from . import api_views, auth_views, views

urlpatterns = [
    path("login/", auth_views.login_view, name="login"),
    path("logout/", auth_views.logout_view, name="logout"),
    path("mfa/", auth_views.mfa_view, name="mfa"),
    path("no-access/", auth_views.no_access, name="no_access"),
    path("switch-tenant/", auth_views.switch_tenant, name="switch_tenant"),
    path("invite/<str:token>/", auth_views.invitation_accept_view, name="invitation_accept"),
    path("", views.dashboard, name="dashboard"),
    path("customers/", views.customer_list, name="customer_list"),
    path("customers/<int:customer_id>/", views.customer_detail, name="customer_detail"),
    path("invoices/", views.invoice_list, name="invoice_list"),
    path("invoices/import/", views.invoice_import, name="invoice_import"),
    path("invoices/import/uploads/<int:invoice_upload_id>/", views.invoice_upload_status,
         name="invoice_upload_status"),
    path("invoices/<int:invoice_id>/", views.invoice_detail, name="invoice_detail"),
    path("settings/users/", views.user_list, name="user_list"),
    path("settings/users/invite/", views.invitation_new, name="invitation_new"),
    path("settings/users/<int:membership_id>/deactivate/", views.membership_remove, name="membership_deactivate"),
    path("settings/invitations/<int:invitation_id>/revoke/", views.invitation_cancel, name="invitation_revoke"),
    path("settings/triage-rules/", include("o2c.rules.urls")),
    path("settings/api-tokens/", views.api_token_new, name="api_token_create"),
    path("settings/api-tokens/<int:api_token_id>/revoke/", views.api_token_revoke_view, name="api_token_revoke"),
    path("collections/", views.area_placeholder, {"area": "collections"}, name="collections"),
    path("payments/", include("payments.urls")),
    path("cash-application/", include("cashapp.urls")),
    path("deductions/", include("deductions.urls")),
    path("disputes/", include("disputes.urls")),
    path("reports/", include("reporting.urls")),
    path("api/v1/", include(api_views.urlpatterns)),
    path("api/v1/", include("o2c.rules.api_urls")),
    path("api/v1/", include("deductions.api_urls")),
    path("api/v1/", include("disputes.api_urls")),
    path("admin/", admin.site.urls),
]
