"""API v1 endpoints of the disputes app, included under /api/v1/ by o2c/urls.py."""

urlpatterns: list = []
