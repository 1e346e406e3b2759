"""The cross-tenant probe: every URL pattern, every method, as tenant A, aimed at tenant B.

The routes come from the resolver (web pages, the API, every app's urls), so a route added later is
probed without anyone editing this file, unless it names an object by a URL kwarg the probe does not
know: then the test fails and says "add it to the probe map" (one line in EXTRA_OBJECTS gives the new
kind of object a tenant-B instance).

For a route with object kwargs, tenant B's object ids are put in the URL and each method is sent by
A's tenant admin (allowed on every route, so the object lookup is reached), A's collector, A's
portal user (signed in, MFA passed where required), a person who is admin in both tenants but working
in A, and, for /api/ routes, an API key of tenant A. The answer must be
404, or 405 where the view does not take the method. A role gate (403) is accepted only for the
non-admin users and only when a never-existing id gets the very same answer, i.e. the answer does
not depend on B's object. A redirect or a 2xx is a leak. Routes without object kwargs are requested
with B's ids in the query string and the form body and must never show B's marker strings.

Before and after, every row of B in every tenant table (and B's users) is snapshotted; they must be
equal. A positive control requests A's own objects through the same URLs so a 404 cannot come from
a wrong URL.

The tests at the end show that each line of defence holds on its own (ORM scope removed: RLS still
404s; RLS not in play: the scoped manager still hides B), that the probe's check reports a leak when
the request's tenant is wrong, and that with both lines really removed (scopes unscoped, RLS disabled
as the owner) B's invoice is served and the probe reports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db import connections
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from o2c.access import SESSION_TENANT_KEY
from o2c.models import Invoice, Membership, Role, User
from o2c.rls import tenant_models
from o2c.tenancy import tenant_context
from tests.factories import (
    ApiTokenFactory,
    CreditMemoFactory,
    CustomerAliasFactory,
    CustomerBankAccountFactory,
    CustomerContactFactory,
    CustomerFactory,
    InvitationFactory,
    InvoiceFactory,
    InvoiceImportFactory,
    member,
)

METHODS = ("get", "post", "put", "patch", "delete")

# Routes the probe does not request, each with the reason.
SKIPPED_PREFIXES = {
    "admin/": "Django admin: superusers of the operator only, no tenant membership involved",
}
SKIPPED_NAMES = {
    "login": "no object; signs in (covered in test_auth)",
    "logout": "no object; signs out and would end the probe's session",
    "invitation_accept": "the URL is a signed capability token, not an object id (covered in test_auth)",
}

# URL kwarg name -> attribute of the `World` holding that kind of object.
PROBE_MAP = {
    "customer_id": "customer",
    "invoice_id": "invoice",
    "credit_memo_id": "credit_memo",
    "membership_id": "membership",
    "api_token_id": "api_token",
    "invoice_import_id": "invoice_import",
    "invitation_id": "invitation",
}
# Further kinds of object, for routes added by other apps: kwarg name -> make(world) called inside
# tenant_context of the tenant being built, returning a saved object of that tenant (use the
# world's customer/invoice as parents). One line here puts a new endpoint under the probe, e.g.
#     "payment_id": lambda world: PaymentFactory(customer=world.customer),
_probe_refs = iter(range(1, 10**6))


def _probe_payment(world):
    from cashapp.models import CashAppSettings
    from payments.models import Payment
    from tests.cashapp_support import Credit, import_credits

    CashAppSettings.objects.get_or_create(defaults={"match_after_import": False})
    bank_file = import_credits([Credit(f"PROBE-{next(_probe_refs)}", "10.00", payer="Probe payer")])
    return Payment.objects.get(bank_file=bank_file)


def _probe_suggestion(world):
    from cashapp.models import Suggestion

    allocation = {"invoice_id": world.invoice.pk, "invoice_number": world.invoice.number, "applied": "10.00",
                  "discount": "0", "deduction": "0", "deduction_reason": "", "write_off": "0"}
    return Suggestion.objects.create(payment=_probe_payment(world), rank=1, confidence="0.5", explanation="probe",
                                     allocations=[allocation])


def _probe_application(world):
    from cashapp.models import Application
    from o2c.ledger.posting import Line, Posting, post

    payment = _probe_payment(world)
    [app_id] = post([Posting(payment_id=payment.pk, lines=[Line(world.invoice.pk, Decimal("10.00"))],
                             source="manual")]).application_ids[payment.pk]
    return Application.objects.get(pk=app_id)


def _probe_run(world):
    from cashapp.models import MatchingRun

    return MatchingRun.objects.create(trigger="manual")


def _probe_upload(world):
    from payments.services import bank_file_upload_create

    return bank_file_upload_create(data=b"not yet imported", file_name="probe.txt")


def _probe_invoice_upload(world):
    from o2c.services.invoice_import import invoice_upload_create

    return invoice_upload_create(data=b"invoice_number\n", file_name="probe.csv")


def _probe_mapping(world):
    from payments.models import BankCsvMapping

    return BankCsvMapping.objects.create(name="Globex bank CSV", mapping={"date": "Date", "amount": "Amount"})


def _probe_instruction(world):
    from o2c.instructions import instruction_create

    return instruction_create(kind="refund", customer_id=world.customer.pk, amount="10.00", currency="USD",
                              origin_kind="dispute", origin_id=1, invoice_id=world.invoice.pk, actor=None)


def _probe_refund_file(world):
    from o2c.models import RefundFile

    return RefundFile.objects.create(format="nacha", file_name=f"probe-{next(_probe_refs)}.ach", content="probe",
                                     sha256=f"{next(_probe_refs):064d}", currency="USD", total=1, count=1)


def _probe_dispute(world):
    from disputes.services import LineInput, dispute_file_for_customer

    return dispute_file_for_customer(customer=world.customer, lines=[LineInput(world.invoice.pk, Decimal("1.00"))],
                                     reason_code="pricing", message="Globex dispute QZX", actor=None)


def _probe_dispute_attachment(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from disputes.models import DisputeAttachment
    from disputes.services import message_post

    message = message_post(dispute=_probe_dispute(world), body="probe note", actor=None, from_customer=False,
                           internal=True, attachments=[SimpleUploadedFile("probe.txt", b"probe")])
    return DisputeAttachment.objects.get(message=message)


def _probe_rule(world):
    from o2c.models import TriageRule

    # Named after the customer: tenant B's rule carries B's marker, so a list page that leaks it is caught.
    return TriageRule.objects.create(applies_to="deduction", position=1, name=f"Rule for {world.customer.name}",
                                     condition="true", actions={"queue": "probe"})


def _probe_deduction(world):
    from deductions.services import deduction_create_by_clerk

    return deduction_create_by_clerk(customer=world.customer, invoice=world.invoice, amount=Decimal("7.00"),
                                     reason="pricing", actor=None)


def _probe_deduction_document(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from deductions.services import deduction_document_add

    return deduction_document_add(deduction_id=_probe_deduction(world).pk, actor=None,
                                  uploaded=SimpleUploadedFile("probe.pdf", b"%PDF-1.4 probe"))


EXTRA_OBJECTS: dict = {
    "deduction_id": _probe_deduction,
    "document_id": _probe_deduction_document,
    "payment_id": _probe_payment,
    "bank_file_id": lambda world: _probe_payment(world).bank_file,
    "bank_file_upload_id": _probe_upload,
    "suggestion_id": _probe_suggestion,
    "application_id": _probe_application,
    "matching_run_id": _probe_run,
    "mapping_id": _probe_mapping,
    "invoice_upload_id": _probe_invoice_upload,
    "instruction_id": _probe_instruction,
    "refund_file_id": _probe_refund_file,
    "dispute_id": _probe_dispute,
    "dispute_attachment_id": _probe_dispute_attachment,
    "rule_id": _probe_rule,
}
NEVER_EXISTS = 2_000_000_000

B_MARKERS = ("Globex Secret Customer QZX", "GLOBEX-INV-77310", "GLOBEX-CM-5521", "ap@globex-secret.test",
             "GLOBEX ALIAS QZX", "globex-admin@example.test", "Globex ERP key QZX", "globex-import-qzx.csv",
             "invitee@globex-secret.test")


@dataclass
class Route:
    name: str  # namespaced, for reverse()
    route: str
    kwargs: tuple[str, ...]


def all_routes() -> list[Route]:
    routes: list[Route] = []

    def walk(patterns, prefix: str, namespace: str):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                regex = p.pattern.regex
                kwargs = tuple(n for n in regex.groupindex if n not in p.default_args)
                route = prefix + str(p.pattern)
                routes.append(Route(f"{namespace}{p.name}" if p.name else "", route, kwargs))

    walk(get_resolver().url_patterns, "", "")
    return routes


def skip_reason(route: Route, prefixes: dict[str, str], names: dict[str, str]) -> str | None:
    """Why a probe leaves `route` out (its prefix or its name is listed with a reason), or None."""
    for prefix, reason in prefixes.items():
        if route.route.startswith(prefix):
            return reason
    return names.get(route.name)


def _skip_reason(route: Route) -> str | None:
    return skip_reason(route, SKIPPED_PREFIXES, SKIPPED_NAMES)


ROUTES = [r for r in all_routes() if _skip_reason(r) is None]


def _route_id(route: Route) -> str:
    return route.name or route.route


# --- the two tenants ---------------------------------------------------------------------------

@dataclass
class World:
    extra: dict  # kwarg name -> object, from EXTRA_OBJECTS
    customer: object
    invoice: object
    credit_memo: object
    membership: object
    api_token: object
    invoice_import: object
    invitation: object


def _make_world(tenant, marked: bool) -> World:
    """One of everything in `tenant`; tenant B's objects carry the marker strings."""
    def mark(text):
        return text if marked else None

    def kw(**fields):  # leave unmarked fields to the factory
        return {k: v for k, v in fields.items() if v is not None}

    with tenant_context(tenant):
        customer = CustomerFactory(**kw(name=mark(B_MARKERS[0])))
        CustomerFactory(parent=customer)
        CustomerContactFactory(customer=customer, **kw(email=mark(B_MARKERS[3])))
        CustomerAliasFactory(customer=customer, **kw(alias=mark(B_MARKERS[4])))
        CustomerBankAccountFactory(customer=customer)
        invoice = InvoiceFactory(customer=customer, **kw(number=mark(B_MARKERS[1])))
        credit_memo = CreditMemoFactory(customer=customer, invoice=invoice, **kw(number=mark(B_MARKERS[2])))
        api_token = ApiTokenFactory(**kw(name=mark(B_MARKERS[6])))
        invoice_import = InvoiceImportFactory(**kw(file_name=mark(B_MARKERS[7])))
        invitation = InvitationFactory(**kw(email=mark(B_MARKERS[8])))
    admin_email = B_MARKERS[5] if marked else None
    admin = member(tenant, Role.TENANT_ADMIN, email=admin_email)
    with tenant_context(tenant):
        membership = Membership.objects.get(user=admin)
    world = World({}, customer, invoice, credit_memo, membership, api_token, invoice_import, invitation)
    with tenant_context(tenant):
        for name, make in EXTRA_OBJECTS.items():
            world.extra[name] = make(world)
    return world


