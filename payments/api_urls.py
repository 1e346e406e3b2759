"""API v1 endpoints of the payments app, included under /api/v1/ by o2c/urls.py."""

from django.urls import path

from .api import BankFileApi, PaymentApi

urlpatterns = [
    path("payments/", PaymentApi.as_view(), name="api_payment_list"),
    path("payments/<int:payment_id>/", PaymentApi.as_view(), name="api_payment_detail"),
    path("bank-files/", BankFileApi.as_view(), name="api_bank_file_create"),
]
