"""Documents attached to cases (proof of delivery, promotion agreements, claims, screenshots).

Files go through Django's storage API (`STORAGES["default"]`): local files under `O2C_MEDIA_ROOT` by
default, any S3-compatible store by setting. Uploads are untrusted: the size is capped, the extension must
be on the list and, for the formats that have one, the file must start with that format's signature, so a
renamed executable is refused with a message that says why. The path never contains the uploader's file
name (only a random folder and a cleaned name), and it starts with the tenant's id.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from dataclasses import dataclass

from django.core.files.storage import default_storage

from .errors import ApplicationError
from .tenancy import current_tenant_id

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
_SIGNATURES = {
    ".pdf": (b"%PDF-",),
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".xlsx": (b"PK\x03\x04",),
    ".docx": (b"PK\x03\x04",),
    ".txt": (),
    ".csv": (),
    ".eml": (),
}
_CONTENT_TYPES = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                  ".gif": "image/gif", ".txt": "text/plain", ".csv": "text/csv", ".eml": "message/rfc822",
                  ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                  ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


class DocumentRefused(ApplicationError):
    """The upload is not a document we keep; the message says why."""


@dataclass(frozen=True)
class StoredDocument:
    path: str  # in the default storage
    name: str  # the cleaned original name, for display and download
    size: int
    sha256: str
    content_type: str


def _clean_name(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", (name or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip(" .")
    return base[:120] or "document"


def check_document(uploaded) -> tuple[str, str]:
    """(clean name, extension) of an acceptable upload, or DocumentRefused."""
    name = _clean_name(getattr(uploaded, "name", ""))
    ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if ext not in _SIGNATURES:
        raise DocumentRefused(f"{name}: only {', '.join(sorted(_SIGNATURES))} files can be attached")
    size = uploaded.size
    if size == 0:
        raise DocumentRefused(f"{name} is empty")
    if size > MAX_DOCUMENT_BYTES:
        raise DocumentRefused(f"{name} is {size // 1024 // 1024} MB; at most {MAX_DOCUMENT_BYTES // 1024 // 1024} MB")
    signatures = _SIGNATURES[ext]
    if signatures:
        uploaded.seek(0)
        head = uploaded.read(16)
        uploaded.seek(0)
        if not any(head.startswith(sig) for sig in signatures):
            raise DocumentRefused(f"{name} does not look like a {ext[1:].upper()} file")
    return name, ext


def document_store(uploaded, *, folder: str) -> StoredDocument:
    """Check and store one upload under the current tenant; returns where it went."""
    name, ext = check_document(uploaded)
    digest = hashlib.sha256()
    uploaded.seek(0)
    for chunk in uploaded.chunks():
        digest.update(chunk)
    uploaded.seek(0)
    path = default_storage.save(f"tenants/{current_tenant_id()}/{folder}/{uuid.uuid4().hex}/{name}", uploaded)
    return StoredDocument(path=path, name=name, size=uploaded.size, sha256=digest.hexdigest(),
                          content_type=_CONTENT_TYPES[ext])


@contextlib.contextmanager
def documents_kept_only_on_success(stored: list[StoredDocument]):
    """Delete the files stored for a write that then failed, so a refused case leaves no file behind."""
    try:
        yield stored
    except BaseException:
        for doc in stored:
            with contextlib.suppress(Exception):
                default_storage.delete(doc.path)
        raise