def _object(world: World, kwarg: str):
    return world.extra[kwarg] if kwarg in world.extra else getattr(world, PROBE_MAP[kwarg])


def snapshot(tenant) -> dict:
    """Every row of `tenant` in every tenant table, and the users who are its members."""
    rows = {}
    with tenant_context(tenant):
        for model in tenant_models():
            rows[model._meta.db_table] = list(model.objects.order_by("pk").values())
        user_ids = list(Membership.objects.values_list("user_id", flat=True))
    rows["o2c_user"] = list(User.objects.filter(pk__in=user_ids).order_by("pk").values())
    return rows


def signed_in(user, verified: bool = True) -> Client:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client()
    client.force_login(user)
    if verified:
        device = TOTPDevice.objects.create(user=user, name="probe", confirmed=True)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


@dataclass
class Caller:
    label: str
    client: Client
    is_admin: bool
    api_only: bool = False
    objects_only: bool = False  # may legitimately switch to B, so not used on routes without objects


@pytest.fixture
def probe(tenant, other_tenant):
    a_world = _make_world(tenant, marked=False)
    b_world = _make_world(other_tenant, marked=True)
    with tenant_context(tenant):
        portal_customer = CustomerFactory()
    callers = [
        Caller("A tenant admin", signed_in(member(tenant, Role.TENANT_ADMIN)), True),
        Caller("A collector", signed_in(member(tenant, Role.COLLECTOR)), False),
        Caller("A portal user", signed_in(member(tenant, Role.PORTAL_USER, customer=portal_customer),
                                          verified=False), False),
    ]
    from o2c.services.tenants import api_token_create

    with tenant_context(tenant):
        admin = Membership.objects.filter(role=Role.TENANT_ADMIN).select_related("user").first().user
        _, key = api_token_create(name="probe", role=Role.TENANT_ADMIN, created_by=admin)
    callers.append(Caller("A API key", Client(HTTP_AUTHORIZATION=f"Bearer {key}"), True, api_only=True))
    # A person who is tenant admin in both, currently working in A: B's objects stay out of reach
    # until they switch tenant.
    both = member(tenant, Role.TENANT_ADMIN, email="both-tenants@example.test")
    member(other_tenant, Role.TENANT_ADMIN, email="both-tenants@example.test")
    both_client = signed_in(both)
    session = both_client.session
    session[SESSION_TENANT_KEY] = tenant.pk
    session.save()
    callers.append(Caller("A+B admin working in A", both_client, True, objects_only=True))
    return {"a": a_world, "b": b_world, "tenant_b": other_tenant, "callers": callers}


