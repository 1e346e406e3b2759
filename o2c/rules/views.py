"""The finance lead's triage rules pages (/settings/triage-rules/). Thin: the services validate and write."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import inputs
from ..errors import ApplicationError
from ..models import TriageKind, TriageRule
from ..permissions import can
from ..views import capability_required
from . import services
from .engine import describe_actions
from .fileformat import format_for
from .forms import RuleFileForm, TriageRuleForm

DRY_RUN_ROWS = 100  # the page lists the cases that would change first; the summary counts all


@capability_required("triage.view")
@require_GET
def rule_list(request):
    kinds = [(kind, label, _with_summaries(services.triage_rules(kind))) for kind, label in TriageKind.choices]
    return render(request, "triage/rules.html", {
        "kinds": kinds, "can_manage": can(request.membership, "triage.manage"), "file_form": RuleFileForm()})


def _with_summaries(rules) -> list[TriageRule]:
    rules = list(rules)
    for rule in rules:
        rule.summary = describe_actions(rule.actions)  # "decide valid, queue 'pricing', SLA 24 h"
    return rules


def _kind(request, rule) -> str:
    kind = rule.applies_to if rule else request.GET.get("kind", "")
    if kind not in TriageKind.values:
        raise Http404("unknown kind of case")
    return kind


@capability_required("triage.manage")
@require_http_methods(["GET", "POST"])
def rule_edit(request, rule_id=None):
    """New or existing rule. 'Dry run' shows what the kind's rule set with this rule would have done to
    the last 90 days of cases and saves nothing; 'Save' validates and saves."""
    rule = get_object_or_404(TriageRule, pk=rule_id) if rule_id is not None else None
    kind = _kind(request, rule)
    initial = TriageRuleForm.initial_for(rule) if rule else None
    form = TriageRuleForm(request.POST or None, initial=initial)
    problem, report = None, None
    if request.method == "POST" and form.is_valid():
        try:
            if "dry_run" in request.POST:
                report = services.dry_run(rules={kind: _set_with(kind, rule, form.spec())})
            else:
                services.triage_rule_save(kind=kind, spec=form.spec(), rule_id=rule_id, actor=request.user)
                messages.success(request, f"Rule {form.cleaned_data['name']!r} saved.")
                return redirect("triage:rules")
        except ApplicationError as exc:  # RuleRefused carries the position for the caret
            problem = exc
    status = 422 if (form.errors or problem) else 200
    return render(request, "triage/rule_form.html", {
        "form": form, "rule": rule, "kind": kind, "problem": problem, "caret": _caret(form, problem),
        "report": report, "report_rows": _rows(report)}, status=status)


def _set_with(kind, rule, spec):
    """The kind's rules as they would be if this form were saved (a new rule goes last)."""
    specs = [spec if rule and r.pk == rule.pk else services.spec_of(r) for r in services.triage_rules(kind)]
    return specs if rule else [*specs, spec]


def _rows(report):
    if report is None:
        return []
    return sorted(report.rows, key=lambda r: (not r.changed, r.kind, r.case_id))[:DRY_RUN_ROWS]


def _caret(form, problem):
    """The condition's line with the error and a caret under the column, for syntax-like errors."""
    line_column = getattr(problem, "line_column", None)
    condition = (form.data.get("condition") or "") if form.is_bound else ""
    if not line_column or not condition:
        return None
    line, column = line_column
    lines = condition.splitlines() or [""]
    text = lines[min(line, len(lines)) - 1]
    return {"text": text, "caret": " " * (column - 1) + "^"}


@capability_required("triage.manage")
@require_POST
def rule_check(request):
    """htmx, as the lead types: is the rule as it stands valid? Answers a fragment, never saves."""
    form = TriageRuleForm(request.POST)
    problem = None
    if form.is_valid():
        try:
            services.triage_rule_check(kind=_kind_from_post(request), spec=form.spec(),
                                       rule_id=inputs.integer(request.POST, "rule_id"))
        except ApplicationError as exc:
            problem = exc
    elif "condition" in form.errors:
        problem = ApplicationError("the condition is empty")
    return render(request, "triage/_check.html", {"problem": problem, "caret": _caret(form, problem), "checked": True,
                                                  "form_errors": form.errors if not problem else None})


def _kind_from_post(request) -> str:
    kind = request.POST.get("kind", "")
    if kind not in TriageKind.values:
        raise ApplicationError("unknown kind of case")
    return kind


@capability_required("triage.manage")
@require_POST
def rule_move(request, rule_id):
    rule = get_object_or_404(TriageRule, pk=rule_id)
    services.triage_rule_move(rule_id=rule.pk, offset=-1 if request.POST.get("direction") == "up" else 1,
                              actor=request.user)
    return redirect("triage:rules")


@capability_required("triage.manage")
@require_POST
def rule_enable(request, rule_id):
    rule = get_object_or_404(TriageRule, pk=rule_id)
    services.triage_rule_enable(rule_id=rule.pk, enabled=request.POST.get("enabled") == "1", actor=request.user)
    return redirect("triage:rules")


@capability_required("triage.manage")
@require_POST
def rule_delete(request, rule_id):
    rule = get_object_or_404(TriageRule, pk=rule_id)
    services.triage_rule_delete(rule_id=rule.pk, actor=request.user)
    messages.success(request, f"Rule {rule.name!r} deleted.")
    return redirect("triage:rules")


@capability_required("triage.view")
@require_GET
def rules_export(request):
    fmt = "json" if request.GET.get("format") == "json" else "yaml"
    response = HttpResponse(services.triage_rules_export(fmt),
                            content_type="application/json" if fmt == "json" else "application/yaml")
    response["Content-Disposition"] = f'attachment; filename="triage-rules.{fmt}"'
    return response


@capability_required("triage.manage")
@require_POST
def rules_import(request):
    """Upload a rule file: 'Dry run' shows what it would do, 'Import' replaces the rules (all or nothing)."""
    form = RuleFileForm(request.POST, request.FILES)
    problem, report = None, None
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            content, fmt = upload.read(), format_for(upload.name)
            if "dry_run" in request.POST:
                report = services.dry_run(rules=services.parse_rules(content, fmt))
            else:
                outcome = services.triage_rules_replace(content=content, format=fmt, actor=request.user)
                messages.success(request, f"{upload.name} imported: {outcome}.")
                return redirect("triage:rules")
        except ApplicationError as exc:
            problem = exc
    return render(request, "triage/import.html", {
        "form": form, "problem": problem, "report": report, "report_rows": _rows(report)},
        status=422 if (form.errors or problem) else 200)
