"""A realistic demo: two tenants, hundreds of customers, thousands of invoices in every aging bucket,
and a user of every role. Deterministic (seeded random) and idempotent: a tenant that already exists
is left alone, so running it twice duplicates nothing.

Rows are bulk-inserted inside the tenant's scope, so row-level security checks every one of them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from ..models import (
    CreditMemo,
    Customer,
    CustomerAlias,
    CustomerBankAccount,
    CustomerContact,
    Invoice,
    Membership,
    PaymentTerms,
    Role,
    Tenant,
    User,
)
from ..models.ledger import Channel, InvoiceStatus
from ..money import quantize
from ..tenancy import tenant_context
from .tenants import tenant_create, user_create

DEMO_PASSWORD = "o2c-demo-password"
SUPERUSER_EMAIL = "admin@o2c.demo"


@dataclass(frozen=True)
class DemoTenant:
    slug: str
    name: str
    currency: str
    share: float  # of the requested customers and invoices
    seed: int
    company_suffixes: tuple[str, ...]
    bank: str  # "us" (routing:account) or "iban"


DEMO_TENANTS = (
    DemoTenant("acme", "Acme Industrial Supply", "USD", 1.0, 1, ("Inc.", "LLC", "Corp.", "Co.", "Group"), "us"),
    DemoTenant("globex", "Globex Foods EU", "EUR", 0.5, 2, ("GmbH", "B.V.", "S.A.", "S.r.l.", "Ltd", "AG"), "iban"),
)
DEMO_ROLES = (
    (Role.TENANT_ADMIN, "admin"),
    (Role.AR_CLERK, "clerk"),
    (Role.COLLECTOR, "collector"),
    (Role.FINANCE_LEAD, "lead"),
    (Role.PORTAL_USER, "portal"),
)

_FIRST = ("Northwind", "Blue Ridge", "Summit", "Harbor", "Pioneer", "Cedar", "Granite", "Silverline", "Redwood",
          "Evergreen", "Lakeside", "Ironclad", "Sterling", "Meridian", "Crescent", "Atlas", "Keystone", "Beacon",
          "Falcon", "Horizon", "Riverbend", "Oakmont", "Prairie", "Coastal", "Golden Gate", "Liberty", "Apex",
          "Vantage", "Westfield", "Brightwater", "Stonebridge", "Pinnacle", "Union", "Tri-County", "Maple Leaf",
          "Hillcrest", "Sunrise", "Copperfield", "Bayview", "Highland")
_TRADE = ("Foods", "Logistics", "Hardware", "Building Supply", "Restaurants", "Markets", "Manufacturing",
          "Distribution", "Electric", "Plumbing", "Grocers", "Industrial", "Packaging", "Auto Parts", "Wholesale",
          "Hospitality", "Farms", "Construction", "Retail", "Tools")
_REGIONS = ("East", "West", "North", "South", "Central", "Pacific", "Atlantic", "Midwest", "Coastal", "Mountain")
_GIVEN = ("Maria", "James", "Aisha", "Chen", "Lukas", "Sofia", "Daniel", "Priya", "Tomás", "Emma", "Noah", "Fatima",
          "Oliver", "Yuki", "Elena", "Kwame", "Hannah", "Mateo", "Ingrid", "Ravi")
_FAMILY = ("Garcia", "Smith", "Okafor", "Wang", "Müller", "Rossi", "Johnson", "Patel", "Silva", "Dubois", "Nguyen",
           "Kowalski", "Jensen", "Tanaka", "Haddad", "Brown", "Schmidt", "Moreau", "Novak", "Lopez")
_TERMS = ("net 30", "net 30", "net 30", "2/10 net 30", "2/10 net 30", "net 60", "net 45", "1/15 net 45")
_CREDIT_LIMITS = (None, Decimal("25000"), Decimal("50000"), Decimal("100000"), Decimal("250000"), Decimal("500000"))
# Days past due at seed time, by bucket: (weight, low, high); negative means not yet due.
_AGING_SPREAD = ((40, -45, 0), (24, 1, 30), (14, 31, 60), (10, 61, 90), (12, 91, 420))


@dataclass
class DemoUser:
    tenant: str
    role: str
    email: str
    note: str = ""


@dataclass
class DemoResult:
    seeded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    users: list[DemoUser] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    password: str = DEMO_PASSWORD


def _normalize(name: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^A-Z0-9 ]", "", name.upper())).strip()


# Apps add their demo data to each seeded tenant (the kernel imports no app): name -> a function called inside
# the tenant's scope, after the demo users exist, with keyword arguments invoices, customers (by id), currency,
# today and seed, returning counts for the result. Registered from the app's AppConfig.ready(), so they run
# in INSTALLED_APPS order (cash application, then deductions, then disputes).
_demo_steps: dict[str, Callable[..., dict[str, int]]] = {}


def register_demo_step(name: str, step: Callable[..., dict[str, int]]) -> None:
    _demo_steps[name] = step


def demo_is_empty() -> bool:
    return not Tenant.objects.exists()


def demo_seed(*, customers: int = 300, invoices: int = 3000, today: date | None = None) -> DemoResult:
    """Seed every demo tenant that does not exist yet; report the demo users either way."""
    today = today or timezone.localdate()
    result = DemoResult()
    password_hash = make_password(DEMO_PASSWORD)  # hashed once: PBKDF2 per user would cost seconds
    superuser = _superuser(password_hash)
    for spec in DEMO_TENANTS:
        if Tenant.objects.filter(slug=spec.slug).exists():
            result.skipped.append(spec.slug)
        else:
            with transaction.atomic():
                tenant = tenant_create(slug=spec.slug, name=spec.name, base_currency=spec.currency)
                with tenant_context(tenant):
                    counts, step_kwargs = _seed_tenant(
                        spec, max(4, round(customers * spec.share)), max(10, round(invoices * spec.share)), today,
                    )
                    _seed_users(spec, password_hash, superuser)
                    # After the users: the apps' cases are worked by the demo clerk and lead, and filed by the
                    # portal user, through the real services (approval limits need a role).
                    for step in _demo_steps.values():
                        counts.update(step(**step_kwargs))
                    result.counts[spec.slug] = counts
            result.seeded.append(spec.slug)
        result.users.extend(_demo_users(spec))
    return result


def _superuser(password_hash: str) -> User:
    user = User.objects.filter(email=SUPERUSER_EMAIL).first()
    if user is None:
        user = User.objects.create(email=SUPERUSER_EMAIL, username=SUPERUSER_EMAIL, first_name="Demo",
                                   last_name="Administrator", is_staff=True, is_superuser=True,
                                   password=password_hash)
    return user


def _seed_users(spec: DemoTenant, password_hash: str, superuser: User) -> None:
    portal_customer = (Customer.objects.filter(parent__isnull=True, children__isnull=False)
                       .order_by("external_id").first()) or Customer.objects.order_by("external_id").first()
    for role, local in DEMO_ROLES:
        email = f"{local}@{spec.slug}.demo"
        user, _ = user_create(
            email=email, role=role, customer=portal_customer if role == Role.PORTAL_USER else None,
            first_name=local.capitalize(), last_name=spec.name.split()[0],
        )
        if not user.has_usable_password():
            user.password = password_hash
            user.save(update_fields=["password"])
    # The superuser administers both tenants too: it shows the tenant switcher.
    if not Membership.objects.filter(user=superuser).exists():
        user_create(email=superuser.email, role=Role.TENANT_ADMIN)


def demo_users() -> list[DemoUser]:
    """The demo users that exist, tenant by tenant (for the credentials table)."""
    return [user for spec in DEMO_TENANTS if Tenant.objects.filter(slug=spec.slug).exists()
            for user in _demo_users(spec)]


def _demo_users(spec: DemoTenant) -> list[DemoUser]:
    users = []
    with tenant_context(Tenant.objects.get(slug=spec.slug)):
        memberships = {m.user.email: m for m in Membership.objects.select_related("user", "customer")}
        for role, local in DEMO_ROLES:
            membership = memberships.get(f"{local}@{spec.slug}.demo")
            if membership is None:
                continue
            note = "TOTP on first sign-in" if role in Role.staff_roles() else f"sees {membership.customer.name}"
            users.append(DemoUser(spec.slug, Role(role).label, membership.user.email, note))
        if SUPERUSER_EMAIL in memberships:
            users.append(DemoUser(spec.slug, "Superuser + tenant admin", SUPERUSER_EMAIL, "also /admin/"))
    return users


def _company_names(rng: random.Random, spec: DemoTenant, count: int) -> list[str]:
    names, seen = [], set()
    while len(names) < count:
        name = f"{rng.choice(_FIRST)} {rng.choice(_TRADE)} {rng.choice(spec.company_suffixes)}"
        if name in seen:
            if len(seen) >= len(_FIRST) * len(_TRADE) * len(spec.company_suffixes):
                name = f"{name} {len(names)}"
            else:
                continue
        seen.add(name)
        names.append(name)
    return names


def _seed_tenant(spec: DemoTenant, n_customers: int, n_invoices: int, today: date) -> tuple[dict, dict]:
    rng = random.Random(spec.seed)  # noqa: S311 - demo data, not secrets
    prefix = spec.slug[:2].upper()
    n_parents = max(1, n_customers // 20)
    customers = []
    for i, name in enumerate(_company_names(rng, spec, n_customers)):
        if i < n_parents:
            name = name.rsplit(" ", 1)[0] + " Holdings"
        customers.append(Customer(
            external_id=f"{prefix}-C{10001 + i}", name=name, currency=spec.currency,
            payment_terms=rng.choice(_TERMS), credit_limit=rng.choice(_CREDIT_LIMITS),
        ))
    # Segment and risk, which triage rules read, from their own stream so the rest of the demo stays as it was.
    profile = random.Random(spec.seed + 1)  # noqa: S311 - demo data
    for i, customer in enumerate(customers):
        customer.segment = "key" if i < n_parents else profile.choice(("retail", "wholesale", "distributor"))
        customer.risk = profile.choices(("low", "medium", "high"), weights=(6, 3, 1))[0]
    Customer.objects.bulk_create(customers)
    parents = customers[:n_parents]
    subsidiaries = []
    for i, customer in enumerate(customers[n_parents:]):
        if i == 0 or rng.random() < 0.15:  # at least one group, however small the seed
            parent = rng.choice(parents)
            customer.parent = parent
            family = parent.name.removesuffix(" Holdings")
            customer.name = f"{family} {rng.choice(_REGIONS)} {customer.name.split()[-1]}"
            subsidiaries.append(customer)
    Customer.objects.bulk_update(subsidiaries, ["parent", "name"])

    contacts, aliases, accounts = [], [], []
    for i, customer in enumerate(customers):
        domain = re.sub(r"[^a-z]", "", customer.name.lower().split()[0]) + f"{i}.example"
        for n in range(rng.choice((1, 1, 2))):
            given, family = rng.choice(_GIVEN), rng.choice(_FAMILY)
            contacts.append(CustomerContact(
                customer=customer, name=f"{given} {family}", email=f"{'ap' if n == 0 else given.lower()}@{domain}",
                phone=f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
                role="Accounts payable" if n == 0 else "Controller",
                preferred_channel=rng.choice((Channel.EMAIL, Channel.EMAIL, Channel.PHONE, Channel.PORTAL)),
            ))
        if rng.random() < 0.35:
            # How a bank statement abbreviates the name: "NORTHWIND FOODS INC" -> "NORTHWIND FOODS"
            alias = " ".join(_normalize(customer.name).split()[:2])
            aliases.append(CustomerAlias(customer=customer, alias=alias, normalized=_normalize(alias), source="import"))
        if rng.random() < 0.45:
            if spec.bank == "us":
                identifier = f"{rng.randint(10**8, 10**9 - 1)}:{rng.randint(10**9, 10**10 - 1)}{i:04d}"
                bank = rng.choice(("First National", "Chase", "Wells Fargo", "US Bank"))
            else:
                country = rng.choice(("DE", "NL", "FR", "IT"))
                identifier = f"{country}{rng.randint(10, 99)}{rng.randint(10**13, 10**14 - 1)}{i:04d}"
                bank = rng.choice(("Deutsche Bank", "ING", "BNP Paribas", "UniCredit"))
            accounts.append(CustomerBankAccount(customer=customer, account_identifier=identifier, bank_name=bank))
    CustomerContact.objects.bulk_create(contacts)
    CustomerAlias.objects.bulk_create(aliases)
    CustomerBankAccount.objects.bulk_create(accounts)

    invoices = [_invoice(rng, spec, prefix, i, rng.choice(customers), today) for i in range(n_invoices)]
    # Guarantee every aging bucket has at least one open invoice whatever the sample size.
    for i, (_, low, high) in enumerate(_AGING_SPREAD):
        invoices[i] = _invoice(rng, spec, prefix, i, customers[i % len(customers)], today, (low, high), open_=True)
    Invoice.objects.bulk_create(invoices, batch_size=2000)

    memos = []
    for n, invoice in enumerate(rng.sample(invoices, min(12, len(invoices)))):
        amount = quantize(invoice.amount * Decimal(rng.choice(("0.05", "0.1", "0.25"))), spec.currency)
        memos.append(CreditMemo(
            number=f"CM-{prefix}-{n + 1:04d}", customer_id=invoice.customer_id, invoice=invoice,
            issue_date=min(today, invoice.issue_date + timedelta(days=rng.randint(5, 40))), amount=amount,
            currency=spec.currency, open_balance=amount,
            reason=rng.choice(("Damaged goods", "Pricing error", "Short shipment", "Promotional allowance")),
        ))
    CreditMemo.objects.bulk_create(memos)
    credited = {m.invoice_id for m in memos}
    counts = {"customers": len(customers), "invoices": len(invoices), "credit_memos": len(memos),
              "contacts": len(contacts), "aliases": len(aliases), "bank_accounts": len(accounts)}
    # What the apps' demo steps get (e.g. cash application's bank statement): run by demo_seed.
    step_kwargs = {"invoices": [i for i in invoices if i.pk not in credited],
                   "customers": {c.pk: c for c in customers}, "currency": spec.currency, "today": today,
                   "seed": spec.seed}
    return counts, step_kwargs


def _invoice(rng: random.Random, spec: DemoTenant, prefix: str, i: int, customer: Customer, today: date,
             spread: tuple[int, int] | None = None, open_: bool = False) -> Invoice:
    if spread is None:
        _, low, high = rng.choices(_AGING_SPREAD, weights=[w for w, *_ in _AGING_SPREAD])[0]
    else:
        low, high = spread
    due = today - timedelta(days=rng.randint(low, high))
    terms = PaymentTerms.parse(customer.payment_terms)
    issue = due - timedelta(days=terms.net_days)
    amount = quantize(Decimal(str(round(rng.lognormvariate(8.0, 1.1), 2))) + Decimal("50"), spec.currency)
    status, open_balance = InvoiceStatus.OPEN, amount
    # Older invoices are more likely settled, as in a real ledger.
    roll = rng.random()
    if not open_ and roll < (0.15 if due >= today else 0.35):
        status, open_balance = InvoiceStatus.PAID, Decimal("0")
    elif not open_ and roll < (0.2 if due >= today else 0.45):
        status = InvoiceStatus.PARTIALLY_PAID
        open_balance = quantize(amount * Decimal(rng.choice(("0.2", "0.35", "0.5", "0.8"))), spec.currency)
    discount = terms.discount_percent
    return Invoice(
        number=f"{prefix}-{100001 + i}", customer=customer, issue_date=issue, due_date=due, amount=amount,
        currency=spec.currency, open_balance=open_balance, status=status,
        po_number=f"PO-{rng.randint(40000, 99999)}" if rng.random() < 0.7 else "",
        discount_percent=discount,
        discount_due_date=issue + timedelta(days=terms.discount_days) if discount else None,
    )
