"""Django admin for staff.

Tenant rows are reached through the request's tenant scope: the middleware runs every admin request
inside `tenant_context` of the user's active membership, so the default (scoped) manager and the
database's row-level security both show that tenant's rows only. Tenants and users are global tables
and only superusers may see them, because they cut across tenants.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import (
    ApiToken,
    AuditEvent,
    CreditMemo,
    Customer,
    CustomerAlias,
    CustomerBankAccount,
    CustomerContact,
    Invitation,
    Invoice,
    InvoiceImport,
    Membership,
    Tenant,
    User,
)
from .tenancy import current_tenant_id_or_none

admin.site.site_header = "o2c administration"
admin.site.site_title = "o2c admin"
admin.site.index_title = "Records of the current company"


class SuperuserOnly:
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False  # tenants and people are deactivated, never deleted (audit rows point at them)


@admin.register(Tenant)
class TenantAdmin(SuperuserOnly, admin.ModelAdmin):
    list_display = ("name", "slug", "base_currency", "created_at")
    search_fields = ("name", "slug")


@admin.register(User)
class UserAdmin(SuperuserOnly, DjangoUserAdmin):
    list_display = ("email", "first_name", "last_name", "is_staff", "is_superuser", "is_active", "last_login")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)


class TenantScopedAdmin(admin.ModelAdmin):
    """Admin of a tenant table: the current scope's rows; nothing at all outside a scope."""

    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over a million invoices on every page is not worth it

    def get_queryset(self, request):
        if current_tenant_id_or_none() is None:
            return self.model.unscoped.none()
        return self.model.objects.all()


class ReadOnlyAdmin(TenantScopedAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ContactInline(admin.TabularInline):
    model = CustomerContact
    extra = 0


class AliasInline(admin.TabularInline):
    model = CustomerAlias
    extra = 0
    fields = ("alias", "normalized", "source")


@admin.register(Customer)
class CustomerAdmin(TenantScopedAdmin):
    list_display = ("name", "external_id", "payment_terms", "credit_limit", "currency", "is_active")
    search_fields = ("name", "external_id")
    list_filter = ("is_active", "currency")
    raw_id_fields = ("parent",)
    inlines = [ContactInline, AliasInline]


@admin.register(CustomerBankAccount)
class CustomerBankAccountAdmin(TenantScopedAdmin):
    list_display = ("customer", "masked", "bank_name", "created_at")
    raw_id_fields = ("customer",)


@admin.register(Invoice)
class InvoiceAdmin(TenantScopedAdmin):
    list_display = ("number", "customer", "issue_date", "due_date", "amount", "open_balance", "currency", "status")
    list_filter = ("status", "currency")
    search_fields = ("=number", "=po_number")  # exact: a LIKE '%x%' over a million rows is a full scan
    raw_id_fields = ("customer",)
    # Money moves only through services (payments, credit memos), never by hand in the admin.
    readonly_fields = ("status", "open_balance", "created_at", "updated_at")
    list_select_related = ("customer",)


@admin.register(CreditMemo)
class CreditMemoAdmin(TenantScopedAdmin):
    list_display = ("number", "customer", "invoice", "issue_date", "amount", "open_balance", "status")
    list_filter = ("status",)
    search_fields = ("=number",)
    raw_id_fields = ("customer", "invoice")
    readonly_fields = ("status", "open_balance")


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ("user", "role", "customer", "is_active", "created_at")
    list_filter = ("role", "is_active")


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("email", "role", "customer", "invited_by", "created_at", "expires_at", "accepted_at")
    exclude = ("token_hash",)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("name", "prefix", "role", "created_by", "created_at", "revoked_at")
    exclude = ("key_hash",)


@admin.register(InvoiceImport)
class InvoiceImportAdmin(ReadOnlyAdmin):
    list_display = ("file_name", "rows", "created_invoices", "updated_invoices", "unchanged_invoices",
                    "created_customers", "imported_by", "created_at")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Append-only in the database too; the admin only reads it."""

    list_display = ("created_at", "action", "object_type", "object_id", "object_repr", "actor", "channel")
    list_filter = ("channel", "object_type")
    search_fields = ("=action", "=object_type")
