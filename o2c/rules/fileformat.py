"""The rule file (YAML or JSON): parse it into RuleSpecs, dump RuleSpecs back, byte-stable.

    version: 1
    deduction:          # the ordered rules for deductions; the list order is the evaluation order
    - name: ...
      description: ...
      condition: ...    # CEL
      actions: {...}
      stop: false
      enabled: true
    dispute: [...]

A kind left out of the file is left alone on import; a kind given replaces that kind's whole rule set.
"""

from __future__ import annotations

import json

import yaml

from .engine import ACTION_ORDER, KINDS, RuleError, RuleSpec, compile_rules

FORMATS = ("yaml", "json")
FILE_VERSION = 1
RULE_FIELDS = ("name", "description", "condition", "actions", "stop", "enabled")
REQUIRED_FIELDS = ("name", "condition", "actions")


class RuleFileError(ValueError):
    """The file cannot be read as a rule file; the message names what and where."""


def format_for(file_name: str) -> str:
    return "json" if file_name.lower().endswith(".json") else "yaml"


def parse_rule_file(content: str | bytes, fmt: str) -> dict[str, list[RuleSpec]]:
    """{kind: [RuleSpec, ...]} for the kinds the file gives, each set compiled (so checked) already."""
    if fmt not in FORMATS:
        raise RuleFileError(f"unknown format {fmt!r}; use yaml or json")
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            raise RuleFileError("the file is not UTF-8 text") from None
    data = _load(content, fmt)
    if not isinstance(data, dict):
        raise RuleFileError("the file must hold a mapping with the keys version, deduction, dispute")
    unknown = sorted(set(map(str, data)) - {"version", *KINDS})
    if unknown:
        raise RuleFileError(f"unknown top-level key {unknown[0]!r}; the keys are version, deduction, dispute")
    if data.get("version", FILE_VERSION) != FILE_VERSION:
        raise RuleFileError(f"version {data.get('version')!r} is not supported; this is version {FILE_VERSION}")
    sets = {}
    for kind in KINDS:
        if kind in data:
            sets[kind] = _rule_list(data[kind], kind)
            compile_rules(sets[kind], kind=kind)  # RuleError: "deduction rule 3 'name': 1:10: ..."
    return sets


def _load(content: str, fmt: str):
    try:
        return json.loads(content) if fmt == "json" else yaml.safe_load(content)
    except json.JSONDecodeError as exc:
        raise RuleFileError(f"the file is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise RuleFileError(f"the file is not valid YAML: {where}{getattr(exc, 'problem', None) or exc}") from None


def _rule_list(items, kind: str) -> list[RuleSpec]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise RuleFileError(f"{kind} must be a list of rules")
    return [_rule(item, kind, index) for index, item in enumerate(items, start=1)]


def _rule(item, kind: str, index: int) -> RuleSpec:
    name = item.get("name", "") if isinstance(item, dict) else ""

    def refuse(message, position):
        return RuleError(message, position=position, index=index, name=str(name), kind=kind)

    if not isinstance(item, dict):
        raise refuse("a rule must be a mapping of name, description, condition, actions, stop, enabled", "")
    for key in item:
        if key not in RULE_FIELDS:
            raise refuse(f"unknown field {key!r}; the fields are {', '.join(RULE_FIELDS)}", str(key))
    for key in REQUIRED_FIELDS:
        if key not in item:
            raise refuse(f"the field {key!r} is missing", key)
    for key in ("name", "condition"):
        if not isinstance(item[key], str):
            raise refuse(f"{key} must be text (quote it: '{item[key]}')", key)
    if not isinstance(item.get("description", ""), str | None):
        raise refuse("description must be text", "description")
    for key in ("stop", "enabled"):
        if not isinstance(item.get(key, key == "enabled"), bool):
            raise refuse(f"{key} must be true or false", key)
    return RuleSpec(name=item["name"], condition=item["condition"], actions=item["actions"],
                    stop=item.get("stop", False), enabled=item.get("enabled", True),
                    description=item.get("description") or "")


def rule_to_dict(spec: RuleSpec) -> dict:
    """One rule in the file's fixed field order, actions in the vocabulary's order: stable output."""
    return {
        "name": spec.name, "description": spec.description, "condition": spec.condition,
        "actions": {key: spec.actions[key] for key in ACTION_ORDER if key in spec.actions},
        "stop": spec.stop, "enabled": spec.enabled,
    }


def dump_rule_file(sets: dict[str, list[RuleSpec]], fmt: str) -> str:
    data = {"version": FILE_VERSION, **{kind: [rule_to_dict(s) for s in sets.get(kind, [])] for kind in KINDS}}
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100000)
    raise RuleFileError(f"unknown format {fmt!r}; use yaml or json")
