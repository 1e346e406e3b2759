"""The finance lead writes a triage rule in Chromium: the condition is checked as they type (htmx) and
the error's position is shown with a caret, before anything is saved."""

import re

import pytest

from o2c.models import Role, TriageRule
from o2c.tenancy import tenant_context
from tests.test_browser import page, sign_in, totp_now  # noqa: F401 - `page` is the shared browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_lead_writes_a_rule_checked_as_they_type(live_server, tenant, member_factory, page):  # noqa: F811
    member_factory(tenant, Role.FINANCE_LEAD, email="lead@acme.test")
    sign_in(page, live_server.url, "lead@acme.test")
    page.wait_for_url(re.compile(r"/mfa/"))
    page.fill("input[name=token]", totp_now(page.locator("#totp-secret").inner_text().strip()))
    page.click("form:has(input[name=token]) button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.click("nav.nav >> text=Triage rules")
    page.wait_for_url(re.compile(r"/settings/triage-rules/$"))
    page.click("text=New deduction rule")
    page.fill("input[name=name]", "Big claims")
    page.fill("textarea[name=condition]", "amount > 100 &&")
    page.wait_for_selector("#rule-caret")
    assert "1:16" in page.locator("#rule-problem").inner_text()
    assert page.locator("#rule-caret").inner_text().splitlines()[-1] == " " * 15 + "^"

    page.fill("textarea[name=condition]", "amount > 100.0 && colour == 1")
    page.wait_for_function("() => (document.querySelector('#rule-problem') || {}).innerText?.includes('colour')")
    assert "1:19: unknown variable 'colour'" in page.locator("#rule-problem").inner_text()

    page.fill("textarea[name=condition]", "amount > 1000.0")
    page.select_option("select[name=priority]", "high")
    page.wait_for_selector("#rule-ok")
    page.click("button[name=save]")
    page.wait_for_url(re.compile(r"/settings/triage-rules/$"))
    assert "Big claims" in page.locator("#rules-deduction").inner_text()
    with tenant_context(tenant):
        rule = TriageRule.objects.get(name="Big claims")
    assert (rule.condition, rule.actions) == ("amount > 1000.0", {"priority": "high"})
