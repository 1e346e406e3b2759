"""Writes of the triage rules and their results. Every function works in the current tenant's scope."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import Max

from ..bulk import bulk_cursor, pg_array
from ..citus import returning_on_citus
from ..errors import ApplicationError
from ..models import Tenant, TriageResult, TriageRule
from ..services.audit import audit_event
from ..tenancy import current_tenant_id
from . import engine
from .engine import KINDS, RuleError, RuleSpec, TriageDecision, compile_rules
from .fileformat import RuleFileError, dump_rule_file, parse_rule_file, rule_to_dict
from .sources import case_source, registered_kinds

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")
RESULT_BATCH = 2000
RULE_FIELDS = ("name", "description", "condition", "actions", "stop", "enabled")


class RuleRefused(ApplicationError):
    """A rule (or a rule file) that may not be saved; `position` is "line:column", "actions.<key>", ..."""

    def __init__(self, exc: RuleError | RuleFileError):
        super().__init__(str(exc), extra={"position": getattr(exc, "position", "")})
        self.position = getattr(exc, "position", "")
        self.line_column = exc.line_column if isinstance(exc, RuleError) else None


# --- reading ---------------------------------------------------------------------------------------

def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ApplicationError(f"unknown kind of case {kind!r}; use {' or '.join(KINDS)}")


def triage_rules(kind: str):
    _check_kind(kind)
    return TriageRule.objects.filter(applies_to=kind).order_by("position", "id")


def spec_of(rule: TriageRule) -> RuleSpec:
    return RuleSpec(name=rule.name, condition=rule.condition, actions=rule.actions, stop=rule.stop,
                    enabled=rule.enabled, description=rule.description)


def triage_rule_specs(kind: str) -> list[RuleSpec]:
    return [spec_of(rule) for rule in triage_rules(kind)]


def latest_triage(kind: str, case_id: int) -> TriageResult | None:
    return TriageResult.objects.filter(kind=kind, case_id=case_id).order_by("-created_at", "-id").first()


def latest_triages(kind: str, case_ids) -> dict[int, TriageResult]:
    rows = (TriageResult.objects.filter(kind=kind, case_id__in=list(case_ids))
            .order_by("case_id", "-created_at", "-id").distinct("case_id"))
    return {row.case_id: row for row in rows}


# --- one rule at a time (the settings page) --------------------------------------------------------

def triage_rule_check(*, kind: str, spec: RuleSpec, rule_id: int | None = None) -> engine.CompiledRule:
    """Validate a rule as the form would save it; RuleRefused names the position."""
    _check_kind(kind)
    try:
        compiled = engine.compile_rule(spec)
        engine.compile_rules([spec])  # the name checks
    except RuleError as exc:
        raise RuleRefused(exc) from None
    if TriageRule.objects.filter(applies_to=kind, name=spec.name).exclude(pk=rule_id).exists():
        raise RuleRefused(RuleError(f"another {kind} rule is called {spec.name!r}", position="name"))
    return compiled


def triage_rule_save(*, kind: str, spec: RuleSpec, rule_id: int | None = None, actor=None) -> TriageRule:
    """Create a rule (at the end of its kind's order) or change one; refused with the error's position."""
    with transaction.atomic():
        _lock_kind(kind)
        triage_rule_check(kind=kind, spec=spec, rule_id=rule_id)
        if rule_id is None:
            last = TriageRule.objects.filter(applies_to=kind).aggregate(m=Max("position"))["m"] or 0
            rule = TriageRule(applies_to=kind, position=last + 1)
            before = {}
        else:
            rule = TriageRule.objects.select_for_update().get(pk=rule_id, applies_to=kind)
            before = rule_to_dict(spec_of(rule))
        for name, value in rule_to_dict(spec).items():
            setattr(rule, name, value)
        rule.updated_by = actor
        try:
            with transaction.atomic():
                rule.save()
        except IntegrityError:  # the same name saved by someone else a moment ago
            raise RuleRefused(RuleError(f"another {kind} rule is called {spec.name!r}", position="name")) from None
        changes = {k: [before.get(k), v] for k, v in rule_to_dict(spec).items() if before.get(k) != v}
        audit_event("triage_rule.created" if not before else "triage_rule.updated", rule, changes, actor=actor)
    return rule


def _lock_kind(kind: str) -> list[TriageRule]:
    """Lock the kind's rules in id order: saves, moves and imports of one kind run one after another."""
    _check_kind(kind)
    return list(TriageRule.objects.select_for_update().filter(applies_to=kind).order_by("id"))


def triage_rule_move(*, rule_id: int, offset: int, actor=None) -> TriageRule:
    """Move a rule up (offset -1) or down (+1) in its kind's order."""
    with transaction.atomic():
        kind = TriageRule.objects.get(pk=rule_id).applies_to
        _lock_kind(kind)
        ordered = list(triage_rules(kind))
        index = next(i for i, r in enumerate(ordered) if r.pk == rule_id)
        target = min(max(index + offset, 0), len(ordered) - 1)
        ordered.insert(target, ordered.pop(index))
        _renumber(ordered)
        rule = ordered[target]
        if target != index:
            audit_event("triage_rule.moved", rule, {"position": [index + 1, target + 1]}, actor=actor)
    return rule


def _renumber(ordered: list[TriageRule]) -> None:
    changed = []
    for position, rule in enumerate(ordered, start=1):
        if rule.position != position:
            rule.position = position
            changed.append(rule)
    TriageRule.objects.bulk_update(changed, ["position"])


def triage_rule_enable(*, rule_id: int, enabled: bool, actor=None) -> TriageRule:
    with transaction.atomic():
        rule = TriageRule.objects.select_for_update().get(pk=rule_id)
        if rule.enabled != enabled:
            rule.enabled, rule.updated_by = enabled, actor
            rule.save(update_fields=["enabled", "updated_by", "updated_at"])
            audit_event("triage_rule.updated", rule, {"enabled": [not enabled, enabled]}, actor=actor)
    return rule


def triage_rule_delete(*, rule_id: int, actor=None) -> None:
    with transaction.atomic():
        rule = TriageRule.objects.select_for_update().get(pk=rule_id)
        audit_event("triage_rule.deleted", rule, {"name": [rule.name, None]}, actor=actor)
        _rule_delete(rule)
        _renumber(list(triage_rules(rule.applies_to)))


def _rule_delete(rule: TriageRule) -> None:
    """Delete through the tenant's manager: `Model.delete()` names the row by id alone, which Citus must
    send to every shard; the scoped queryset's delete also names the tenant, so it reaches one."""
    TriageRule.objects.filter(pk=rule.pk).delete()


# --- whole rule sets (files) -----------------------------------------------------------------------

@dataclass
class ImportOutcome:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def __str__(self) -> str:
        return (f"{self.created} created, {self.updated} changed, {self.deleted} deleted, "
                f"{self.unchanged} unchanged")


def parse_rules(content: str | bytes, format: str) -> dict[str, list[RuleSpec]]:  # noqa: A002 - the contract's name
    try:
        return parse_rule_file(content, format)
    except (RuleError, RuleFileError) as exc:
        raise RuleRefused(exc) from None


def triage_rules_replace(*, content: str | bytes, format: str, actor=None) -> ImportOutcome:  # noqa: A002
    """Replace the rule set of each kind the file gives, all or nothing. Rules are matched by name, so
    importing the set that is already there writes nothing."""
    sets = parse_rules(content, format)
    outcome = ImportOutcome()
    with transaction.atomic():
        for kind, specs in sets.items():
            _replace_kind(kind, specs, outcome, actor)
        if outcome.changed:
            audit_event("triage_rules.imported", Tenant.objects.get(pk=current_tenant_id()),
                        {"rules": [None, str(outcome)]}, actor=actor)
    return outcome


def _replace_kind(kind: str, specs: list[RuleSpec], outcome: ImportOutcome, actor) -> None:
    existing = {rule.name: rule for rule in _lock_kind(kind)}
    wanted = {spec.name for spec in specs}
    for rule in existing.values():
        if rule.name not in wanted:
            _rule_delete(rule)
            outcome.deleted += 1
    for position, spec in enumerate(specs, start=1):
        rule = existing.get(spec.name)
        fields = {**rule_to_dict(spec), "position": position}
        if rule is not None and all(getattr(rule, k) == v for k, v in fields.items()):
            outcome.unchanged += 1
            continue
        if rule is None:
            rule, outcome.created = TriageRule(applies_to=kind), outcome.created + 1
        else:
            outcome.updated += 1
        for name, value in fields.items():
            setattr(rule, name, value)
        rule.updated_by = actor
        rule.save()


def triage_rules_export(format: str = "yaml") -> str:  # noqa: A002 - the contract's name
    """The tenant's rules of both kinds as a rule file; the same rules always give the same bytes."""
    try:
        return dump_rule_file({kind: triage_rule_specs(kind) for kind in KINDS}, format)
    except RuleFileError as exc:
        raise ApplicationError(str(exc)) from None


def triage_defaults_install(actor=None) -> ImportOutcome:
    """Give a tenant without any rule the default set (o2c/rules/defaults.yaml), so triage works on day one."""
    if TriageRule.objects.exists():
        return ImportOutcome()
    return triage_rules_replace(content=DEFAULTS_FILE.read_text(), format="yaml", actor=actor)


# --- evaluating ------------------------------------------------------------------------------------

def triage_compiled(kind: str) -> list[engine.CompiledRule]:
    """The kind's enabled rules, compiled once for a whole batch of cases."""
    try:
        return compile_rules(triage_rule_specs(kind), kind=kind)
    except RuleError as exc:
        # Only a rule saved before a stricter check could get here: refuse the batch loudly, decide nothing.
        raise RuleRefused(exc) from None


def triage_decide(kind: str, ids, compiled=None) -> list[TriageDecision]:
    """Evaluate without storing anything (dry runs, benchmarks)."""
    compiled = triage_compiled(kind) if compiled is None else compiled
    facts = case_source(kind).facts(sorted(set(ids)))
    return [engine.evaluate(compiled, facts[case_id], case_id) for case_id in sorted(facts)]


def triage_run(*, kind: str, ids) -> list[TriageDecision]:
    """Evaluate the tenant's rules on these cases, store a TriageResult each, hand the decisions to the
    case's app (`CaseSource.apply`). Ids of cases that no longer exist are skipped."""
    _check_kind(kind)
    with transaction.atomic():
        decisions = triage_decide(kind, ids)
        _store_results(kind, decisions)
        if decisions:
            case_source(kind).apply(decisions)
    return decisions


def _store_results(kind: str, decisions: list[TriageDecision]) -> None:
    """One INSERT per batch, arrays bound on the server: the ORM's bulk_create quotes 10,000 JSON values in
    Python first, which was two thirds of a 10k-case triage (see o2c/bulk.py)."""
    for start in range(0, len(decisions), RESULT_BATCH):
        batch = decisions[start:start + RESULT_BATCH]
        columns = (
            [d.case_id for d in batch],
            [_json([f.name for f in d.fired]) for d in batch],
            [_json({f.name: f.values for f in d.fired}) for d in batch],
            [_json(d.actions) for d in batch],
            [d.explanation for d in batch],
            [_json(d.errors) for d in batch],
        )
        with bulk_cursor() as cur:
            cur.execute(
                "INSERT INTO o2c_triageresult (tenant_id, kind, case_id, rules_fired, \"values\", actions,"  # noqa: S608 - no input in the text
                " explanation, errors, created_at)"
                " SELECT %s, %s, t.case_id, t.fired::jsonb, t.vals::jsonb, t.acts::jsonb, t.expl, t.errs::jsonb,"
                " statement_timestamp()"
                " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[],"
                " %s::text[]) AS t(case_id, fired, vals, acts, expl, errs)" + returning_on_citus(),
                [current_tenant_id(), kind, *map(pg_array, columns)])


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- dry run ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DryRunRow:
    kind: str
    case_id: int
    label: str
    would: TriageDecision
    was_fired: list[str] | None  # None: never triaged
    was_actions: dict | None

    @property
    def changed(self) -> bool:
        return self.was_actions != self.would.actions or self.was_fired != [f.name for f in self.would.fired]


@dataclass
class DryRun:
    days: int
    rows: list[DryRunRow] = field(default_factory=list)
    skipped_kinds: list[str] = field(default_factory=list)  # no source registered (the app is not installed)

    @property
    def changed(self) -> list[DryRunRow]:
        return [row for row in self.rows if row.changed]

    def fire_counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for row in self.rows:
            for fired in row.would.fired:
                counts[(row.kind, fired.name)] = counts.get((row.kind, fired.name), 0) + 1
        return dict(sorted(counts.items()))

    def summary(self) -> str:
        text = (f"{len(self.rows)} cases of the last {self.days} days: {len(self.changed)} would be triaged "
                f"differently, {len(self.rows) - len(self.changed)} the same")
        if self.skipped_kinds:
            text += f" (no cases source for {', '.join(self.skipped_kinds)})"
        return text


def dry_run(*, rules: dict[str, list[RuleSpec]], days: int = 90) -> DryRun:
    """What these rule sets ({kind: [RuleSpec, ...]}) would do to the cases of the last `days` days, next to
    what the rules of the time did (the latest TriageResult of each case). Writes nothing."""
    if days < 1:
        raise ApplicationError("a dry run looks back at least one day")
    result = DryRun(days=days)
    for kind, specs in rules.items():
        if kind not in registered_kinds():
            result.skipped_kinds.append(kind)
            continue
        try:
            compiled = compile_rules(specs, kind=kind)
        except RuleError as exc:
            raise RuleRefused(exc) from None
        source = case_source(kind)
        ids = sorted(set(source.recent(days)))
        labels, before = source.describe(ids), latest_triages(kind, ids)
        for decision in triage_decide(kind, ids, compiled):
            was = before.get(decision.case_id)
            result.rows.append(DryRunRow(kind, decision.case_id, labels.get(decision.case_id, str(decision.case_id)),
                                         decision, was.rules_fired if was else None, was.actions if was else None))
    return result
