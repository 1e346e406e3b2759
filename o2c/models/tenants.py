from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q

from ..tenancy import TenantForeignKey, TenantModel


class Tenant(models.Model):
    """A company using o2c. Global table (schema gate allowlist)."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    base_currency = models.CharField(max_length=3, default="USD")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class EmailUserManager(UserManager):
    def create_user(self, email, password=None, **extra):
        extra.setdefault("username", email.lower())
        return super().create_user(email=email.lower(), password=password, **extra)


class User(AbstractUser):
    """A person who signs in. Global (one person can belong to several tenants); what they may
    see and do in a tenant comes from their Membership there."""

    email = models.EmailField(unique=True)
    objects = EmailUserManager()

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["username"]

    def save(self, *args, **kwargs):
        self.email = (self.email or "").lower()
        if not self.username:
            self.username = self.email
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    TENANT_ADMIN = "tenant_admin", "Tenant admin"
    AR_CLERK = "ar_clerk", "AR clerk"
    COLLECTOR = "collector", "Collector"
    FINANCE_LEAD = "finance_lead", "Finance lead"
    PORTAL_USER = "portal_user", "Customer portal user"

    @classmethod
    def staff_roles(cls):
        return {cls.TENANT_ADMIN, cls.AR_CLERK, cls.COLLECTOR, cls.FINANCE_LEAD}


class Membership(TenantModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    # A portal user sees one customer's account (and its children) and nothing else.
    customer = TenantForeignKey("o2c.Customer", null=True, blank=True, related_name="portal_members")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    rls_visible_to_own_user = True

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_one_per_tenant"),
            models.CheckConstraint(
                condition=Q(role="portal_user", customer__isnull=False)
                | (~Q(role="portal_user") & Q(customer__isnull=True)),
                name="membership_portal_user_has_customer",
            ),
        ]

    @property
    def is_staff_role(self) -> bool:
        return self.role in Role.staff_roles()

    def __str__(self):
        return f"{self.user.email} ({self.get_role_display()})"


class Invitation(TenantModel):
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Role.choices)
    customer = TenantForeignKey("o2c.Customer", null=True, blank=True, related_name="+")
    token_hash = models.CharField(max_length=64)
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "token_hash"], name="invitation_token_unique"),
        ]


class ApiToken(TenantModel):
    """A key for an ERP or CRM. Only a SHA-256 of the key is stored; the key is shown once."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AR_CLERK)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "prefix"], name="apitoken_prefix_unique")]
