from django.urls import path

from . import views

app_name = "cashapp"
urlpatterns = [
    path("", views.queue, name="index"),
    path("unapplied/", views.unapplied, name="unapplied"),
    path("settings/", views.settings_view, name="settings"),
    path("runs/", views.run_start, name="run_start"),
    path("runs/<int:matching_run_id>/", views.run_status, name="run"),
    path("suggestions/<int:suggestion_id>/accept/", views.suggestion_accept_view, name="suggestion_accept"),
    path("suggestions/<int:suggestion_id>/reject/", views.suggestion_reject_view, name="suggestion_reject"),
    path("payments/<int:payment_id>/", views.payment_workspace, name="payment"),
    path("payments/<int:payment_id>/apply/", views.payment_apply_view, name="payment_apply"),
    path("applications/<int:application_id>/reverse/", views.application_reverse_view, name="application_reverse"),
    path("invoices/search/", views.invoice_search, name="invoice_search"),
    path("invoices/row/", views.allocation_row, name="allocation_row"),
]
