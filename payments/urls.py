from django.urls import path

from . import views

app_name = "payments"
urlpatterns = [
    path("", views.payment_list, name="index"),
    path("upload/", views.upload, name="upload"),
    path("uploads/<int:bank_file_upload_id>/", views.upload_status, name="upload_status"),
    path("files/<int:bank_file_id>/", views.bank_file_detail, name="bank_file"),
    path("mappings/", views.mapping_list, name="mappings"),
    path("mappings/new/", views.mapping_edit, name="mapping_new"),
    path("mappings/<int:mapping_id>/", views.mapping_edit, name="mapping_edit"),
]