def _url(route: Route, world: World | None) -> str:
    kwargs = {}
    for name in route.kwargs:
        if name not in PROBE_MAP and name not in EXTRA_OBJECTS:
            pytest.fail(f"route {route.route!r} ({route.name}) takes URL kwarg {name!r} that the cross-tenant "
                        f"probe does not know: add it to the probe map (EXTRA_OBJECTS in {__name__})")
        kwargs[name] = _object(world, name).pk if world else NEVER_EXISTS
    return reverse(route.name, kwargs=kwargs)


def _send(client: Client, method: str, url: str, body: dict | None = None):
    return client.generic(method.upper(), url, data=urlencode(body or {}),
                          content_type="application/x-www-form-urlencoded")


def leaked_markers(response) -> list[str]:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    text = content.decode(errors="replace")
    return [m for m in B_MARKERS if m.lower() in text.lower()]


def object_findings(caller: Caller, method: str, response, baseline_status: int) -> list[str]:
    """What is wrong with this answer to a request for tenant B's object (empty: nothing)."""
    status = response.status_code
    found = []
    if status == 404 or status == 405:
        pass
    elif status == 403 and not caller.is_admin and baseline_status == 403:
        pass  # a role gate that answers every id alike says nothing about B's object
    else:
        found.append(f"{caller.label} {method.upper()}: status {status}, expected 404")
    leaked = leaked_markers(response)
    if leaked:
        found.append(f"{caller.label} {method.upper()}: response shows tenant B's {leaked}")
    return found


