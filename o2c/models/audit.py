from django.conf import settings
from django.db import models

from ..tenancy import TenantModel


class AuditEvent(TenantModel):
    """Append-only: the application role may INSERT and SELECT, never UPDATE or DELETE (o2c.rls),
    and a trigger refuses changes even from the owner."""

    append_only = True

    # No index of its own: events are read per object (audit_object_idx), and a global time index is the
    # wrong shape under row-level security while costing an entry per event (a million per big import).
    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT,
                              related_name="+")
    channel = models.CharField(max_length=20)  # web, api, task, command, system
    ip = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=60)  # e.g. invoice.created, customer.updated
    object_type = models.CharField(max_length=60)
    object_id = models.BigIntegerField(null=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)  # {"field": [old, new]}

    class Meta(TenantModel.Meta):
        indexes = [models.Index(fields=["tenant", "object_type", "object_id"], name="audit_object_idx")]
        ordering = ["-created_at", "-id"]
