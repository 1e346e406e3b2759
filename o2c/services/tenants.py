"""Tenants, users, memberships, invitations, API tokens."""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from ..errors import ApplicationError, ConflictError
from ..models import ApiToken, Customer, Invitation, Membership, Role, Tenant, User
from ..rules.services import triage_defaults_install
from ..tenancy import current_tenant_id, tenant_context
from .audit import audit_event

INVITATION_SALT = "o2c.invitation"
INVITATION_DAYS = 7


@transaction.atomic
def tenant_create(*, slug: str, name: str, base_currency: str = "USD") -> Tenant:
    if slugify(slug) != slug:
        raise ApplicationError(f"tenant slug {slug!r} may contain only lowercase letters, digits and hyphens")
    if Tenant.objects.filter(slug=slug).exists():
        raise ConflictError(f"a tenant with slug {slug!r} already exists")
    tenant = Tenant.objects.create(slug=slug, name=name, base_currency=base_currency.upper())
    with tenant_context(tenant):
        triage_defaults_install()  # so triage works on day one
    return tenant


def tenant_by_slug(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise ApplicationError(f"no tenant with slug {slug!r}")
    return tenant


def _check_role(role: str, customer: Customer | None) -> None:
    if role not in Role.values:
        raise ApplicationError(f"unknown role {role!r}; choose one of {', '.join(Role.values)}")
    if role == Role.PORTAL_USER and customer is None:
        raise ApplicationError("a customer portal user must be bound to a customer")
    if role != Role.PORTAL_USER and customer is not None:
        raise ApplicationError("only customer portal users are bound to a customer")


def user_create(*, email: str, role: str, password: str | None = None, customer: Customer | None = None,
                first_name: str = "", last_name: str = "", check_password: bool = True) -> tuple[User, Membership]:
    """Create (or reuse) the person and give them a role in the current tenant."""
    _check_role(role, customer)
    email = email.strip().lower()
    with transaction.atomic():
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User(email=email, username=email, first_name=first_name, last_name=last_name)
            if password:
                if check_password:
                    try:
                        validate_password(password, user)
                    except ValidationError as exc:
                        raise ApplicationError("; ".join(exc.messages))
                user.set_password(password)
            else:
                user.set_unusable_password()
            user.save()
        try:
            with transaction.atomic():
                membership = Membership.objects.create(user=user, role=role, customer=customer)
        except IntegrityError:
            raise ConflictError(f"{email} is already a member of this tenant")
        audit_event("membership.created", membership, {"role": [None, role]})
    return user, membership


@transaction.atomic
def invitation_create(*, email: str, role: str, invited_by: User, customer: Customer | None = None) -> str:
    """Email an invitation; returns the accept URL (also in the email)."""
    _check_role(role, customer)
    email = email.strip().lower()
    if Membership.objects.filter(user__email=email).exists():
        raise ConflictError(f"{email} is already a member of this tenant")
    nonce = secrets.token_urlsafe(24)
    invitation = Invitation.objects.create(
        email=email, role=role, customer=customer, invited_by=invited_by,
        token_hash=hashlib.sha256(nonce.encode()).hexdigest(),
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    audit_event("invitation.created", invitation, {"email": [None, email], "role": [None, role]})
    token = signing.dumps({"t": current_tenant_id(), "i": invitation.pk, "n": nonce}, salt=INVITATION_SALT)
    url = settings.O2C_BASE_URL.rstrip("/") + reverse("invitation_accept", args=[token])
    tenant_name = Tenant.objects.get(pk=current_tenant_id()).name
    transaction.on_commit(lambda: send_mail(
        subject=f"You are invited to {tenant_name} on o2c",
        message=(f"{invited_by.get_full_name() or invited_by.email} invited you to {tenant_name} on o2c as "
                 f"{Role(role).label}.\n\nSet your password here (valid {INVITATION_DAYS} days):\n{url}\n"),
        from_email=None, recipient_list=[email],
    ))
    return url


def invitation_from_token(token: str) -> Invitation:
    """The pending invitation a token names, or an ApplicationError. Enters no scope itself."""
    try:
        data = signing.loads(token, salt=INVITATION_SALT, max_age=timedelta(days=INVITATION_DAYS))
        tenant_id, invitation_id, nonce = int(data["t"]), int(data["i"]), str(data["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ApplicationError("this invitation link is invalid or has expired")
    if current_tenant_id() != tenant_id:
        raise ApplicationError("this invitation link is invalid or has expired")
    invitation = Invitation.objects.filter(pk=invitation_id).first()
    if (invitation is None or invitation.accepted_at is not None or invitation.expires_at < timezone.now()
            or not secrets.compare_digest(invitation.token_hash, hashlib.sha256(nonce.encode()).hexdigest())):
        raise ApplicationError("this invitation link is invalid, used or has expired")
    return invitation


def invitation_tenant_id(token: str) -> int | None:
    try:
        return int(signing.loads(token, salt=INVITATION_SALT, max_age=timedelta(days=INVITATION_DAYS))["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def invitation_accept(*, token: str, password: str, first_name: str = "", last_name: str = "") -> User:
    invitation = invitation_from_token(token)
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at is not None:
            raise ConflictError("this invitation has already been used")
        existing = User.objects.filter(email=locked.email.strip().lower()).first()
        if existing is not None:
            # Someone who already has an o2c account joins with it: the link alone must not let
            # whoever holds it take over the account by choosing a new password.
            if not existing.check_password(password):
                raise ApplicationError(f"that is not the password of the o2c account {existing.email}")
            password = None
        user, _ = user_create(email=locked.email, role=locked.role, password=password, customer=locked.customer,
                              first_name=first_name, last_name=last_name)
        locked.accepted_at = timezone.now()
        locked.save(update_fields=["accepted_at"])
        audit_event("invitation.accepted", locked)
    return user


@transaction.atomic
def api_token_create(*, name: str, role: str, created_by: User) -> tuple[ApiToken, str]:
    from ..api_plumbing import hash_key, new_api_key

    _check_role(role, None)
    prefix, key = new_api_key(current_tenant_id())
    token = ApiToken.objects.create(name=name, prefix=prefix, key_hash=hash_key(key), role=role,
                                    created_by=created_by)
    audit_event("api_token.created", token, {"role": [None, role]})
    return token, key


def api_token_revoke(*, token: ApiToken, actor: User) -> ApiToken:
    """Revoke a key for good; revoking twice is a no-op, not an error."""
    with transaction.atomic():
        locked = ApiToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit_event("api_token.revoked", locked, {"revoked_at": [None, locked.revoked_at]})
    return locked


def membership_deactivate(*, membership: Membership, actor: User) -> Membership:
    """Take a person's access to this tenant away (their user and history stay)."""
    if membership.user_id == actor.pk:
        raise ApplicationError("you cannot remove your own access; ask another tenant admin")
    with transaction.atomic():
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if locked.is_active:
            if locked.role == Role.TENANT_ADMIN and not Membership.objects.filter(
                    role=Role.TENANT_ADMIN, is_active=True).exclude(pk=locked.pk).exists():
                raise ApplicationError("a tenant needs at least one active tenant admin")
            locked.is_active = False
            locked.save(update_fields=["is_active"])
            audit_event("membership.deactivated", locked, {"is_active": [True, False]})
    return locked


def invitation_revoke(*, invitation: Invitation, actor: User) -> None:
    """Make a pending invitation's link useless by expiring it now."""
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at is not None:
            raise ConflictError("this invitation has already been accepted")
        locked.expires_at = timezone.now()
        locked.save(update_fields=["expires_at"])
        audit_event("invitation.revoked", locked, {"email": [locked.email, locked.email]})


__all__ = [
    "api_token_create", "api_token_revoke", "invitation_accept", "invitation_create", "invitation_from_token",
    "invitation_revoke", "membership_deactivate", "tenant_by_slug", "tenant_context", "tenant_create", "user_create",
]
