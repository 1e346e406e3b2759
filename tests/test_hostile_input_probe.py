"""The hostile-input probe: every URL pattern, every parameter its view reads, hostile values in each.

Built like the cross-tenant probe (tests/test_cross_tenant_probe.py, whose route walker, probe map and
world it reuses): the routes come from the resolver, so a route added later is probed without anyone
editing this file, unless it names an object by a URL kwarg the cross-tenant probe's map does not know
(then the test fails saying so).

Per route, as the tenant admin (every capability; the portal user for portal routes, which admins may
not use; an API key of a tenant admin for /api/), against real objects of the tenant:
- the parameters are discovered, not listed: every `.get("x")`/`.getlist("x")` in the view's module,
  the fields of every form and serializer class the module holds, the fields of the <form>s on the
  page the route renders, and the usual names (q, cursor, after, amount, ...);
- GET with every parameter set to one hostile value, for each value: NaN, sNaN, infinities, 1e999999,
  NUL, 10,000 characters, forged ids ("999999999999", "-1", "0x10", "../", past bigint) and forged
  cursors; POST (and PUT/PATCH where the view takes them) with every field so, as a form and, on the
  API, as JSON, where wrong types (lists, objects, numbers, booleans, null) are added;
- the object ids in the URL once more as an id past bigint.
Every answer must be below 500. After the hostile writes, every tenant table must hold exactly the
rows it held before (count and a hash of every row), except the tables named in UNCHECKED_TABLES and
the routes named in ACTIONS_WITHOUT_INPUT, each with its reason.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from base64 import b64encode
from urllib.parse import urlencode

import pytest
from django import forms
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework import serializers

from o2c.models import Role
from o2c.rls import tenant_models
from o2c.services.tenants import api_token_create
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, member
from tests.test_cross_tenant_probe import (
    EXTRA_OBJECTS,
    PROBE_MAP,
    Route,
    _make_world,
    _object,
    all_routes,
    signed_in,
    skip_reason,
)

SKIPPED_PREFIXES = {"admin/": "Django admin: the operator's superusers, no tenant, Django's own forms"}
SKIPPED_NAMES = {"logout": "reads no input; signs out and would end the probe's session"}
ANONYMOUS_NAMES = {"login", "invitation_accept"}  # pages for people not signed in (yet)
STRING_KWARGS = {"token": "forged.token:..\u00e9"}  # URL kwargs that are not object ids

# Routes whose POST does its one thing whatever the body says (it reads no field, or only `next`), so
# rows do change: the probe still requires every answer below 500.
ACTIONS_WITHOUT_INPUT = {
    "cashapp:run_start": "starts a matching run; reads no field",
    "cashapp:suggestion_accept": "accepts the suggestion in the URL; reads only `next`",
    "cashapp:suggestion_reject": "rejects the suggestion in the URL; reads only `next`",
    "cashapp:application_reverse": "reverses the application in the URL; the reason is free text ('NaN' is one)",
    "membership_deactivate": "deactivates the membership in the URL; reads no field",
    "invitation_revoke": "revokes the invitation in the URL; reads no field",
    "api_token_revoke": "revokes the key in the URL; reads no field",
    "triage:rule_enable": "`enabled` is '1' or anything else (disabled): every value is a valid one",
    "triage:rule_delete": "deletes the rule in the URL; reads no field",
    "instructions:approve": "approves the instruction in the URL; reads only `next`",
    "api_instruction_approve": "approves the instruction in the URL; reads no field",
    "instructions:cancel": "cancels the instruction in the URL; the reason is free text",
    "disputes:message": "posts a message: any text without control characters is a message",
    "disputes:portal_reply": "posts a message: any text without control characters is a message",
    "api_dispute_messages": "posts a message: any text without control characters is a message",
}
# Tenant tables whose rows a refused request may still change, each with the reason.
UNCHECKED_TABLES: dict[str, str] = {}

COMMON_PARAMS = ("q", "cursor", "after", "before", "page", "page_size", "amount", "amounts", "status", "order",
                 "days", "kind", "format", "invoice", "customer", "next", "ids", "id", "reason", "action", "note",
                 "transition", "direction", "enabled", "section", "owner", "age", "category", "priority")
BIGINT_PAST = "99999999999999999999999"


def _cursor(querystring: str) -> str:
    return b64encode(querystring.encode()).decode()


HOSTILE_TEXT = ("NaN", "sNaN", "Infinity", "-Infinity", "1e999999", "\x00", "a" * 10_000, "999999999999", "-1",
                "0x10", "../", BIGINT_PAST, _cursor("p=abc"), _cursor("o=99999999&p=-1"), "2025-13-45_x")
HOSTILE_JSON = (*HOSTILE_TEXT, ["NaN", "\x00"], {"$gt": ""}, 12345, 1e308, True, None)
HOSTILE_JSON_BODIES = (["not", "an", "object"], "text", 7, None, [[[[[[[[[[[]]]]]]]]]]])


# --- routes and what their views read ----------------------------------------------------------

def _skip_reason(route: Route) -> str | None:
    return skip_reason(route, SKIPPED_PREFIXES, SKIPPED_NAMES)


ROUTES = [r for r in all_routes() if _skip_reason(r) is None]


def _view_module(route: Route):
    from django.urls import resolve

    callback = resolve(_url(route, None, probe_only=True)).func
    view = getattr(callback, "cls", None) or inspect.unwrap(callback)
    return sys.modules[view.__module__]


def _declared_names(module) -> set[str]:
    """Every parameter name the module's code reads, and every field of its forms and serializers."""
    source = inspect.getsource(module)
    names = set(re.findall(r"""\.(?:get|getlist)\(\s*["'](\w+)["']""", source))
    names |= set(re.findall(r"""\b(?:text|integer|id_list)\(\s*[\w.]+,\s*["'](\w+)["']""", source))  # o2c.inputs
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, forms.BaseForm):
            names |= set(getattr(value, "base_fields", {}))
        elif isinstance(value, type) and issubclass(value, serializers.Serializer):
            try:
                names |= set(value().fields)
            except Exception:  # noqa: BLE001 - a serializer that needs context still names its declared fields
                names |= set(getattr(value, "_declared_fields", {}))
    return names


