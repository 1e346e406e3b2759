"""Classes named in the REST_FRAMEWORK settings.

Kept apart from o2c.api because DRF imports them while o2c.api is still importing DRF.
"""

import hashlib
import secrets
from base64 import b64decode
from urllib import parse

from django.core import signing
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.utils.urls import replace_query_param

from .inputs import BadInput
from .models import ApiToken, Membership
from .tenancy import current_tenant_id_or_none, tenant_context


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key(tenant_id: int) -> tuple[str, str]:
    """(prefix, key). The prefix names the tenant so a key can be looked up inside its tenant."""
    prefix = secrets.token_hex(4)
    return prefix, f"o2c_{tenant_id}_{prefix}_{secrets.token_urlsafe(32)}"


class ApiPrincipal:
    """The caller of a token request: an ERP acting in one tenant with the token's role."""

    is_authenticated = True
    is_active = True
    pk = None

    def __init__(self, token: ApiToken):
        self.token = token
        self.membership = Membership(tenant_id=token.tenant_id, role=token.role)
        self.membership.tenant = token.tenant


class ApiTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <key>'")
        key = parts[1].decode(errors="replace")
        try:
            _, tenant_id, prefix, _secret = key.split("_", 3)
            tenant_id = int(tenant_id)
        except ValueError:
            raise exceptions.AuthenticationFailed("malformed API key")
        if not 0 < tenant_id < 2**63:  # a bigint, or the database would answer with an error (a 500)
            raise exceptions.AuthenticationFailed("malformed API key")
        scoped = current_tenant_id_or_none()
        if scoped is not None and scoped != tenant_id:
            # A browser session of one tenant carrying another tenant's key: refuse, never switch.
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        with tenant_context(tenant_id):
            token = ApiToken.objects.select_related("tenant").filter(prefix=prefix, revoked_at=None).first()
        if token is None or not secrets.compare_digest(token.key_hash, hash_key(key)):
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        return ApiPrincipal(token), token

    def authenticate_header(self, request):
        return "Bearer"


class IdCursorPagination(CursorPagination):
    """Stable, index-friendly paging by id: no COUNT(*) over a million rows.

    The cursor is signed: DRF's own is plain base64 of "p=<id>", and a forged "p=abc" reached the
    queryset's filter and answered 500. A cursor this API did not hand out is now a 400 saying so; a
    genuine one only moves the page within the tenant's scope, which the queryset applies anyway.
    """

    ordering = "-id"
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
    _signer = signing.Signer(salt="o2c.api.cursor")

    def encode_cursor(self, cursor):
        url = super().encode_cursor(cursor)
        plain = parse.parse_qs(parse.urlsplit(url).query)[self.cursor_query_param][0]
        return replace_query_param(url, self.cursor_query_param, self._signer.sign(plain))

    def decode_cursor(self, request):
        signed = request.query_params.get(self.cursor_query_param)
        if signed is None:
            return None
        try:
            tokens = parse.parse_qs(b64decode(self._signer.unsign(signed)).decode("ascii"))
            offset, reverse = int(tokens.get("o", ["0"])[0]), tokens.get("r", ["0"])[0] == "1"
            position = tokens.get("p", [None])[0]
        except (signing.BadSignature, ValueError):
            raise BadInput("cursor", "is not a cursor this API handed out; start again from the first page") from None
        return Cursor(offset=offset, reverse=reverse, position=position)
