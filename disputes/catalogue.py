"""The standard dispute reasons and root causes every tenant starts with, and the per-tenant settings row.

Seeded for existing tenants by migration 0002 and, for tenants created later, on first use
(`catalogue_ensure`), so no tenant is ever without a reason to pick.
"""

from .models import STANDARD_ROOT_CAUSES, Category, DisputeReason, DisputeSettings, RootCause

STANDARD_REASONS = tuple((c.value, c.label) for c in Category)


def catalogue_ensure() -> DisputeSettings:
    """The current tenant's settings row, creating it and the standard catalogues the first time."""
    found = DisputeSettings.objects.first()
    if found is not None:
        return found
    DisputeReason.objects.bulk_create(
        [DisputeReason(code=code, name=name, category=code) for code, name in STANDARD_REASONS],
        ignore_conflicts=True)
    RootCause.objects.bulk_create([RootCause(code=code, name=name) for code, name in STANDARD_ROOT_CAUSES],
                                  ignore_conflicts=True)
    DisputeSettings.objects.bulk_create([DisputeSettings()], ignore_conflicts=True)
    return DisputeSettings.objects.get()
