"""Sign-in: password (throttled by django-axes), then TOTP; staff must enrol, portal users may."""

from urllib.parse import urlencode

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice

from .access import SESSION_TENANT_KEY, memberships_of
from .errors import ApplicationError, ConflictError
from .inputs import safe_next
from .models import User
from .services.tenants import invitation_accept, invitation_from_token, invitation_tenant_id
from .tenancy import tenant_context


class LoginForm(forms.Form):
    username = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autofocus": True,
                                                                             "autocomplete": "username"}))
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class TokenForm(forms.Form):
    token = forms.CharField(label="6-digit code", max_length=8, widget=forms.TextInput(
        attrs={"autofocus": True, "autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]*"}))


def _safe_next(request, fallback="dashboard"):
    return safe_next(request, reverse(fallback))


@require_http_methods(["GET", "POST"])
def login_view(request):
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = authenticate(request, username=form.cleaned_data["username"].lower(),
                            password=form.cleaned_data["password"])
        if getattr(request, "axes_locked_out", False):
            return render(request, "auth/locked_out.html", status=429)
        if user is None:
            form.add_error(None, "Email or password is wrong.")
        else:
            login(request, user)  # rotates the session key
            memberships = memberships_of(user, request.session)
            if memberships:
                request.session[SESSION_TENANT_KEY] = memberships[0].tenant_id
            nxt = _safe_next(request)
            if memberships and (memberships[0].is_staff_role or user_has_device(user, confirmed=True)):
                return redirect(f"{reverse('mfa')}?{urlencode({'next': nxt})}")
            return redirect(nxt)
    return render(request, "auth/login.html", {"form": form, "next": request.GET.get("next", "")})


@login_required
@require_http_methods(["GET", "POST"])
def mfa_view(request):
    """Verify a TOTP code, enrolling a device first when the user has none."""
    user = request.user
    if user.is_verified():
        return redirect(_safe_next(request))
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first() or TOTPDevice.objects.create(
            user=user, name="Authenticator app", confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_is_allowed()[0] and device.verify_token(form.cleaned_data["token"].strip()):
            if enrolling:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            otp_login(request, device)
            request.session.cycle_key()  # a new session id once fully signed in
            return redirect(_safe_next(request))
        form.add_error("token", "That code is not valid. Check your device's clock and try the current code.")
    context = {"form": form, "enrolling": enrolling, "next": request.GET.get("next", "")}
    if enrolling:
        context["qr_svg"] = segno.make(device.config_url, error="m").svg_inline(scale=4)
        context["secret"] = _base32_secret(device)
    return render(request, "auth/mfa.html", context)


def _base32_secret(device) -> str:
    import base64

    return base64.b32encode(device.bin_key).decode().rstrip("=")


@require_POST
def logout_view(request):
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("login")


@login_required
def no_access(request):
    return render(request, "auth/no_access.html", status=403)


@login_required
@require_POST
def switch_tenant(request):
    wanted = request.POST.get("tenant_id")
    for membership in memberships_of(request.user, request.session):
        if str(membership.tenant_id) == wanted:
            request.session[SESSION_TENANT_KEY] = membership.tenant_id
            return redirect("dashboard")
    return redirect("dashboard")


class AcceptInvitationForm(forms.Form):
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), min_length=10)
    password_again = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean(self):
        data = super().clean()
        if data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data


class JoinWithExistingAccountForm(forms.Form):
    password = forms.CharField(label="Your o2c password",
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


@require_http_methods(["GET", "POST"])
def invitation_accept_view(request, token):
    tenant_id = invitation_tenant_id(token)
    if tenant_id is None:
        return render(request, "auth/invitation_invalid.html", status=404)
    with tenant_context(tenant_id):
        try:
            invitation = invitation_from_token(token)
        except ApplicationError:
            return render(request, "auth/invitation_invalid.html", status=404)
        has_account = User.objects.filter(email=invitation.email.strip().lower()).exists()
        form_class = JoinWithExistingAccountForm if has_account else AcceptInvitationForm
        form, status = form_class(request.POST or None), 200
        if request.method == "POST" and form.is_valid():
            try:
                invitation_accept(token=token, password=form.cleaned_data["password"],
                                  first_name=form.cleaned_data.get("first_name", ""),
                                  last_name=form.cleaned_data.get("last_name", ""))
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                if isinstance(exc, ConflictError):  # used meanwhile; other refusals re-show the form as before
                    status = 409
            else:
                messages.success(request, "Your account is ready. Sign in to continue.")
                return redirect("login")
        return render(request, "auth/invitation_accept.html", {"form": form, "invitation": invitation,
                                                                "tenant": invitation.tenant,
                                                                "has_account": has_account}, status=status)
