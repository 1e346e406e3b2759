"""Who may do what: one table from capability to the roles that have it.

Views (`capability_required`), API views (`TenantAPIView.capability`) and templates (`caps`, from the
context processor) all ask this table; no role list is written anywhere else. What a role may *see*
within its capability (a portal user only its own customer) is the access functions' business
(`o2c/access.py`); how *much* it may approve is `approval limits` on the payment instructions.
"""

from .models.tenants import Role

ADMIN, CLERK, COLLECTOR, LEAD, PORTAL = (Role.TENANT_ADMIN, Role.AR_CLERK, Role.COLLECTOR, Role.FINANCE_LEAD,
                                         Role.PORTAL_USER)
STAFF = frozenset({ADMIN, CLERK, COLLECTOR, LEAD})
EVERYONE = STAFF | {PORTAL}

CAPABILITIES: dict[str, frozenset[str]] = {
    # the shared ledger
    "ledger.view": EVERYONE,  # customers, invoices (scoped to the own customer for portal users)
    "invoices.import": frozenset({ADMIN, CLERK, LEAD}),
    "tenant.manage": frozenset({ADMIN}),  # users, invitations, API tokens
    "workspace.view": STAFF,  # the AR workspace: dashboards, worklists
    # payments and cash application
    "payments.view": frozenset({ADMIN, CLERK, LEAD}),
    "payments.import": frozenset({ADMIN, CLERK}),
    "cashapp.view": frozenset({ADMIN, CLERK, LEAD}),
    "cashapp.apply": frozenset({ADMIN, CLERK}),
    "cashapp.configure": frozenset({ADMIN}),
    # deductions and disputes
    "deductions.view": STAFF,
    "deductions.work": frozenset({ADMIN, CLERK, COLLECTOR, LEAD}),  # research, assign, split, merge, notes
    "deductions.resolve": frozenset({ADMIN, CLERK, LEAD}),
    "deductions.configure": frozenset({ADMIN, LEAD}),  # reason codes, customer code maps, promotions, tolerances
    "disputes.view": STAFF,
    "disputes.work": frozenset({ADMIN, CLERK, COLLECTOR, LEAD}),
    "disputes.resolve": frozenset({ADMIN, CLERK, LEAD}),
    "disputes.configure": frozenset({ADMIN, LEAD}),  # SLAs, business hours
    "disputes.api": EVERYONE,  # the disputes API's entry gate: staff work cases, portal users file their own
    "triage.view": STAFF,
    "triage.manage": frozenset({ADMIN, LEAD}),  # edit, import, dry-run the triage rules
    # payment instructions (how much a role may approve: the tenant's approval limits)
    "instructions.view": frozenset({ADMIN, CLERK, LEAD}),
    "instructions.approve": frozenset({ADMIN, CLERK, LEAD}),
    "instructions.export": frozenset({ADMIN, CLERK, LEAD}),
    # the customer portal
    "portal.use": frozenset({PORTAL}),
    "portal.file": frozenset({PORTAL}),  # file deductions and disputes, post messages, upload documents
}


def roles_with(capability: str) -> frozenset[str]:
    """The roles that have a capability; an unknown name is a programming error, not 'nobody'."""
    return CAPABILITIES[capability]


def can(membership, capability: str) -> bool:
    return membership is not None and membership.role in roles_with(capability)


def capabilities_of(membership) -> frozenset[str]:
    if membership is None:
        return frozenset()
    return frozenset(name for name, roles in CAPABILITIES.items() if membership.role in roles)