# --- the probe ---------------------------------------------------------------------------------

@pytest.mark.parametrize("route", [r for r in ROUTES if r.kwargs], ids=_route_id)
def test_object_routes_answer_404_for_another_tenants_objects(route, probe):
    before = snapshot(probe["tenant_b"])
    b_url, missing_url, a_url = _url(route, probe["b"]), _url(route, None), _url(route, probe["a"])
    is_api = route.route.startswith("api/")
    problems = []
    for caller in probe["callers"]:
        if caller.api_only and not is_api:
            continue
        for method in METHODS:
            baseline = _send(caller.client, method, missing_url).status_code
            response = _send(caller.client, method, b_url)
            problems += object_findings(caller, method, response, baseline)
    assert not problems, f"{route.route}:\n" + "\n".join(problems)
    assert snapshot(probe["tenant_b"]) == before, f"{route.route} changed tenant B's rows"

    # Positive control: the same URL shape reaches A's own object (so the 404 above is tenancy).
    admin = probe["callers"][0]
    own = _send(admin.client, "get", a_url)
    assert own.status_code in (200, 405), f"{route.route}: A's own object answered {own.status_code}"


@pytest.mark.parametrize("route", [r for r in ROUTES if not r.kwargs], ids=_route_id)
def test_routes_without_objects_never_show_another_tenant(route, probe):
    before = snapshot(probe["tenant_b"])
    b = probe["b"]
    # B's ids under every name a filter or form might read.
    hostile = {name: _object(b, name).pk for name in [*PROBE_MAP, *EXTRA_OBJECTS]}
    hostile |= {"customer": b.customer.pk, "invoice": b.invoice.pk, "tenant_id": probe["tenant_b"].pk,
                "tenant": probe["tenant_b"].pk, "q": "Globex", "number": B_MARKERS[1]}
    url = reverse(route.name)
    is_api = route.route.startswith("api/")
    problems = []
    for caller in probe["callers"]:
        if (caller.api_only and not is_api) or caller.objects_only:
            continue
        for method in METHODS:
            query_url = f"{url}?{urlencode(hostile)}" if method == "get" else url
            response = _send(caller.client, method, query_url, None if method == "get" else hostile)
            if response.status_code >= 500:
                problems.append(f"{caller.label} {method.upper()}: server error {response.status_code}")
            leaked = leaked_markers(response)
            if leaked:
                problems.append(f"{caller.label} {method.upper()}: response shows tenant B's {leaked}")
        # Whatever the POST did (switch-tenant with B's id, say), the next page is still A's.
        if not caller.api_only:
            follow = caller.client.get(reverse("customer_list"))
            if leaked_markers(follow):
                problems.append(f"{caller.label}: after {route.route} the customer list shows tenant B")
    assert not problems, f"{route.route}:\n" + "\n".join(problems)
    assert snapshot(probe["tenant_b"]) == before, f"{route.route} changed tenant B's rows"


