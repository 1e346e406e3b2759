"""The one application error type. Services raise it with a message a clerk can act on."""


class ApplicationError(Exception):
    def __init__(self, message: str, *, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class TenantNotSet(RuntimeError):
    """Raised by tenant-scoped managers when no tenant is in scope: queries fail closed."""
