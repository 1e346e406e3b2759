from django.urls import path

from o2c.views import area_placeholder

app_name = "cashapp"
urlpatterns = [
    path("", area_placeholder, {"area": "cashapp"}, name="index"),
]