def test_probe_covers_the_known_routes():
    """Guards the walker: if it found nothing the parametrized tests would pass vacuously."""
    names = {r.name for r in ROUTES}
    assert {"customer_detail", "invoice_detail", "api_customer_detail", "api_invoice_detail",
            "membership_deactivate", "api_token_revoke", "invitation_revoke", "dashboard",
            "api_invoice_list"} <= names
    assert all(re.fullmatch(r"[\w:]+", r.name) for r in ROUTES), "every probed route needs a name"


def test_unknown_url_kwarg_fails_with_instructions():
    route = Route("customer_detail", "widgets/<int:widget_id>/", ("widget_id",))
    with pytest.raises(pytest.fail.Exception, match="add it to the probe map"):
        _url(route, None)


# --- the two lines of defence, each on its own, and the probe detecting a leak ----------------

def test_rls_alone_still_hides_b_when_the_orm_scope_is_removed(probe, monkeypatch, rls_probe):
    """Second line: with the access functions' tenant filter replaced by the unscoped manager, the
    database still shows A's request only A's rows (RLS on o2c.tenant_id), so the page is 404. (On Citus
    the unscoped queries go to every shard, each of whose policies must refuse B's row: `rls_probe`.)"""
    from o2c import access, api_views
    from o2c.models import Customer

    unscoped_invoices = lambda membership: Invoice.unscoped.all()  # noqa: E731
    unscoped_customers = lambda membership: Customer.unscoped.all()  # noqa: E731
    for module in (access, api_views):
        monkeypatch.setattr(module, "invoice_scope", unscoped_invoices)
        monkeypatch.setattr(module, "customer_scope", unscoped_customers)
    admin = probe["callers"][0].client
    b_invoice = probe["b"].invoice.pk
    assert admin.get(reverse("invoice_detail", args=[b_invoice])).status_code == 404
    assert admin.get(reverse("api_invoice_detail", args=[b_invoice])).status_code == 404
    # And the patch really removed the filter: A's own invoice is found through the unscoped manager.
    assert admin.get(reverse("invoice_detail", args=[probe["a"].invoice.pk])).status_code == 200


