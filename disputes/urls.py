from django.urls import path

from o2c.views import area_placeholder

app_name = "disputes"
urlpatterns = [
    path("", area_placeholder, {"area": "disputes"}, name="index"),
]
