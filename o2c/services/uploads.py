"""Running a queued upload (`o2c.models.uploads.QueuedUpload`): the step bank-file and invoice uploads share."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from ..errors import ApplicationError
from ..models.uploads import QueuedUpload, UploadStatus


def queued_upload_run(model: type[QueuedUpload], *, upload_id: int, work: Callable[[QueuedUpload], dict],
                      refused: tuple[type[ApplicationError], ...] = (ApplicationError,)) -> QueuedUpload:
    """Run `work` on a queued upload and record its outcome: the dict it returns (fields of the upload) on
    success, the refusal's message and `refusal_details` when it raises one of `refused`. The work runs in a
    savepoint, so a refusal leaves nothing of it behind. Idempotent: an upload already finished is returned
    as it is (a redelivered task changes nothing)."""
    with transaction.atomic():
        upload = model.objects.select_for_update().get(pk=upload_id)
        if upload.status != UploadStatus.QUEUED:
            return upload
        try:
            with transaction.atomic():
                outcome = work(upload)
        except refused as exc:
            upload.fail(exc.message, **upload.refusal_details(exc))
        else:
            upload.succeed(**outcome)
        upload.finished_at = timezone.now()
        upload.save()
        return upload
