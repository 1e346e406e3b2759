"""`manage.py create_user --tenant SLUG --email E --role ROLE [--password P] [--customer EXTERNAL_ID] [--superuser]`"""

import secrets

from django.core.management.base import BaseCommand, CommandError

from o2c.errors import ApplicationError
from o2c.models import Customer, Role
from o2c.services.tenants import tenant_by_slug, user_create
from o2c.tenancy import RequestOrigin, origin_context, tenant_context


class Command(BaseCommand):
    help = "Create a user (or reuse one by email) and give them a role in a tenant."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--password", help="omit to generate one (printed once)")
        parser.add_argument("--customer", help="customer external id; required for portal_user")
        parser.add_argument("--superuser", action="store_true", help="may also use /admin/")

    def handle(self, *args, tenant, email, role, password, customer, superuser, **options):
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        try:
            tenant_obj = tenant_by_slug(tenant)
            with origin_context(RequestOrigin(channel="command")), tenant_context(tenant_obj):
                customer_obj = None
                if customer:
                    customer_obj = Customer.objects.filter(external_id=customer).first()
                    if customer_obj is None:
                        raise ApplicationError(f"no customer with external id {customer!r} in tenant {tenant}")
                user, membership = user_create(email=email, role=role, password=password, customer=customer_obj)
                if superuser and not user.is_superuser:
                    user.is_staff = user.is_superuser = True
                    user.save(update_fields=["is_staff", "is_superuser"])
        except ApplicationError as exc:
            raise CommandError(exc.message)
        self.stdout.write(self.style.SUCCESS(
            f"{user.email} is {membership.get_role_display()} in {tenant_obj.slug}"
            + (f" for customer {customer_obj}" if customer_obj else "")
            + (" (superuser)" if user.is_superuser else "")
        ))
        if generated and user.check_password(password):
            self.stdout.write(f"Password: {password}")
        elif generated:
            self.stdout.write("Existing user: their password is unchanged.")
        if role in Role.staff_roles():
            self.stdout.write("Staff roles enrol a TOTP authenticator on first sign-in.")
