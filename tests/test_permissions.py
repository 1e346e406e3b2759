"""One permission table: every view and API endpoint is gated by a capability from o2c/permissions.py, and
no role list is written anywhere else (views, API views, templates)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from o2c.permissions import CAPABILITIES, can, capabilities_of

ROOT = Path(__file__).resolve().parents[1]
# Reached before anyone is a member of a tenant, or to become one: they check what they need themselves.
UNGATED = {"login", "logout", "mfa", "invitation_accept", "no_access", "switch_tenant"}


def _views():
    def walk(patterns, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace == "admin":  # Django's admin: its own is_staff check, superusers only
                    continue
                yield from walk(p.url_patterns, f"{namespace}{p.namespace}:" if p.namespace else namespace)
            elif isinstance(p, URLPattern):
                yield f"{namespace}{p.name}" if p.name else str(p.pattern), p.callback

    return list(walk(get_resolver().url_patterns, ""))


def _capability(callback) -> str | None:
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return getattr(view_class, "capability", None) if view_class else getattr(callback, "capability", None)


def test_every_view_is_gated_by_a_capability():
    views = _views()
    assert len(views) > 30  # the walk found the apps' URLs too
    ungated = sorted(name for name, callback in views if name not in UNGATED and _capability(callback) is None)
    assert ungated == []
    unknown = sorted(name for name, callback in views if _capability(callback) not in (None, *CAPABILITIES))
    assert unknown == []


# A role list in Python (a set of roles, a membership test against one, the old per-view attribute) or any role
# comparison in a template. Telling a portal user apart for scoping (access functions, `is_portal`) is not a
# permission and stays.
PY_ROLE_LIST = re.compile(r"allowed_roles|roles_required\(|frozenset\(\{\*?Role\.|\.role (not )?in [A-Z_]{3,}\b")
TEMPLATE_ROLE_CHECK = re.compile(r"\.role\s*(==|!=|in\b)")
# The table itself, and capability_required, whose implementation is roles_required.
EXEMPT = {"o2c/permissions.py", "o2c/views.py"}


def _role_lists() -> list[str]:
    found = []
    for path in [*ROOT.glob("[!.]*/**/*.py"), *ROOT.glob("templates/**/*.html")]:
        name = str(path.relative_to(ROOT))
        if name in EXEMPT or name.split("/")[0] in ("tests", "bench", "scripts") or "/migrations/" in name:
            continue
        pattern = TEMPLATE_ROLE_CHECK if path.suffix == ".html" else PY_ROLE_LIST
        found += [f"{name}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), start=1)
                  if pattern.search(line)]
    return found


def test_no_role_list_outside_the_table():
    assert _role_lists() == []
    assert PY_ROLE_LIST.search("ACTORS = frozenset({Role.TENANT_ADMIN, Role.AR_CLERK})")
    assert PY_ROLE_LIST.search("if request.membership.role in IMPORTERS:")
    assert TEMPLATE_ROLE_CHECK.search('{% if membership.role == "tenant_admin" %}')


@pytest.mark.parametrize("role, yes, no", [
    ("tenant_admin", {"tenant.manage", "cashapp.configure"}, {"portal.use"}),
    ("collector", {"ledger.view", "workspace.view"}, {"invoices.import", "cashapp.view", "payments.view"}),
    ("portal_user", {"ledger.view", "portal.use"}, {"workspace.view", "payments.view"}),
])
def test_the_table_answers_per_role(role, yes, no):
    class Member:
        pass

    member = Member()
    member.role = role
    assert yes <= capabilities_of(member) and not no & capabilities_of(member)
    assert all(can(member, c) for c in yes) and not any(can(member, c) for c in no)
    assert not can(None, "ledger.view")
