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
