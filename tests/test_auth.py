"""Sign-in: password, throttling, TOTP (enforced for staff, optional for portal users), sessions,
CSRF, Content-Security-Policy, invitations."""

import base64
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from axes.utils import reset as axes_reset
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from o2c.models import Invitation, Membership, Role
from o2c.services.tenants import invitation_create
from o2c.tenancy import tenant_context
from tests.conftest import PASSWORD
from tests.factories import CustomerFactory, InvoiceFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_axes():
    axes_reset()
    yield
    axes_reset()


def _login(client, email, password=PASSWORD, next_url=None):
    data = {"username": email, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("login"), data)


def _code_for_secret(secret_b32: str, offset: int = 0) -> str:
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    return f"{totp(key, t0=0, step=30, digits=6, drift=offset):06d}"


def _code(device, offset=0):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=offset):06d}"


# --- MFA ---------------------------------------------------------------------------------------

def test_staff_without_device_must_enrol_then_reaches_dashboard(tenant, client):
    user = member(tenant, Role.AR_CLERK)
    response = _login(client, user.email)
    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa"))
    # Not through yet: every workspace page sends them back to the MFA step.
    blocked = client.get(reverse("invoice_list"))
    assert blocked.status_code == 302 and blocked["Location"].startswith(reverse("mfa"))

    page = client.get(response["Location"])
    assert page.status_code == 200
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page.content.decode()).group(1)
    assert b"<svg" in page.content  # the QR code

    done = client.post(response["Location"], {"token": _code_for_secret(secret)})
    assert done.status_code == 302 and done["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    assert TOTPDevice.objects.get(user=user).confirmed


def test_staff_with_device_is_asked_for_the_code(tenant, client):
    user = member(tenant, Role.FINANCE_LEAD)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    response = _login(client, user.email, next_url=reverse("invoice_list"))
    mfa_url = response["Location"]
    assert urlparse(mfa_url).path == reverse("mfa")
    assert parse_qs(urlparse(mfa_url).query)["next"] == [reverse("invoice_list")]
    page = client.get(mfa_url)
    assert b"totp-secret" not in page.content  # no re-enrolment, no secret shown again
    done = client.post(mfa_url, {"token": _code(device)})
    assert done["Location"] == reverse("invoice_list")
    assert client.get(reverse("invoice_list")).status_code == 200


def test_a_wrong_code_keeps_staff_out(tenant, client):
    user = member(tenant, Role.COLLECTOR)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    mfa_url = _login(client, user.email)["Location"]
    wrong = "000000" if _code(device) != "000000" else "111111"
    response = client.post(mfa_url, {"token": wrong})
    assert response.status_code == 200 and b"not valid" in response.content
    assert client.get(reverse("dashboard"))["Location"].startswith(reverse("mfa"))


@pytest.mark.parametrize("role", sorted(Role.staff_roles()))
def test_every_staff_role_is_held_at_mfa(role, tenant, client):
    user = member(tenant, role)
    _login(client, user.email)
    response = client.get(reverse("customer_list"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("mfa"))


def test_portal_user_signs_in_without_mfa(tenant, client):
    with tenant_context(tenant):
        customer = CustomerFactory(name="Portal Customer")
    user = member(tenant, Role.PORTAL_USER, customer=customer)
    response = _login(client, user.email)
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    dashboard = client.get(reverse("dashboard"))
    assert dashboard["Location"] == reverse("customer_detail", args=[customer.pk])
    assert client.get(dashboard["Location"]).status_code == 200


def test_portal_user_who_enrolled_a_device_must_use_it(tenant, client):
    with tenant_context(tenant):
        customer = CustomerFactory()
    user = member(tenant, Role.PORTAL_USER, customer=customer)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    response = _login(client, user.email)
    assert response["Location"].startswith(reverse("mfa"))
    assert client.get(reverse("customer_detail", args=[customer.pk]))["Location"].startswith(reverse("mfa"))


def test_wrong_password_and_unknown_user_look_alike(tenant, client):
    user = member(tenant, Role.AR_CLERK)
    wrong = _login(client, user.email, password="not-the-password")
    unknown = _login(client, "nobody@example.test")
    assert wrong.status_code == unknown.status_code == 200
    assert b"Email or password is wrong" in wrong.content and b"Email or password is wrong" in unknown.content


def test_login_ignores_an_offsite_next(tenant, client):
    with tenant_context(tenant):
        customer = CustomerFactory()
    user = member(tenant, Role.PORTAL_USER, customer=customer)
    response = _login(client, user.email, next_url="https://evil.example/steal")
    assert response["Location"] == reverse("dashboard")


def test_deactivated_member_has_no_access(tenant, client):
    user = member(tenant, Role.PORTAL_USER, customer=_customer(tenant))
    with tenant_context(tenant):
        Membership.objects.filter(user=user).update(is_active=False)
    _login(client, user.email)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and response["Location"] == reverse("no_access")


def _customer(tenant):
    with tenant_context(tenant):
        return CustomerFactory()


# --- throttling --------------------------------------------------------------------------------

def test_axes_locks_out_after_five_failures(tenant, client):
    user = member(tenant, Role.PORTAL_USER, customer=_customer(tenant))
    for _ in range(4):
        assert _login(client, user.email, password="wrong-password").status_code == 200
    assert _login(client, user.email, password="wrong-password").status_code == 429  # the fifth locks
    locked = _login(client, user.email)  # even the right password
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another account from the same address is not punished for this one.
    other = member(tenant, Role.PORTAL_USER, email="other@example.test", customer=_customer(tenant))
    assert _login(Client(), other.email).status_code == 302


def test_successful_login_resets_the_failure_count(tenant, client):
    user = member(tenant, Role.PORTAL_USER, customer=_customer(tenant))
    for _ in range(4):
        _login(client, user.email, password="wrong-password")
    assert _login(client, user.email).status_code == 302
    client.post(reverse("logout"))
    for _ in range(4):
        _login(client, user.email, password="wrong-password")
    assert _login(client, user.email).status_code == 302


# --- sessions ----------------------------------------------------------------------------------

def test_session_key_rotates_on_login_and_after_mfa(tenant, client):
    user = member(tenant, Role.AR_CLERK)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    session = client.session
    session["pre_login"] = "planted"
    session.save()
    anonymous_key = session.session_key
    mfa_url = _login(client, user.email)["Location"]
    after_password = client.session.session_key
    assert after_password != anonymous_key
    client.post(mfa_url, {"token": _code(device)})
    assert client.session.session_key not in (anonymous_key, after_password)
    assert client.get(reverse("dashboard")).status_code == 200


def test_logout_is_post_only_and_ends_the_session(tenant, verified_client):
    client = verified_client(member(tenant, Role.AR_CLERK))
    assert client.get(reverse("logout")).status_code == 405
    assert client.get(reverse("dashboard")).status_code == 200  # the GET did not sign out
    response = client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    after = client.get(reverse("dashboard"))
    assert after.status_code == 302 and after["Location"].startswith(reverse("login"))


# --- CSRF and CSP ------------------------------------------------------------------------------

def test_csrf_is_enforced_on_login(tenant):
    user = member(tenant, Role.PORTAL_USER, customer=_customer(tenant))
    client = Client(enforce_csrf_checks=True)
    assert _login(client, user.email).status_code == 403
    page = client.get(reverse("login"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD,
                                              "csrfmiddlewaretoken": token})
    assert response.status_code == 302


def test_csrf_is_enforced_for_signed_in_posts(tenant):
    admin = member(tenant, Role.TENANT_ADMIN)
    client = Client(enforce_csrf_checks=True)
    device = TOTPDevice.objects.create(user=admin, name="t", confirmed=True)
    client.force_login(admin)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    for name in ("logout", "api_token_create", "invitation_new", "switch_tenant"):
        assert client.post(reverse(name), {"name": "x", "email": "x@example.test"}).status_code == 403, name
    with tenant_context(tenant):
        assert not Invitation.objects.exists()


def _csp(response) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy")
    assert header, "no Content-Security-Policy header"
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


def test_csp_header_forbids_inline_script(tenant, verified_client):
    anonymous = Client().get(reverse("login"))
    with tenant_context(tenant):
        InvoiceFactory()
    signed_in = verified_client(member(tenant, Role.AR_CLERK))
    for response in (anonymous, signed_in.get(reverse("dashboard")), signed_in.get(reverse("invoice_list"))):
        assert response.status_code == 200
        policy = _csp(response)
        script = policy.get("script-src") or policy.get("default-src")
        assert script and "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
        assert policy.get("object-src") == ["'none'"]
        assert policy.get("frame-ancestors") == ["'none'"]
        html = response.content.decode()
        # The policy would block these anyway; their absence means pages work under it.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script> in page"
        assert not re.search(r"\son[a-z]+=\"", html), "inline event handler in page"


def test_security_headers(client):
    response = client.get(reverse("login"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


# --- invitations -------------------------------------------------------------------------------

@pytest.fixture
def invite(tenant, django_capture_on_commit_callbacks):
    admin = member(tenant, Role.TENANT_ADMIN)

    def make(email="new.clerk@example.test", role=Role.AR_CLERK, customer=None):
        with django_capture_on_commit_callbacks(execute=True), tenant_context(tenant):
            return invitation_create(email=email, role=role, invited_by=admin, customer=customer)

    return make


NEW_PASSPHRASE = "a-long-new-passphrase-42"  # noqa: S105 - a test fixture


def _accept(client, url, passphrase=NEW_PASSPHRASE):
    return client.post(url, {"first_name": "New", "last_name": "Clerk", "password": passphrase,
                             "password_again": passphrase})


def test_invitation_is_emailed_and_accepted_once(tenant, invite, client):
    url = invite()
    assert len(mail.outbox) == 1 and url in mail.outbox[0].body
    assert mail.outbox[0].to == ["new.clerk@example.test"]
    path = urlparse(url).path
    assert client.get(path).status_code == 200
    response = _accept(client, path)
    assert response.status_code == 302 and response["Location"] == reverse("login")

    signed_in = _login(Client(), "new.clerk@example.test", password=NEW_PASSPHRASE)
    assert signed_in["Location"].startswith(reverse("mfa"))  # a clerk: staff, so MFA next
    with tenant_context(tenant):
        membership = Membership.objects.get(user__email="new.clerk@example.test")
        assert membership.role == Role.AR_CLERK
        assert Invitation.objects.get().accepted_at is not None

    # Single use: the link is dead now, for GET and POST alike.
    assert client.get(path).status_code == 404
    assert _accept(client, path, passphrase="another-passphrase-77").status_code == 404
    assert _login(Client(), "new.clerk@example.test", password="another-passphrase-77").status_code == 200


def test_portal_invitation_binds_the_customer(tenant, invite, client):
    customer = _customer(tenant)
    path = urlparse(invite(email="buyer@customer.test", role=Role.PORTAL_USER, customer=customer)).path
    _accept(client, path)
    with tenant_context(tenant):
        assert Membership.objects.get(user__email="buyer@customer.test").customer_id == customer.pk


def test_expired_invitation_is_refused(tenant, invite, client):
    path = urlparse(invite()).path
    with tenant_context(tenant):
        Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(path).status_code == 404
    assert _accept(client, path).status_code == 404
    with tenant_context(tenant):
        assert not Membership.objects.filter(user__email="new.clerk@example.test").exists()


def test_tampered_invitation_token_is_refused(invite, client):
    path = urlparse(invite()).path
    token = path.rstrip("/").split("/")[-1]
    forged = path.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    assert client.get(forged).status_code == 404
    assert client.get(reverse("invitation_accept", args=["garbage"])).status_code == 404


def test_invitation_password_must_be_strong(tenant, invite, client):
    path = urlparse(invite()).path
    response = _accept(client, path, passphrase="password12")
    assert response.status_code == 200  # the form again, with the validator's message
    with tenant_context(tenant):
        assert Invitation.objects.get().accepted_at is None


def test_a_member_of_another_tenant_accepts_while_signed_in(tenant, other_tenant, verified_client):
    """The link names its own tenant; the session's tenant scope must not get in the way (was a 500)."""
    admin_b = member(other_tenant, Role.TENANT_ADMIN)
    user = member(tenant, Role.AR_CLERK, email="clerk.of.a@example.test")
    with tenant_context(other_tenant):
        path = urlparse(invitation_create(email=user.email, role=Role.COLLECTOR, invited_by=admin_b)).path
    client = verified_client(user)
    assert client.get(path).status_code == 200
    assert client.post(path, {"password": PASSWORD}).status_code == 302  # joins with the account they have
    with tenant_context(other_tenant):
        assert Membership.objects.get(user=user).role == Role.COLLECTOR
    with tenant_context(tenant):
        assert Membership.objects.get(user=user).role == Role.AR_CLERK  # A's membership untouched


def test_an_invitation_link_cannot_take_over_an_existing_account(tenant, other_tenant, client):
    admin_b = member(other_tenant, Role.TENANT_ADMIN)
    user = member(tenant, Role.AR_CLERK, email="clerk.of.a@example.test")
    with tenant_context(other_tenant):
        path = urlparse(invitation_create(email=user.email, role=Role.COLLECTOR, invited_by=admin_b)).path
    page = client.get(path).content.decode()
    assert "already have an o2c account" in page and 'name="password_again"' not in page

    response = _accept(client, path)  # a new password instead of the account's own
    assert response.status_code == 200 and "not the password of the o2c account" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD) and not user.check_password(NEW_PASSPHRASE)
    with tenant_context(other_tenant):
        assert not Membership.objects.filter(user=user).exists()
        assert Invitation.objects.get().accepted_at is None
