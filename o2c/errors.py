"""The application's error types. Services raise them with a message a clerk can act on; the web and the
API turn `ApplicationError` into a 400 (the input is wrong) and `ConflictError` into a 409 (the input is
fine, but the object's state does not allow it now: an illegal state move, something done already)."""


class ApplicationError(Exception):
    status_code = 400

    def __init__(self, message: str, *, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ConflictError(ApplicationError):
    """The object is not in a state that allows this (e.g. resolving a closed deduction)."""

    status_code = 409


class TenantNotSet(RuntimeError):
    """Raised by tenant-scoped managers when no tenant is in scope: queries fail closed."""
