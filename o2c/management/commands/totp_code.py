"""`manage.py totp_code --email E`: the current TOTP code of a user's device. A demo and development aid."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from o2c.models import User


class Command(BaseCommand):
    help = "Print the current TOTP code for a user's authenticator (development and demos only)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)

    def handle(self, *args, email, **options):
        if not settings.DEBUG:
            raise CommandError("totp_code is a development aid and refuses to run with DEBUG off")
        user = User.objects.filter(email=email.strip().lower()).first()
        if user is None:
            raise CommandError(f"no user with email {email!r}")
        # A confirmed device first; otherwise the one being enrolled, so the enrolment step can be passed too.
        device = (TOTPDevice.objects.filter(user=user, confirmed=True).first()
                  or TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first())
        if device is None:
            raise CommandError(f"{user.email} has no authenticator yet: sign in once to start enrolment")
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        self.stdout.write(f"{totp.token():0{device.digits}d}")
