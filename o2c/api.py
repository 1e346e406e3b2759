"""The API base class owns tenant resolution and permissions, so an endpoint cannot forget them."""

import logging
from contextlib import ExitStack

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from rest_framework import exceptions, generics, serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.views import exception_handler as drf_exception_handler

from .api_plumbing import ApiPrincipal
from .errors import ApplicationError, ConflictError
from .inputs import BadInput
from .permissions import can
from .tenancy import tenant_context

log = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = 409
    default_detail = "the object's state does not allow this"
    default_code = "conflict"


class HasTenantRole(BasePermission):
    def has_permission(self, request, view):
        membership = getattr(request, "membership", None)
        if membership is None:
            return False
        # Fail closed: an endpoint that names no capability lets nobody in.
        capability = getattr(view, "capability", None)
        return bool(capability) and can(membership, capability)


class TenantAPIView(generics.GenericAPIView):
    """Base of every API endpoint: authenticated, tenant-scoped, role-checked.

    Session callers arrive already scoped by the middleware; token callers are scoped here, for the
    whole handling of the request, and the scope is always left.
    """

    permission_classes = [IsAuthenticated, HasTenantRole]
    capability: str | None = None  # a name from o2c/permissions.py; every endpoint must set one

    def dispatch(self, request, *args, **kwargs):
        with ExitStack() as stack:
            self._scope_stack = stack
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        self.perform_authentication(request)
        user = request.user
        if isinstance(user, ApiPrincipal):
            self._scope_stack.enter_context(tenant_context(user.token.tenant_id))
            request.membership = request._request.membership = user.membership
            request.tenant = user.membership.tenant
        super().initial(request, *args, **kwargs)
        if request.method in ("POST", "PUT", "PATCH") and not isinstance(request.data, dict):
            # Every endpoint reads fields of an object; a JSON list or string made `.get` a 500.
            raise BadInput("body", "must be a JSON object (or form fields)")


def exception_handler(exc, context):
    if isinstance(exc, ConflictError):
        exc = Conflict({"detail": exc.message, **exc.extra})
    elif isinstance(exc, ApplicationError):
        exc = exceptions.ValidationError({"detail": exc.message, **exc.extra})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("not found")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    # The error was turned into a response, so nothing re-raises through the request's transaction:
    # roll back whatever the failed request wrote.
    if connection.in_atomic_block:
        connection.set_rollback(True)
    return response


def api_actor(request):
    """The signed-in user; an API key acts as nobody in particular (the audit event says channel api).
    Services store the actor as a User: passing the key's principal raised a ValueError (a 500)."""
    from .models import User

    return request.user if isinstance(request.user, User) else None


class MoneyField(serializers.DecimalField):
    def __init__(self, **kwargs):
        super().__init__(max_digits=18, decimal_places=4, coerce_to_string=True, **kwargs)


