from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from ..tenancy import TenantModel


class UploadStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    DONE = "done", "Imported"
    FAILED = "failed", "Refused"


class QueuedUpload(FSMModelMixin, TenantModel):
    """A file handed from the browser to a background import: holds the bytes until the task runs, then
    the outcome for the page that polls it (the bytes are dropped either way). Subclasses add the fields
    their outcome needs; `succeed` and `fail` set them. `o2c.services.uploads.queued_upload_run` runs one."""

    file_name = models.CharField(max_length=255)
    content = models.BinaryField(editable=False)
    uploaded_by = models.ForeignKey("o2c.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status = FSMField(default=UploadStatus.QUEUED, choices=UploadStatus.choices, protected=True, max_length=20)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        abstract = True

    def refusal_details(self, exc) -> dict:
        """Fields of this upload to set from a refusal besides its message (see `fail`)."""
        return {}

    @transition(field=status, source=UploadStatus.QUEUED, target=UploadStatus.DONE)
    def succeed(self, **outcome):
        for name, value in outcome.items():
            setattr(self, name, value)
        self.content = b""

    @transition(field=status, source=UploadStatus.QUEUED, target=UploadStatus.FAILED)
    def fail(self, message, **outcome):
        for name, value in outcome.items():
            setattr(self, name, value)
        self.message, self.content = message, b""
