"""Web requests enter the tenant scope here, and staff must have passed MFA to go further."""

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect
from django.template.response import SimpleTemplateResponse
from django.urls import reverse
from django_otp import user_has_device

from .access import active_membership
from .inputs import BadInput, request_problem
from .tenancy import RequestOrigin, origin_context, tenant_context

# Pages a signed-in user may reach before choosing a tenant or finishing MFA.
_OPEN_URL_NAMES = {"login", "logout", "mfa", "invitation_accept", "no_access"}
# Pages that enter the scope their URL names (an invitation to another tenant), never the session's.
_OWN_SCOPE_URL_NAMES = {"invitation_accept"}


def client_ip(request) -> str | None:
    """The address the audit log records.

    X-Forwarded-For is written by whoever sends the request, so it is believed only when the
    deployment says a proxy of its own is in front (`O2C_BEHIND_PROXY`), and then only its last hop:
    the one that proxy appended. Anything else would let a client choose the address in the log.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if forwarded and getattr(settings, "O2C_BEHIND_PROXY", False):
        return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR")


class TenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tenant = None
        request.membership = None
        user = request.user
        origin = RequestOrigin(
            user_id=user.pk if user.is_authenticated else None,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            channel="api" if request.path.startswith("/api/") else "web",
        )
        with origin_context(origin):
            if not user.is_authenticated or request.path.startswith("/static/"):
                return self.get_response(request)
            url_name = _url_name(request)
            if url_name in _OWN_SCOPE_URL_NAMES:
                return self.get_response(request)
            membership = active_membership(request)
            if membership is None:
                if url_name in _OPEN_URL_NAMES:
                    return self.get_response(request)
                return redirect("no_access")
            needs_mfa = membership.is_staff_role or user_has_device(user, confirmed=True)
            if needs_mfa and not user.is_verified() and url_name not in _OPEN_URL_NAMES:
                return redirect(f"{reverse('mfa')}?next={request.get_full_path()}")
            with tenant_context(membership.tenant_id):
                request.tenant = membership.tenant
                request.membership = membership
                response = self.get_response(request)
                if response.status_code >= 500:
                    # A view's exception became this response before reaching the scope's
                    # transaction: roll back what the request wrote.
                    transaction.set_rollback(True)
                return response


def _url_name(request):
    from django.urls import Resolver404, resolve

    try:
        return resolve(request.path_info).url_name
    except Resolver404:
        return None


class InputGuardMiddleware:
    """Refuses a request that carries a control character (a NUL, say) in its path, query string, form
    fields, file names or JSON strings with a 400 naming the field, before any view or database sees it,
    and a query value longer than any o2c reads. One place for every page and endpoint: Postgres refuses
    NUL in text, so a view that passed one on answered 500. It also turns `BadInput` (o2c.inputs) raised
    by a web view into the same 400 page; the API's error handler answers it as JSON."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            request_problem(request)
        except BadInput as exc:
            return bad_request(request, exc.message)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, BadInput):
            if transaction.get_connection().in_atomic_block:
                transaction.set_rollback(True)  # nothing partial of a refused request is kept
            return bad_request(request, exception.message)
        return None


def bad_request(request, message: str):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=400)  # the shape of the API's error handler
    response = SimpleTemplateResponse("o2c/bad_request.html", {"message": message}, status=400)
    return response.render()