def _form_names(response) -> set[str]:
    if "html" not in response.get("Content-Type", "") or response.streaming:
        return set()
    return set(re.findall(r"""<(?:input|select|textarea)[^>]*\bname=["']([^"']+)["']""", response.content.decode()))


# --- the tenant, its callers, its rows ---------------------------------------------------------

@pytest.fixture
def make_probe(tenant, monkeypatch):
    """make_probe(route) -> the tenant's objects and callers for probing `route`."""
    from tests import test_cross_tenant_probe as cross_tenant

    def make(route: Route) -> dict:
        # Only the objects the route names: the cross-tenant probe's full world costs a bank-file import
        # per kind of object, per route.
        needed = {k: v for k, v in EXTRA_OBJECTS.items() if k in route.kwargs}
        monkeypatch.setattr(cross_tenant, "EXTRA_OBJECTS", needed)
        world = _make_world(tenant, marked=False)
        admin = member(tenant, Role.TENANT_ADMIN)
        with tenant_context(tenant):
            _, key = api_token_create(name="probe", role=Role.TENANT_ADMIN, created_by=admin)
        portal = member(tenant, Role.PORTAL_USER, customer=world.customer)
        return {"tenant": tenant, "world": world, "admin": signed_in(admin), "anonymous": Client(),
                "portal": signed_in(portal, verified=False), "api": Client(HTTP_AUTHORIZATION=f"Bearer {key}")}

    return make


def snapshot(tenant) -> dict:
    """Per tenant table: (rows, sum of a hash of every row), in one query; an update changes the hash.

    Row-level security shows only the tenant's rows anyway; the explicit tenant filter lets Citus send
    each part to the tenant's shard alone (without it the count reads every shard, which the Citus run
    refuses)."""
    tables = [m._meta.db_table for m in tenant_models() if m._meta.db_table not in UNCHECKED_TABLES]
    sql = " UNION ALL ".join(
        f"SELECT '{t}', count(*), coalesce(sum(hashtext(x::text)::bigint), 0) FROM {t} x WHERE x.tenant_id = %s"
        for t in tables)
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute(sql, [tenant.pk] * len(tables))
        return {table: (count, digest) for table, count, digest in cursor.fetchall()}


def _url(route: Route, world, *, probe_only: bool = False, forged_id: str | None = None) -> str:
    kwargs = {}
    for name in route.kwargs:
        if name in STRING_KWARGS:
            kwargs[name] = STRING_KWARGS[name]
        elif name not in PROBE_MAP and name not in EXTRA_OBJECTS:
            pytest.fail(f"route {route.route!r} ({route.name}) takes URL kwarg {name!r} that the probes do not "
                        f"know: add it to the probe map (EXTRA_OBJECTS in tests/test_cross_tenant_probe.py)")
        else:
            kwargs[name] = forged_id or (1 if probe_only else _object(world, name).pk)
    return reverse(route.name, kwargs=kwargs)


def _caller(route: Route, probe) -> Client:
    if route.route.startswith("api/"):
        return probe["api"]
    if route.name in ANONYMOUS_NAMES:
        return probe["anonymous"]
    return probe["portal"] if "portal" in route.name or route.route.startswith("portal") else probe["admin"]


def _send(client: Client, method: str, url: str, body=None, *, as_json: bool = False):
    if method == "get":
        return client.get(url, body or {})
    if as_json:
        return client.generic(method.upper(), url, json.dumps(body or {}), content_type="application/json")
    return client.generic(method.upper(), url, urlencode(body or {}, doseq=True),
                          content_type="application/x-www-form-urlencoded")


