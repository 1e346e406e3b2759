"""The shape of the code, checked from every module's syntax tree (imports inside functions count too).

Rules (the direction is kernel <- payments <- cashapp, and deductions <- disputes):
- The kernel `o2c` imports no app. It talks to them through ledger events (`o2c.ledger.events`) and
  registries the apps fill in their `AppConfig.ready()` (invoice page panels, demo steps, triage sources);
  URLs of apps are included by string.
- `payments` imports no other app: cash application builds on payments, and hears of new bank files
  through `payments.signals`.
- `deductions` never imports `disputes` (a dispute may point at a deduction, not the reverse).
- Otherwise an app reaches into another only through its public modules: `models`, `services`,
  `selectors`, `signals`. Views, forms, tasks, templates tags, handlers and helpers stay private.
Migrations are left out (they name other apps' models by string and are generated), as are tests and bench.

And every public function of a service module opens its own `transaction.atomic` (or calls a helper of its
module that does), unless it is listed in NOT_SERVICES with the reason: a service that raises then leaves
nothing behind even when a view catches the error and the request's transaction commits.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "o2c"
APPS = sorted(p.parent.name for p in ROOT.glob("*/apps.py") if p.parent.name != KERNEL)
PUBLIC = {"models", "services", "selectors", "signals"}
FORBIDDEN = {KERNEL: set(APPS), "payments": set(APPS) - {"payments"}, "deductions": {"disputes"}}


def _modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" not in path.relative_to(ROOT).parts:
            yield path


def _imports(path: Path):
    """(line, dotted module) for every absolute import in the file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if len(parts) == 1:  # `from payments import models` reaches payments.models
                for alias in node.names:
                    yield node.lineno, f"{node.module}.{alias.name}"
            else:
                yield node.lineno, node.module


def layer_violations(package: str) -> list[str]:
    found = []
    for path in _modules(package):
        for line, module in _imports(path):
            target, _, rest = module.partition(".")
            if target not in APPS or target == package:
                continue
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if target in FORBIDDEN.get(package, ()):
                found.append(f"{where} ({package} must not import {target})")
            elif rest.split(".")[0] not in PUBLIC:
                found.append(f"{where} (only {', '.join(sorted(PUBLIC))} of another app may be imported)")
    return found


def test_the_apps_are_found():
    assert {"payments", "cashapp", "deductions", "disputes"} <= set(APPS)


@pytest.mark.parametrize("package", [KERNEL, *APPS])
def test_imports_follow_the_layers(package):
    assert layer_violations(package) == []


def test_the_check_catches_a_violation(tmp_path, monkeypatch):
    """The walker sees a lazy import inside a function and a `from app import module` form."""
    fake = tmp_path / "o2c"
    fake.mkdir()
    (fake / "views.py").write_text("def f():\n    from cashapp.selectors import x\n")
    (tmp_path / "payments").mkdir()
    (tmp_path / "payments" / "views.py").write_text("from cashapp import views\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert layer_violations("o2c") == ["o2c/views.py:2 imports cashapp.selectors (o2c must not import cashapp)"]
    assert layer_violations("payments") == [
        "payments/views.py:1 imports cashapp.views (payments must not import cashapp)"]


# --- every service opens its own transaction ------------------------------------------------------------

SERVICE_MODULES = ["o2c/services/*.py", "payments/services.py", "payments/csv_mappings.py", "cashapp/services/*.py"]
# Public functions of service modules that need no transaction of their own, and why.
NOT_SERVICES = {
    # audit writers join the caller's transaction, by design
    "diff", "snapshot", "audit_event", "audit_events", "audit_events_bulk", "audit_origin",
    "register_demo_step", "demo_is_empty", "demo_users",  # registry and reads
    "tenant_by_slug", "invitation_from_token", "invitation_tenant_id",  # reads
    "invoice_upload_progress_key", "invoice_upload_rows_stored", "advice_fingerprint", "normalize_name",
    "csv_mapping_check", "csv_mapping_preview",  # pure: nothing stored
    "matching_run_execute",  # commits chunk by chunk; refuses to run inside a transaction
    "matching_after_import",  # a step of bank_file_import's transaction (through payments.signals)
}


def _opens_transaction(function: ast.FunctionDef, module_functions: dict[str, ast.FunctionDef], depth=0) -> bool:
    """`transaction.atomic` as a decorator or a `with`, here or in a function of the module it calls."""
    for node in ast.walk(function):
        if isinstance(node, ast.Attribute) and node.attr == "atomic":
            return True
        if (depth < 2 and isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in module_functions and node.func.id != function.name):
            if _opens_transaction(module_functions[node.func.id], module_functions, depth + 1):
                return True
    return False


def _services_without_transaction() -> tuple[list[str], int]:
    missing, checked = [], 0
    for pattern in SERVICE_MODULES:
        for path in sorted(ROOT.glob(pattern)):
            tree = ast.parse(path.read_text())
            functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
            # Helpers of another service module (queued_upload_run) count when imported by name.
            functions.update(_IMPORTED_HELPERS)
            for name, function in functions.items():
                if function in _IMPORTED_HELPERS.values() or name.startswith("_") or name in NOT_SERVICES:
                    continue
                checked += 1
                if not _opens_transaction(function, functions):
                    missing.append(f"{path.relative_to(ROOT)}: {name}")
    return missing, checked


_IMPORTED_HELPERS = {n.name: n for n in ast.parse((ROOT / "o2c/services/uploads.py").read_text()).body
                     if isinstance(n, ast.FunctionDef)}


def test_every_service_opens_its_own_transaction():
    missing, checked = _services_without_transaction()
    assert missing == [] and checked >= 20


def test_the_transaction_check_sees_a_missing_atomic():
    tree = ast.parse("def a_save():\n    _helper()\ndef _helper():\n    pass\n"
                     "def b_save():\n    _inner()\ndef _inner():\n    with transaction.atomic():\n        pass\n")
    functions = {n.name: n for n in tree.body}
    assert not _opens_transaction(functions["a_save"], functions)
    assert _opens_transaction(functions["b_save"], functions)
