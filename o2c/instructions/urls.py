from django.urls import path

from . import views

app_name = "instructions"
urlpatterns = [
    path("", views.index, name="index"),
    path("settings/", views.settings_page, name="settings"),
    path("refund-files/", views.refund_file_new, name="refund_file_create"),
    path("refund-files/<int:refund_file_id>/", views.refund_file_download, name="refund_file"),
    path("<int:instruction_id>/", views.detail, name="detail"),
    path("<int:instruction_id>/approve/", views.approve, name="approve"),
    path("<int:instruction_id>/cancel/", views.cancel, name="cancel"),
    path("<int:instruction_id>/done/", views.mark_done, name="mark_done"),
]