# --- the probe ---------------------------------------------------------------------------------

@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name or r.route)
def test_hostile_values_are_refused_without_a_500_or_a_write(route, make_probe):
    problems = findings(route, make_probe(route))
    assert not problems, f"{route.route} ({route.name}):\n" + "\n".join(problems)


def findings(route: Route, probe) -> list[str]:
    """What is wrong with the route's answers to hostile input (empty: nothing)."""
    client, tenant = _caller(route, probe), probe["tenant"]
    url = _url(route, probe["world"])
    is_api = route.route.startswith("api/")
    page = _send(client, "get", url)
    names = sorted(_declared_names(_view_module(route)) | _form_names(page) | set(COMMON_PARAMS))
    problems = [f"plain GET: {page.status_code}"] if page.status_code >= 500 else []

    for value in HOSTILE_TEXT:
        response = _send(client, "get", url, {n: value for n in names})
        if response.status_code >= 500:
            problems.append(f"GET with every parameter {value[:20]!r}: {response.status_code}")
    for name in route.kwargs:
        if name not in STRING_KWARGS:
            forged = _send(client, "get", _url(route, probe["world"], forged_id=BIGINT_PAST))
            if forged.status_code >= 500:
                problems.append(f"GET with {name}={BIGINT_PAST}: {forged.status_code}")

    before = snapshot(tenant)
    for method in ("post", "put", "patch"):
        problems += _hostile_writes(client, method, url, names, is_api)
    if route.name not in ACTIONS_WITHOUT_INPUT and snapshot(tenant) != before:
        changed = sorted(t for t, v in snapshot(tenant).items() if before.get(t) != v)
        problems.append(f"hostile writes changed rows of {changed} (if the route acts without reading input, "
                        "name it in ACTIONS_WITHOUT_INPUT with the reason)")
    return problems


def _hostile_writes(client, method: str, url: str, names, is_api: bool) -> list[str]:
    problems = []
    kinds = [(v, False) for v in HOSTILE_TEXT] + ([(v, True) for v in HOSTILE_JSON] if is_api else [])
    for value, as_json in kinds:
        response = _send(client, method, url, {n: value for n in names}, as_json=as_json)
        if response.status_code == 405:
            return problems  # the view does not take the method
        if response.status_code >= 500:
            shown = value[:20] if isinstance(value, str) else value
            problems.append(f"{method.upper()} {'JSON' if as_json else 'form'} with every field {shown!r}: "
                            f"{response.status_code}")
    for body in HOSTILE_JSON_BODIES if is_api else ():
        response = client.generic(method.upper(), url, json.dumps(body), content_type="application/json")
        if response.status_code >= 500:
            problems.append(f"{method.upper()} with the JSON body {body!r}: {response.status_code}")
    return problems


def test_probe_covers_the_known_routes():
    """Guards the walker: if it found nothing the parametrized test would pass vacuously."""
    names = {r.name for r in ROUTES}
    assert {"customer_list", "invoice_list", "cashapp:payment_apply", "payments:index", "api_invoice_list",
            "deductions:index", "disputes:index", "login"} <= names
    assert len(ROUTES) > 80


def test_parameter_discovery_finds_what_the_cash_application_reads():
    route = next(r for r in ROUTES if r.name == "cashapp:payment_apply")
    assert {"invoice", "applied", "deduction", "reason", "suggestion"} <= _declared_names(_view_module(route))


def test_unknown_url_kwarg_fails_with_instructions():
    with pytest.raises(pytest.fail.Exception, match="add it to the probe map"):
        _url(Route("customer_detail", "widgets/<int:widget_id>/", ("widget_id",)), None)


def test_the_row_check_sees_an_update(tenant):
    """A changed row with the same count must be caught, or a hostile write that corrupts would pass."""
    with tenant_context(tenant):
        customer = CustomerFactory(name="Before")
    before = snapshot(tenant)
    with tenant_context(tenant):
        type(customer).objects.filter(pk=customer.pk).update(name="After")
    assert snapshot(tenant) != before


@pytest.mark.parametrize("route_name", ["customer_list", "payments:index"])
def test_the_probe_reports_a_500_when_the_input_guard_is_removed(route_name, settings, make_probe):
    """Without the middleware (neither its check of control characters nor its 400 for BadInput) the
    searches' typed parser refuses a NUL with nobody to answer it: the probe must report the 500s, so a
    passing probe means the answers really were below 500."""
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "o2c.middleware.InputGuardMiddleware"]
    route = next(r for r in ROUTES if r.name == route_name)
    probe = make_probe(route)
    for name in ("admin", "portal", "api", "anonymous"):
        probe[name].raise_request_exception = False
    assert any(": 500" in problem for problem in findings(route, probe))
