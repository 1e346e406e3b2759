from django.urls import path

from . import views

app_name = "disputes"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.new, name="new"),
    path("settings/", views.settings_page, name="settings"),
    path("<int:dispute_id>/", views.detail, name="detail"),
    path("<int:dispute_id>/live/", views.live, name="live"),
    path("<int:dispute_id>/transition/", views.transition, name="transition"),
    path("<int:dispute_id>/resolve/", views.resolve, name="resolve"),
    path("<int:dispute_id>/reopen/", views.reopen, name="reopen"),
    path("<int:dispute_id>/update/", views.update, name="update"),
    path("<int:dispute_id>/messages/", views.message, name="message"),
    path("attachments/<int:dispute_attachment_id>/", views.attachment, name="attachment"),
    path("portal/", views.portal_list, name="portal_list"),
    path("portal/new/", views.portal_new, name="portal_new"),
    path("portal/<int:dispute_id>/", views.portal_detail, name="portal_detail"),
    path("portal/<int:dispute_id>/live/", views.portal_live, name="portal_live"),
    path("portal/<int:dispute_id>/reply/", views.portal_reply, name="portal_reply"),
]
