"""Triage rules in the database: defaults, save/import/export, the run and its task, dry runs, the command
contract, the settings pages."""

import importlib
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from o2c.models import AuditEvent, Role, Tenant, TriageResult, TriageRule
from o2c.rules import CaseSource, RuleSpec, latest_triage, register_case_source, sources, triage_enqueue
from o2c.rules.fileformat import dump_rule_file
from o2c.rules.services import (
    DEFAULTS_FILE,
    RuleRefused,
    dry_run,
    triage_defaults_install,
    triage_rule_enable,
    triage_rule_move,
    triage_rule_save,
    triage_rules_export,
    triage_rules_replace,
    triage_run,
)
from o2c.services.tenants import tenant_create
from o2c.tenancy import tenant_context
from tests.test_triage_engine import rules_st

CASES = {
    1: {"kind": "deduction", "amount": 12.5, "category": "pricing", "customer": {"id": 1, "risk": "low"}},
    2: {"kind": "deduction", "amount": 25000.0, "category": "shortage", "documents": 0,
        "customer": {"id": 2, "risk": "high"}},
    3: {"kind": "deduction", "amount": 300.0, "category": "freight", "customer": {"id": 3, "risk": "low"}},
}
RULES_YAML = """\
version: 1
deduction:
- name: Small pricing claims
  description: ''
  condition: amount < 100.0 && category == "pricing"
  actions:
    decide: valid
    queue: pricing
  stop: true
  enabled: true
- name: Everything else
  description: ''
  condition: 'true'
  actions:
    queue: deductions
  stop: false
  enabled: true
dispute: []
"""


@pytest.fixture
def source():
    """A deductions source over CASES; `applied` collects what apply() got. The registry is restored after."""
    saved = dict(sources._SOURCES)
    applied = []
    register_case_source(CaseSource(
        kind="deduction", facts=lambda ids: {i: CASES[i] for i in ids if i in CASES},
        apply=applied.extend, recent=lambda days: list(CASES),
        describe=lambda ids: {i: f"D-{i:06d}" for i in ids}))
    yield applied
    sources._SOURCES.clear()
    sources._SOURCES.update(saved)


def _replace(text=RULES_YAML, fmt="yaml"):
    return triage_rules_replace(content=text, format=fmt)


# --- defaults, import, export ----------------------------------------------------------------------

def test_a_new_tenant_starts_with_the_default_rules_and_re_importing_them_changes_nothing(db):
    tenant = tenant_create(slug="initech", name="Initech")
    with tenant_context(tenant):
        names = list(TriageRule.objects.filter(applies_to="deduction").values_list("name", flat=True))
        assert names[0] == "Tiny pricing and promotion claims" and names[-1] == "Everything else"
        exported = triage_rules_export("yaml")
        assert exported == DEFAULTS_FILE.read_text()
        stamps = list(TriageRule.objects.values_list("pk", "updated_at"))
        outcome = triage_rules_replace(content=exported, format="yaml")
        assert not outcome.changed and outcome.unchanged == len(stamps)
        assert list(TriageRule.objects.values_list("pk", "updated_at")) == stamps
        assert triage_rules_export("yaml") == exported
        assert triage_defaults_install().unchanged == 0  # a tenant with rules is left alone


def test_the_data_migration_gives_existing_tenants_the_defaults_once(tenant, other_tenant):
    with tenant_context(other_tenant):
        _replace()
    migration = importlib.import_module("o2c.migrations.0013_triage_default_rules")
    state = MigrationLoader(connection).project_state(("o2c", "0013_triage_default_rules")).apps
    migration.install_defaults(state, SimpleNamespace(connection=connection))
    migration.install_defaults(state, SimpleNamespace(connection=connection))
    with tenant_context(tenant):
        assert triage_rules_export("yaml") == DEFAULTS_FILE.read_text()
    with tenant_context(other_tenant):
        assert triage_rules_export("yaml") == RULES_YAML  # had rules: untouched


def test_export_import_round_trips_in_json_too(in_tenant):
    _replace()
    as_json = triage_rules_export("json")
    assert not _replace(as_json, "json").changed
    assert triage_rules_export("json") == as_json
    assert triage_rules_export("yaml") == RULES_YAML


