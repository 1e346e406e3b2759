from django.urls import path

from o2c.views import area_placeholder

app_name = "deductions"
urlpatterns = [
    path("", area_placeholder, {"area": "deductions"}, name="index"),
]