@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_orm_scope_alone_hides_b_when_rls_is_not_in_play(probe, tenant):
    """First line: the `owner` connection is not subject to RLS (it owns the tables), so only the
    scoped manager stands between A and B's rows there; it holds, while `unscoped` shows the row.
    Transactional because the owner connection must see the committed rows."""
    b_invoice = probe["b"].invoice.pk
    with tenant_context(tenant):
        assert not Invoice.objects.using("owner").filter(pk=b_invoice).exists()
        assert Invoice.unscoped.using("owner").filter(pk=b_invoice).exists()


def test_probe_reports_a_leak_when_the_tenant_scope_is_wrong(probe, monkeypatch):
    """If request scoping picked the wrong tenant (here: the middleware is made to hand A's admin a
    membership in B), B's invoice page is served, and the probe's own check reports it. So a passing
    probe means B's objects really were unreachable, not that the probe cannot see a leak."""
    from o2c import middleware

    tenant_b = probe["tenant_b"]
    admin_caller = probe["callers"][0]

    def wrong_membership(request):
        forged = Membership(tenant_id=tenant_b.pk, user=request.user, role=Role.TENANT_ADMIN)
        forged.tenant = tenant_b
        return forged

    monkeypatch.setattr(middleware, "active_membership", wrong_membership)
    url = reverse("invoice_detail", args=[probe["b"].invoice.pk])
    response = _send(admin_caller.client, "get", url)
    assert response.status_code == 200
    findings = object_findings(admin_caller, "get", response, baseline_status=404)
    assert any("status 200" in f for f in findings)
    assert any("GLOBEX-INV-77310" in f for f in findings)


@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_probe_catches_the_leak_when_both_lines_are_removed(probe, monkeypatch, rls_probe):
    """Remove both lines for real: the access functions unscoped, and row-level security disabled
    (committed as the owner, so the app connection sees it) on the tables the invoice page reads.
    B's invoice is then served to A and the probe's check reports it; the schema is restored and
    the gate confirms it. Transactional because the app connection must see the owner's DDL. (On Citus
    the unscoped page reads every shard: `rls_probe`.)"""
    from o2c import access
    from o2c.models import Customer
    from o2c.rls import sync
    from tests.test_schema_gate import APP_ROLE, schema_problems

    admin_caller = probe["callers"][0]
    url = reverse("invoice_detail", args=[probe["b"].invoice.pk])
    monkeypatch.setattr(access, "invoice_scope", lambda m: Invoice.unscoped.all())
    monkeypatch.setattr(access, "customer_scope", lambda m: Customer.unscoped.all())
    assert _send(admin_caller.client, "get", url).status_code == 404  # RLS alone still holds

    owner = connections["owner"]
    try:
        with owner.cursor() as cursor:
            cursor.execute("ALTER TABLE o2c_invoice DISABLE ROW LEVEL SECURITY")
            cursor.execute("ALTER TABLE o2c_customer DISABLE ROW LEVEL SECURITY")
        response = _send(admin_caller.client, "get", url)
        findings = object_findings(admin_caller, "get", response, baseline_status=404)
        assert response.status_code == 200
        assert any("GLOBEX-INV-77310" in f for f in findings), findings
    finally:
        sync(using="owner")
    with owner.cursor() as cursor:
        assert schema_problems(cursor, APP_ROLE) == []
    assert _send(admin_caller.client, "get", url).status_code == 404
