"""The triage rules engine, pure: no database, no Django.

A rule is a CEL condition (https://cel.dev, through the `common-expression-language` package: no loops
beyond bounded macros, no I/O, no side effects) and a dict of actions. `compile_rules` checks a whole
ordered rule set once and refuses the first bad rule with its position; `evaluate` runs the compiled set
against one case's facts and returns a `TriageDecision` that says which rules fired, on which values,
and what they did.

Numbers: `amount` is a double, the counts are ints. CEL compares across numeric types (`amount > 100`
works), but does no arithmetic across them (`amount + 1` is a type error): a rule that mixes them is
refused when saved, with a hint to write `1.0` or `double(x)`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# --- the facts every case source provides (INTERFACES.md section 2) ---------------------------------

CUSTOMER_FIELDS: dict[str, type] = {"id": int, "name": str, "segment": str, "risk": str}
FACT_TYPES: dict[str, type] = {
    "kind": str, "amount": float, "currency": str, "reason": str, "category": str, "source": str,
    "status": str, "customer": dict, "invoice_age_days": int, "past_disputes": int, "documents": int,
}
CATEGORIES = ("pricing", "shortage", "damage", "returns", "promotion", "freight", "tax", "unearned_discount",
              "compliance", "unknown")
KINDS = ("deduction", "dispute")

# Typed sample cases a condition is run against when saved: a type error (`amount > "x"`), a missing map
# key (`customer.tier`) or a non-bool result shows up on one of them. They vary the values so that both
# sides of `&&` / `||` are usually reached.
SAMPLE_FACTS: tuple[dict, ...] = (
    {"kind": "deduction", "amount": 42.0, "currency": "USD", "reason": "P01", "category": "pricing",
     "source": "remittance", "status": "open", "customer": {"id": 1, "name": "Acme", "segment": "key",
                                                            "risk": "low"},
     "invoice_age_days": 12, "past_disputes": 0, "documents": 0},
    {"kind": "dispute", "amount": 125000.5, "currency": "EUR", "reason": "", "category": "unknown",
     "source": "portal", "status": "new", "customer": {"id": 77, "name": "", "segment": "", "risk": "high"},
     "invoice_age_days": 400, "past_disputes": 9, "documents": 3},
    {"kind": "deduction", "amount": 0.0, "currency": "GBP", "reason": "X", "category": "shortage",
     "source": "clerk", "status": "in_research", "customer": {"id": 5, "name": "B", "segment": "smb",
                                                              "risk": "medium"},
     "invoice_age_days": 0, "past_disputes": 1, "documents": 1},
)

# --- the action vocabulary -------------------------------------------------------------------------

PRIORITIES = ("low", "normal", "high", "urgent")
DECISIONS = ("valid", "invalid")
ACTION_ORDER = ("decide", "queue", "owner", "priority", "sla_hours", "request_documents", "write_off", "notify")
MAX_SLA_HOURS = 24 * 366
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RuleError(ValueError):
    """A rule that may not be saved: names the rule (its 1-based place and name) and where it is wrong.

    `position` is "line:column" inside the condition, or "actions.<key>" / "<field>" for the rest.
    """

    def __init__(self, message: str, *, position: str, index: int | None = None, name: str = "",
                 kind: str = ""):
        self.message, self.position, self.index, self.name, self.kind = message, position, index, name, kind
        super().__init__(str(self))

    @property
    def line_column(self) -> tuple[int, int] | None:
        match = re.fullmatch(r"(\d+):(\d+)", self.position)
        return (int(match[1]), int(match[2])) if match else None

    def __str__(self) -> str:
        where = f"{self.position}: " if self.position else ""
        if self.index is None:
            return f"{where}{self.message}"
        kind = f"{self.kind} " if self.kind else ""
        return f"{kind}rule {self.index} {self.name!r}: {where}{self.message}"


@dataclass(frozen=True)
class RuleSpec:
    """One rule as the finance lead writes it (a row of the rule file)."""

    name: str
    condition: str
    actions: dict = field(default_factory=dict)
    stop: bool = False
    enabled: bool = True
    description: str = ""


@dataclass(frozen=True)
class FiredRule:
    name: str
    values: dict  # the facts the condition read, e.g. {"amount": 42.0, "customer.segment": "key"}
    actions: dict  # what this rule asked for (before merging)


@dataclass(frozen=True)
class TriageDecision:
    case_id: int
    fired: list[FiredRule]
    actions: dict  # merged in rule order: the first rule to set a key wins
    explanation: str
    errors: list[str] = field(default_factory=list)  # rules whose condition failed on this case's values


@dataclass(frozen=True)
class CompiledRule:
    spec: RuleSpec
    program: object
    reads: tuple[str, ...]  # fact paths shown as the rule's values: "amount", "customer.segment"


# --- compiling -------------------------------------------------------------------------------------

_SYNTAX_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")
_MACRO_VARIABLE = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_STRING_LITERAL = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")


def compile_rules(specs, *, kind: str = "") -> list[CompiledRule]:
    """Check and compile an ordered rule set (enabled rules only are kept); the first bad rule raises
    `RuleError` naming its 1-based place, its name and the position of the problem."""
    compiled, seen = [], set()
    for index, spec in enumerate(specs, start=1):
        try:
            _check_name(spec.name, seen)
            rule = compile_rule(spec)
        except RuleError as exc:
            raise RuleError(exc.message, position=exc.position, index=index, name=spec.name, kind=kind) from None
        seen.add(spec.name)
        if spec.enabled:
            compiled.append(rule)
    return compiled


def compile_rule(spec: RuleSpec) -> CompiledRule:
    """Validate one rule: its actions, then its condition (syntax, variables, a bool on typed samples)."""
    _check_text_fields(spec)
    program = compile_condition(spec.condition)  # first: the form checks it while the lead is typing it
    check_actions(spec.actions)
    return CompiledRule(spec=spec, program=program, reads=_reads(spec.condition, program))


def _has_control_characters(text: str, allowed: str = "") -> bool:
    """Control characters (other than `allowed`) do not survive every YAML tool and mean nothing in a rule."""
    return any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in text)


def _check_text_fields(spec: RuleSpec) -> None:
    if not isinstance(spec.description, str) or _has_control_characters(spec.description, "\n\t"):
        raise RuleError("the description must be text without control characters", position="description")
    if isinstance(spec.condition, str) and _has_control_characters(spec.condition, "\n\t\r"):
        raise RuleError("the condition contains a control character", position="1:1")


def _check_name(name, seen) -> None:
    if not isinstance(name, str) or not name.strip() or _has_control_characters(name):
        raise RuleError("a rule needs a name (text without control characters)", position="name")
    if len(name) > 120:
        raise RuleError("a rule name has at most 120 characters", position="name")
    if name in seen:
        raise RuleError("another rule of this kind has the same name", position="name")


def compile_condition(condition: str):
    """The compiled CEL program, or `RuleError` with "line:column" of the problem."""
    if not isinstance(condition, str) or not condition.strip():
        raise RuleError("the condition is empty (write `true` for a rule that always fires)", position="1:1")
    # Imported here, not at the top: importing cel (with its command line: typer, rich, prompt_toolkit) cost every
    # process's start-up 0.15 s through the apps' ready(), and most processes evaluate no rule.
    import cel

    try:
        program = cel.compile(condition)
    except ValueError as exc:
        raise _syntax_error(str(exc)) from None
    _check_variables(condition, program)
    _check_functions(condition, program)
    _check_on_samples(condition, program)
    return program


def _syntax_error(text: str) -> RuleError:
    match = _SYNTAX_POSITION.search(text)
    if not match:
        return RuleError(f"syntax error: {text}", position="1:1")
    # The library counts columns from 0 in some messages and from 1 in others; it reports the caret
    # line too, which is the reliable one.
    line, column, rest = int(match[1]), int(match[2]), match[3]
    caret = re.search(r"\n\s*\|\s?(\.*)\^", text)
    if caret:
        column = len(caret[1]) + 1
    message = re.sub(r"\s*expecting \{.*", "", rest.split("\n")[0]).strip()
    return RuleError(f"{message} (the expression is incomplete or malformed here)"
                     if "<EOF>" in message else message, position=f"{line}:{column}")


def _check_variables(condition: str, program) -> None:
    bound = set(_MACRO_VARIABLE.findall(condition))
    for name in program.variables():
        if name in FACT_TYPES or name in bound:
            continue
        known = ", ".join(sorted(FACT_TYPES))
        raise RuleError(f"unknown variable {name!r}; the facts are: {known}",
                        position=_position_of(condition, name))


# The functions this CEL runtime has (besides operators and the has/all/exists/map/filter macros); anything
# else (`lowerAscii`, `max`) would only fail when a case reaches it, so it is refused when saved.
FUNCTIONS = frozenset({
    "size", "int", "uint", "double", "string", "bytes", "type", "dyn", "duration", "timestamp", "matches",
    "contains", "startsWith", "endsWith", "getFullYear", "getMonth", "getDayOfMonth", "getDayOfWeek",
    "getDayOfYear", "getHours", "getMinutes", "getSeconds", "getMilliseconds",
})


def _check_functions(condition: str, program) -> None:
    for name in program.references()["functions"]:
        if not name.startswith(("_", "@", "!")) and name not in FUNCTIONS:
            raise RuleError(f"unknown function {name!r}; available: {', '.join(sorted(FUNCTIONS))}",
                            position=_position_of(condition, name))


def _check_on_samples(condition: str, program) -> None:
    import cel  # see compile_condition

    for sample in SAMPLE_FACTS:
        try:
            result = program.execute(cel.Context(variables=sample))
        except TypeError as exc:
            raise RuleError(_type_hint(str(exc)), position=_type_error_position(condition)) from None
        except KeyError as exc:
            raise RuleError(f"no such field {exc.args[0]!r}; customer has: {', '.join(CUSTOMER_FIELDS)}",
                            position=_position_of(condition, str(exc.args[0]))) from None
        except RuntimeError as exc:  # an unknown function: point at its name
            name = re.search(r"'(\w+)'", str(exc))
            raise RuleError(str(exc).split(". ")[0],
                            position=_position_of(condition, name[1]) if name else "1:1") from None
        except (ArithmeticError, ValueError):
            continue  # value-dependent (a division by zero on this sample): evaluation records it per case
        if not isinstance(result, bool):
            raise RuleError(f"a condition must be true or false, this one gives {type(result).__name__} "
                            f"({result!r}); compare it, e.g. `... > 0.0`", position="1:1")


def _type_hint(text: str) -> str:
    first = text.split(". ")[0]
    return (f"type error: {first}. amount is a double: write 100.0 (not 100) in arithmetic, or convert with "
            f"double(x) / int(x); compare text with text ('pricing')")


def _type_error_position(condition: str) -> str:
    """The library names no position for a type error: point at the first mixed literal if there is one
    (a quoted string or an integer next to an operator), else at the start."""
    match = re.search(r"[-+*/%]\s*\d+(?![\d.])|\d+(?![\d.])\s*[-+*/%]|[<>]=?\s*['\"]", condition)
    return _line_column(condition, match.start()) if match else "1:1"


def _position_of(condition: str, name: str) -> str:
    masked = _STRING_LITERAL.sub(lambda m: " " * len(m[0]), condition)
    match = re.search(rf"(?<![\w.]){re.escape(name)}\b", masked) or re.search(rf"\b{re.escape(name)}\b", masked)
    return _line_column(condition, match.start()) if match else "1:1"


def _line_column(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"{line}:{column}"


def _reads(condition: str, program) -> tuple[str, ...]:
    masked = _STRING_LITERAL.sub(lambda m: " " * len(m[0]), condition)
    reads = []
    for name in sorted(set(program.variables()) & set(FACT_TYPES)):
        if name == "customer":
            fields = sorted(set(re.findall(r"\bcustomer\s*\.\s*(\w+)", masked)) & set(CUSTOMER_FIELDS))
            reads.extend(f"customer.{f}" for f in fields) if fields else reads.append("customer")
        else:
            reads.append(name)
    return tuple(reads)


# --- actions ---------------------------------------------------------------------------------------

def _text(value, key: str, limit: int = 200) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit or _has_control_characters(value):
        raise RuleError(f"{key} must be a non-empty text of at most {limit} characters, without control characters",
                        position=f"actions.{key}")


def _text_list(value, key: str) -> None:
    if not isinstance(value, list) or not value:
        raise RuleError(f"{key} must be a non-empty list of texts", position=f"actions.{key}")
    for item in value:
        _text(item, key)


def _check_owner(value, key):
    _text(value, key, 254)
    if not EMAIL_RE.match(value):
        raise RuleError(f"owner must be a user's email address, not {value!r}", position="actions.owner")


def _check_choice(choices):
    def check(value, key):
        if value not in choices:
            raise RuleError(f"{key} must be one of {', '.join(choices)}, not {value!r}", position=f"actions.{key}")
    return check


def _check_sla(value, key):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SLA_HOURS:
        raise RuleError(f"sla_hours must be a whole number of hours from 1 to {MAX_SLA_HOURS}, not {value!r}",
                        position="actions.sla_hours")


def _check_write_off(value, key):
    if not isinstance(value, dict) or set(value) != {"account"}:
        raise RuleError('write_off must be {"account": "<GL account>"}', position="actions.write_off")
    _text(value["account"], "write_off", 50)


ACTION_CHECKS = {
    "queue": lambda v, k: _text(v, k, 100),
    "owner": _check_owner,
    "priority": _check_choice(PRIORITIES),
    "sla_hours": _check_sla,
    "decide": _check_choice(DECISIONS),
    "request_documents": _text_list,
    "write_off": _check_write_off,
    "notify": _text_list,
}


def check_actions(actions) -> None:
    if not isinstance(actions, dict) or not actions:
        raise RuleError(f"a rule needs at least one action: {', '.join(ACTION_ORDER)}", position="actions")
    for key in sorted(actions, key=str):
        if key not in ACTION_CHECKS:
            raise RuleError(f"unknown action {key!r}; the actions are: {', '.join(ACTION_ORDER)}",
                            position=f"actions.{key}")
        ACTION_CHECKS[key](actions[key], key)


# --- evaluating ------------------------------------------------------------------------------------

def normalise_facts(facts: dict) -> dict:
    """The facts in CEL's types (a Decimal amount becomes a double), so a source's rounding or int amount
    cannot change a decision."""
    customer = facts.get("customer") or {}
    return {
        "kind": str(facts.get("kind", "")), "amount": float(facts.get("amount") or 0),
        "currency": str(facts.get("currency", "")), "reason": str(facts.get("reason", "")),
        "category": str(facts.get("category", "unknown")), "source": str(facts.get("source", "")),
        "status": str(facts.get("status", "")),
        "customer": {"id": int(customer.get("id") or 0), "name": str(customer.get("name", "")),
                     "segment": str(customer.get("segment", "")), "risk": str(customer.get("risk", ""))},
        "invoice_age_days": int(facts.get("invoice_age_days") or 0),
        "past_disputes": int(facts.get("past_disputes") or 0), "documents": int(facts.get("documents") or 0),
    }


def evaluate(compiled: list[CompiledRule], facts: dict, case_id: int = 0) -> TriageDecision:
    """Run the rules in order on one case. Deterministic: the same rules and facts give the same decision."""
    import cel  # see compile_condition

    facts = normalise_facts(facts)
    context = cel.Context(variables=facts)  # converted once, shared by every rule: 10x faster than dicts
    fired, actions, errors = [], {}, []
    for rule in compiled:
        try:
            hit = rule.program.execute(context)
        except Exception as exc:  # noqa: BLE001 - any failure of one rule on one case: recorded, not fired
            errors.append(f"rule {rule.spec.name!r} could not be evaluated: {str(exc).split('. ')[0]}")
            continue
        if hit is not True:
            continue
        fired.append(FiredRule(rule.spec.name, {path: _read(facts, path) for path in rule.reads},
                               dict(rule.spec.actions)))
        for key, value in rule.spec.actions.items():
            actions.setdefault(key, value)
        if rule.spec.stop:
            break
    return TriageDecision(case_id=case_id, fired=fired, actions=_ordered(actions),
                          explanation=explain(fired, stopped=bool(fired) and fired[-1].name in _stoppers(compiled),
                                              errors=errors),
                          errors=errors)


def _stoppers(compiled) -> set[str]:
    return {rule.spec.name for rule in compiled if rule.spec.stop}


def _read(facts: dict, path: str):
    value = facts
    for part in path.split("."):
        value = value[part]
    return value


def _ordered(actions: dict) -> dict:
    return {key: actions[key] for key in ACTION_ORDER if key in actions}


def describe_actions(actions: dict) -> str:
    parts = []
    for key in ACTION_ORDER:
        if key not in actions:
            continue
        value = actions[key]
        if key == "decide":
            parts.append(f"decide {value}")
        elif key == "write_off":
            parts.append(f"write off to {value['account']!r}")
        elif key == "request_documents":
            parts.append("request " + ", ".join(value))
        elif key == "notify":
            parts.append("notify " + ", ".join(value))
        elif key == "sla_hours":
            parts.append(f"SLA {value} h")
        else:
            parts.append(f"{key} {value!r}")
    return ", ".join(parts)


def explain(fired: list[FiredRule], *, stopped: bool = False, errors=()) -> str:
    if not fired:
        text = "no rule fired"
    else:
        text = "; ".join(
            f"rule {rule.name!r} fired: "
            + (", ".join(f"{path}={value!r}" for path, value in rule.values.items()) or "always")
            + f" → {describe_actions(rule.actions)}"
            for rule in fired
        )
        if stopped:
            text += " (stop)"
    if errors:
        text += "; " + "; ".join(errors)
    return text