def test_import_matches_rules_by_name_and_reorders(in_tenant):
    _replace()
    data = yaml.safe_load(RULES_YAML)
    data["deduction"].reverse()
    data["deduction"][0]["actions"]["priority"] = "low"
    data["deduction"].append({"name": "New", "condition": "documents > 0", "actions": {"queue": "docs"}})
    outcome = _replace(yaml.safe_dump(data, sort_keys=False))
    assert (outcome.created, outcome.updated, outcome.deleted) == (1, 2, 0)
    assert list(TriageRule.objects.filter(applies_to="deduction").values_list("name", "position")) == [
        ("Everything else", 1), ("Small pricing claims", 2), ("New", 3)]
    assert _replace(RULES_YAML).deleted == 1


def test_one_bad_rule_refuses_the_whole_file_and_stores_nothing(in_tenant):
    _replace()
    before = triage_rules_export("yaml")
    bad = RULES_YAML.replace("dispute: []", "dispute:\n- name: Broken\n  condition: amount >\n  actions: {queue: x}")
    bad = bad.replace("queue: deductions", "queue: general")
    with pytest.raises(RuleRefused, match=r"^dispute rule 1 'Broken': 1:9: ") as refused:
        _replace(bad)
    assert refused.value.position == "1:9"
    assert triage_rules_export("yaml") == before


# --- one rule at a time ----------------------------------------------------------------------------

def test_save_validates_and_audits(in_tenant, member_factory):
    lead = member_factory(in_tenant, Role.FINANCE_LEAD)
    with pytest.raises(RuleRefused) as refused:
        triage_rule_save(kind="deduction", spec=RuleSpec("Bad", "amount > 1.0 && colour == 1", {"queue": "q"}),
                         actor=lead)
    assert refused.value.position == "1:17" and "colour" in refused.value.message
    rule = triage_rule_save(kind="deduction", spec=RuleSpec("Good", "amount > 1.0", {"priority": "high"}), actor=lead)
    assert (rule.position, rule.updated_by, rule.actions) == (1, lead, {"priority": "high"})
    with pytest.raises(RuleRefused, match="another deduction rule is called 'Good'"):
        triage_rule_save(kind="deduction", spec=RuleSpec("Good", "true", {"queue": "q"}), actor=lead)
    triage_rule_save(kind="deduction", spec=RuleSpec("Good", "amount > 2.0", {"priority": "high"}), rule_id=rule.pk,
                     actor=lead)
    event = AuditEvent.objects.filter(action="triage_rule.updated").get()
    assert event.changes == {"condition": ["amount > 1.0", "amount > 2.0"]} and event.actor == lead


def test_move_and_enable(in_tenant):
    _replace()
    last = TriageRule.objects.get(name="Everything else")
    triage_rule_move(rule_id=last.pk, offset=-1)
    assert list(TriageRule.objects.filter(applies_to="deduction").values_list("name", flat=True)) == [
        "Everything else", "Small pricing claims"]
    triage_rule_move(rule_id=last.pk, offset=-1)  # already first: stays
    assert TriageRule.objects.get(pk=last.pk).position == 1
    triage_rule_enable(rule_id=last.pk, enabled=False)
    assert "enabled: false" in triage_rules_export("yaml")


# --- evaluation ------------------------------------------------------------------------------------

def test_triage_run_stores_an_explained_result_per_case_and_hands_the_decisions_to_the_app(in_tenant, source):
    _replace()
    decisions = triage_run(kind="deduction", ids=[3, 1, 99])  # 99 no longer exists: skipped
    assert [d.case_id for d in decisions] == [1, 3] and [d.case_id for d in source] == [1, 3]
    result = latest_triage("deduction", 1)
    assert result.rules_fired == ["Small pricing claims"]
    assert result.values == {"Small pricing claims": {"amount": 12.5, "category": "pricing"}}
    assert result.actions == {"decide": "valid", "queue": "pricing"}
    assert "rule 'Small pricing claims' fired: amount=12.5, category='pricing' → decide valid" in result.explanation
    assert latest_triage("deduction", 3).actions == {"queue": "deductions"}
    triage_rule_enable(rule_id=TriageRule.objects.get(name="Everything else").pk, enabled=False)
    triage_run(kind="deduction", ids=[3])
    assert latest_triage("deduction", 3).explanation == "no rule fired"  # the newest result wins
    assert TriageResult.objects.filter(case_id=3).count() == 2


def test_results_keep_quotes_backslashes_and_unicode_intact(in_tenant, source):
    name = 'Say "hi" \\ {ünï,cödé} NULL'
    triage_rules_replace(content=yaml.safe_dump({"deduction": [
        {"name": name, "condition": 'category == "pricing"', "actions": {"queue": 'q "1"', "notify": ["a,b"]}}]}),
        format="yaml")
    [decision] = triage_run(kind="deduction", ids=[1])
    result = latest_triage("deduction", 1)
    assert (result.rules_fired, result.actions, result.explanation) == ([name], decision.actions, decision.explanation)
    assert result.values == {name: {"category": "pricing"}} and result.errors == []


