"""Running an import, and the one way an import fails.

A file is refused (an ApplicationError: the message says what is wrong with it and where) or it fails for a
reason of ours (any other exception: a bug, a database error). Either way the clerk gets a message and nothing
of the file is stored; a failure of ours is logged with ids and a reference the message repeats. The queued
upload (`queued_upload_run`), the request that imports inline, the API and the management commands all go
through `unexpected_failure`, so none of them shows a 500, a traceback or a page polling forever.
"""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone

from ..errors import ApplicationError
from ..models.uploads import QueuedUpload, UploadStatus

log = logging.getLogger(__name__)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def stored_file_name(name: str) -> str:
    """The uploaded file's name as kept with the import: a label for the clerk, not data, so control characters
    (a NUL would fail the insert) become "?" and a long name is cut to the column (255)."""
    return _CONTROL.sub("?", name or "")[:255]


class ImportFailed(ApplicationError):
    """An import failed for a reason of ours, not the file's; logged under the reference its message gives."""


def unexpected_failure(exc: BaseException, what: str, **ids) -> ImportFailed:
    """Log an unexpected exception of an import with its ids and return the error to show instead.

    The log carries the exception's type and where it was raised, not its message: a database error's message
    quotes the row (bank references, account numbers, remittance text), which the log must not hold."""
    reference = uuid.uuid4().hex[:12]
    chain, cause = [], exc
    while cause is not None and len(chain) < 5:
        chain.append(f"{type(cause).__module__}.{type(cause).__qualname__}")
        cause = cause.__cause__ or cause.__context__
    log.error("%s failed unexpectedly (reference %s; %s): %s (message withheld: it may quote the file)\n%s",
              what, reference, ", ".join(f"{k}={v}" for k, v in ids.items()), " <- ".join(chain),
              "".join(traceback.format_tb(exc.__traceback__)).rstrip())
    return ImportFailed(f"{what} failed because of an error on our side, not in the file (reference {reference}). "
                        "Nothing was stored; try again later, or give the reference to support.")


@contextmanager
def failures_refused(what: str, **ids) -> Iterator[None]:
    """Inline imports: a refusal passes; anything else is logged and becomes an ImportFailed (a 4xx with its
    message on the web and the API, a CommandError in a command)."""
    try:
        yield
    except ApplicationError:
        raise
    except Exception as exc:  # noqa: BLE001 - the point: whatever it is, the caller gets a message, not a 500
        raise unexpected_failure(exc, what, **ids) from exc


def queued_upload_run(model: type[QueuedUpload], *, upload_id: int,
                      work: Callable[[QueuedUpload], dict]) -> QueuedUpload:
    """Run `work` on a queued upload and record its outcome: the dict it returns (fields of the upload) on
    success; on a refusal (ApplicationError) its message and `refusal_details`; on any other exception a
    message with a reference, the exception logged (`unexpected_failure`). Either way the upload ends, so its
    page stops polling. The work runs in a savepoint, so a failure leaves nothing of it behind. Idempotent: an
    upload already finished is returned as it is (a redelivered task changes nothing)."""
    with transaction.atomic():
        upload = model.objects.select_for_update().get(pk=upload_id)
        if upload.status != UploadStatus.QUEUED:
            return upload
        try:
            with transaction.atomic():
                outcome = work(upload)
        except ApplicationError as exc:
            upload.fail(exc.message, **upload.refusal_details(exc))
        except Exception as exc:  # noqa: BLE001 - see the module docstring
            failure = unexpected_failure(exc, "The import", upload=f"{model.__name__} {upload.pk}",
                                         tenant=upload.tenant_id)
            upload.fail(failure.message)
        else:
            upload.succeed(**outcome)
        upload.finished_at = timezone.now()
        upload.save()
        return upload
