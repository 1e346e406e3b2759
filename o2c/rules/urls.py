from django.urls import path

from . import views

app_name = "triage"
urlpatterns = [
    path("", views.rule_list, name="rules"),
    path("new/", views.rule_edit, name="rule_new"),  # ?kind=deduction or dispute
    path("check/", views.rule_check, name="rule_check"),
    path("export/", views.rules_export, name="export"),
    path("import/", views.rules_import, name="import"),
    path("<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("<int:rule_id>/move/", views.rule_move, name="rule_move"),
    path("<int:rule_id>/enable/", views.rule_enable, name="rule_enable"),
    path("<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
]
