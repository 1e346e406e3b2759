from django.urls import path

from o2c.views import area_placeholder

app_name = "reporting"
urlpatterns = [
    path("", area_placeholder, {"area": "reporting"}, name="index"),
]
