"""API v1 endpoints of the disputes app, included under /api/v1/ by o2c/urls.py."""

from django.urls import path

from .api import DisputeApi, DisputeMessageApi, DisputeTransitionApi

urlpatterns = [
    path("disputes/", DisputeApi.as_view(), name="api_dispute_list"),
    path("disputes/<int:dispute_id>/", DisputeApi.as_view(), name="api_dispute_detail"),
    path("disputes/<int:dispute_id>/messages/", DisputeMessageApi.as_view(), name="api_dispute_messages"),
    path("disputes/<int:dispute_id>/transitions/", DisputeTransitionApi.as_view(), name="api_dispute_transition"),
]