def test_enqueue_batches_ids_after_commit_and_the_task_runs_them(in_tenant, source,
                                                                  django_capture_on_commit_callbacks):
    _replace()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        triage_enqueue("deduction", list(range(1, 4500)))
    assert len(callbacks) == 3  # 4,499 ids: three tasks of at most 2,000, not 4,499
    assert not TriageResult.objects.exists()
    for callback in callbacks:  # the Celery task, eager as in tests
        callback()
    assert sorted(TriageResult.objects.values_list("case_id", flat=True)) == [1, 2, 3]


def test_enqueue_refuses_an_unknown_kind(in_tenant):
    with pytest.raises(ValueError, match="unknown kind"):
        triage_enqueue("invoice", [1])


def test_dry_run_compares_a_changed_rule_set_with_what_happened(in_tenant, source):
    _replace()
    triage_run(kind="deduction", ids=[1, 2])  # case 3 was never triaged
    changed = RULES_YAML.replace("amount < 100.0", "amount < 10.0")
    from o2c.rules.services import parse_rules

    report = dry_run(rules=parse_rules(changed, "yaml"), days=90)
    rows = {row.case_id: row for row in report.rows}
    assert rows[1].changed and rows[1].would.actions == {"queue": "deductions"}  # no longer auto-approved
    assert not rows[2].changed and rows[3].was_fired is None and rows[3].changed
    assert report.summary().startswith("3 cases of the last 90 days: 2 would be triaged differently")
    assert TriageResult.objects.count() == 2  # a dry run writes nothing


# --- the command -----------------------------------------------------------------------------------

def run(*args) -> str:
    out = StringIO()
    call_command("triage_rules", *args, stdout=out)
    return out.getvalue()


