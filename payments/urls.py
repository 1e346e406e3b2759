from django.urls import path

from o2c.views import area_placeholder

app_name = "payments"
urlpatterns = [
    path("", area_placeholder, {"area": "payments"}, name="index"),
]