def test_command_import_export_dry_run(tenant, source, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    assert "2 created, 0 changed, 0 deleted, 0 unchanged" in run("--tenant", "acme", "import", str(rules))
    assert "0 created, 0 changed, 0 deleted, 2 unchanged" in run("--tenant", "acme", "import", str(rules))
    exported = tmp_path / "out.json"
    run("--tenant", "acme", "export", str(exported))
    run("--tenant", "acme", "import", str(exported))
    yaml_out = tmp_path / "out.yaml"
    run("--tenant", "acme", "export", str(yaml_out))
    assert yaml_out.read_text() == RULES_YAML
    out = run("--tenant", "acme", "dry-run", str(rules), "--days", "30")
    assert "D-000001" in out and "never triaged" in out
    assert "deduction rule 'Small pricing claims' would fire on 1 cases" in out
    assert "3 cases of the last 30 days: 3 would be triaged differently" in out


def test_command_errors_are_command_errors_with_the_message(tenant, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES_YAML.replace('category == "pricing"', 'category == pricing'))
    with pytest.raises(CommandError, match=r"deduction rule 1 'Small pricing claims': 1:31: unknown variable"):
        run("--tenant", "acme", "import", str(bad))
    with pytest.raises(CommandError, match="no tenant with slug 'nope'"):
        run("--tenant", "nope", "export", str(tmp_path / "x.yaml"))
    with pytest.raises(CommandError, match="cannot read"):
        run("--tenant", "acme", "import", str(tmp_path / "missing.yaml"))
    with tenant_context(tenant):
        assert not TriageRule.objects.exists()


# --- pages -----------------------------------------------------------------------------------------

@pytest.fixture
def lead_client(tenant, member_factory, verified_client):
    with tenant_context(tenant):
        _replace()
    return verified_client(member_factory(tenant, Role.FINANCE_LEAD))


def test_the_lead_sees_the_rules_in_order_with_the_nav_link(lead_client):
    page = lead_client.get(reverse("triage:rules")).content.decode()
    assert page.index("Small pricing claims") < page.index("Everything else")
    assert 'href="/settings/triage-rules/"' in page and "New deduction rule" in page


def test_a_clerk_may_view_and_export_but_not_edit(tenant, member_factory, verified_client):
    with tenant_context(tenant):
        _replace()
        rule = TriageRule.objects.get(name="Everything else")
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    page = client.get(reverse("triage:rules")).content.decode()
    assert "Everything else" in page and "New deduction rule" not in page
    assert client.get(reverse("triage:export") + "?format=yaml").content.decode() == RULES_YAML
    assert client.get(reverse("triage:rule_edit", args=[rule.pk])).status_code == 403
    assert client.post(reverse("triage:rule_enable", args=[rule.pk]), {"enabled": "0"}).status_code == 403


def test_portal_users_get_no_triage_pages(tenant, member_factory, verified_client):
    from tests.factories import CustomerFactory

    with tenant_context(tenant):
        customer = CustomerFactory()
    client = verified_client(member_factory(tenant, Role.PORTAL_USER, customer=customer))
    assert client.get(reverse("triage:rules")).status_code == 403


FORM = {"kind": "deduction", "name": "Big ones", "condition": "amount > 5000.0", "priority": "urgent",
        "sla_hours": "8", "notify": "finance_lead, ar@example.test", "enabled": "on"}


def test_the_check_shows_the_error_position_with_a_caret(lead_client):
    answer = lead_client.post(reverse("triage:rule_check"), {**FORM, "condition": "amount > 5000.0 &&"},
                              HTTP_HX_REQUEST="true").content.decode()
    assert "1:19" in answer and 'id="rule-caret"' in answer
    assert "amount &gt; 5000.0 &amp;&amp;\n" + " " * 18 + "^" in answer
    ok = lead_client.post(reverse("triage:rule_check"), FORM, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="rule-ok"' in ok


def test_create_dry_run_then_save_from_the_form(lead_client, tenant, source):
    new = reverse("triage:rule_new") + "?kind=deduction"
    form = lead_client.get(new).content.decode()
    assert 'hx-post="/settings/triage-rules/check/"' in form
    dry = lead_client.post(new, {**FORM, "dry_run": "1"})
    assert dry.status_code == 200 and "3 cases of the last 90 days" in dry.content.decode()
    with tenant_context(tenant):
        assert not TriageRule.objects.filter(name="Big ones").exists()
    refused = lead_client.post(new, {**FORM, "condition": "amount >", "save": "1"})
    assert refused.status_code == 422 and "1:9: " in refused.content.decode()
    assert "amount &gt;\n" + " " * 8 + "^" in refused.content.decode()
    assert lead_client.post(new, {**FORM, "save": "1"}).status_code == 302
    with tenant_context(tenant):
        rule = TriageRule.objects.get(name="Big ones")
    assert (rule.position, rule.actions) == (3, {"priority": "urgent", "sla_hours": 8,
                                                 "notify": ["finance_lead", "ar@example.test"]})


def test_move_enable_and_import_from_the_page(lead_client, tenant):
    with tenant_context(tenant):
        last = TriageRule.objects.get(name="Everything else")
    lead_client.post(reverse("triage:rule_move", args=[last.pk]), {"direction": "up"})
    lead_client.post(reverse("triage:rule_enable", args=[last.pk]), {"enabled": "0"})
    with tenant_context(tenant):
        last.refresh_from_db()
        assert (last.position, last.enabled) == (1, False)
    upload = SimpleUploadedFile("rules.yaml", RULES_YAML.encode())
    assert lead_client.post(reverse("triage:import"), {"file": upload, "import": "1"}).status_code == 302
    with tenant_context(tenant):
        assert triage_rules_export("yaml") == RULES_YAML
    bad = SimpleUploadedFile("rules.json", b'{"deduction": [{"name": "X"}]}')
    answer = lead_client.post(reverse("triage:import"), {"file": bad, "import": "1"})
    assert answer.status_code == 422 and "deduction rule 1 &#x27;X&#x27;: condition: the field" in \
        answer.content.decode()


def test_other_tenants_rules_are_404(lead_client, other_tenant):
    with tenant_context(other_tenant):
        foreign = TriageRule.objects.create(applies_to="deduction", position=1, name="Theirs", condition="true",
                                            actions={"queue": "x"})
    assert lead_client.get(reverse("triage:rule_edit", args=[foreign.pk])).status_code == 404
    assert lead_client.post(reverse("triage:rule_delete", args=[foreign.pk])).status_code == 404
    assert Tenant.objects.count() == 2


# --- API -------------------------------------------------------------------------------------------

def test_api_lists_exports_and_imports_with_capabilities(tenant, other_tenant, member_factory):
    from django.test import Client

    from o2c.services.tenants import api_token_create

    admin = member_factory(tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        _, lead_key = api_token_create(name="ERP rules", role=Role.FINANCE_LEAD, created_by=admin)
        _, clerk_key = api_token_create(name="ERP", role=Role.AR_CLERK, created_by=admin)
    with tenant_context(other_tenant):
        triage_rules_replace(content=RULES_YAML.replace("Everything else", "Globex only"), format="yaml")
    lead, clerk = (Client(HTTP_AUTHORIZATION=f"Bearer {key}") for key in (lead_key, clerk_key))
    body = {"format": "yaml", "content": RULES_YAML}
    assert clerk.post(reverse("api_triage_rules_import"), body, content_type="application/json").status_code == 403
    answer = lead.post(reverse("api_triage_rules_import"), body, content_type="application/json")
    assert answer.json() == {"created": 2, "updated": 0, "deleted": 0, "unchanged": 0}
    listing = clerk.get(reverse("api_triage_rules")).json()
    assert [r["name"] for r in listing["deduction"]] == ["Small pricing claims", "Everything else"]
    assert clerk.get(reverse("api_triage_rules_export")).content.decode() == RULES_YAML
    bad = lead.post(reverse("api_triage_rules_import"), {"format": "yaml", "content": "deduction: [{name: X}]"},
                    content_type="application/json")
    assert bad.status_code == 400 and bad.json()["position"] == "condition"
    assert "rule 1 'X'" in bad.json()["detail"]


# --- properties through the database ---------------------------------------------------------------

BREAKAGES = [("condition", "amount >"), ("condition", "colour == 1"), ("actions", {"priority": "asap"}),
             ("actions", {}), ("condition", 'amount > "x"'), ("actions", {"sla_hours": 0})]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deductions=rules_st, disputes=rules_st, fmt=st.sampled_from(["yaml", "json"]),
       breakage=st.sampled_from(BREAKAGES), data=st.data())
def test_import_is_all_or_nothing_and_round_trips_through_the_database(in_tenant, deductions, disputes, fmt,
                                                                       breakage, data):
    text = dump_rule_file({"deduction": deductions, "dispute": disputes}, fmt)
    triage_rules_replace(content=text, format=fmt)
    assert triage_rules_export(fmt) == text
    assert not triage_rules_replace(content=text, format=fmt).changed
    if not deductions:
        return
    index = data.draw(st.integers(0, len(deductions) - 1))
    field, value = breakage
    broken = [*deductions]
    broken[index] = RuleSpec(**{**broken[index].__dict__, field: value})
    with pytest.raises(RuleRefused, match=rf"^deduction rule {index + 1} "):
        triage_rules_replace(content=dump_rule_file({"deduction": broken, "dispute": []}, fmt), format=fmt)
    assert triage_rules_export(fmt) == text  # nothing of the refused file was stored


def test_rules_read_the_customers_segment_and_risk(in_tenant):
    """customer.segment and customer.risk come from the customer's row, for deductions and disputes alike."""
    from deductions.services import deduction_create_by_clerk
    from disputes.services import LineInput, dispute_file_for_customer
    from o2c.rules.services import triage_rules_replace, triage_run
    from tests.factories import CustomerFactory, InvoiceFactory

    triage_rules_replace(content=(
        "version: 1\n"
        "deduction:\n- name: Risky key accounts\n  condition: customer.risk == 'high' && customer.segment == 'key'\n"
        "  actions: {queue: watch}\n"
        "dispute:\n- name: Risky key accounts\n  condition: customer.risk == 'high' && customer.segment == 'key'\n"
        "  actions: {queue: watch}\n"), format="yaml")
    risky = CustomerFactory(segment="key", risk="high")
    calm = CustomerFactory(segment="key", risk="low")
    fired = {}
    for customer in (risky, calm):
        invoice = InvoiceFactory(customer=customer, amount=Decimal("100.00"))
        deduction = deduction_create_by_clerk(customer=customer, invoice=invoice, amount=Decimal("5.00"),
                                              reason="pricing", actor=None)
        dispute = dispute_file_for_customer(customer=customer, lines=[LineInput(invoice.pk, Decimal("5.00"))],
                                            reason_code="pricing", message="price", actor=None)
        [d1] = triage_run(kind="deduction", ids=[deduction.pk])
        [d2] = triage_run(kind="dispute", ids=[dispute.pk])
        fired[customer.risk] = ([f.name for f in d1.fired], [f.name for f in d2.fired], d1.fired and d1.fired[0].values)
    assert fired["high"][:2] == (["Risky key accounts"], ["Risky key accounts"])
    assert fired["high"][2] == {"customer.risk": "high", "customer.segment": "key"}
    assert fired["low"][:2] == ([], [])
