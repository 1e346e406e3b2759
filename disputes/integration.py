"""Every call from disputes into the parts built in parallel (issue 13), in one place.

`o2c.rules` (triage engine), `o2c.instructions` (payment instructions and dunning holds) and
`deductions.selectors` did not exist on this branch when it was written. They are imported lazily here,
so the disputes app works (and its tests run) without them; once merged, these functions call through.
Only a missing module is tolerated, never a missing name inside an existing module: after the merge an
interface mismatch fails loudly instead of being skipped.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.util
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

_CODE_BASE = Path(__file__).resolve().parents[1]  # the directory holding disputes/ and o2c/
CASE_KIND = "dispute"  # the triage source kind and the instructions' origin_kind


def _optional(module_name: str):
    """The module if this code base has it, else None.

    A module found outside this code base is treated as absent: an editable install of another checkout
    on the path would otherwise hand this tree its half of a different branch.
    """
    if module_name in sys.modules:
        return sys.modules[module_name]  # None there means "known to be absent"
    try:
        spec = importlib.util.find_spec(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
            raise
        return None
    if spec is None or not spec.origin or not Path(spec.origin).resolve().is_relative_to(_CODE_BASE):
        return None
    return importlib.import_module(module_name)


# --- triage rules (o2c.rules, INTERFACES.md section 2) ------------------------------------------------

def register_case_source() -> bool:
    """Register the "dispute" CaseSource; called from DisputesConfig.ready()."""
    rules = _optional("o2c.rules")
    if rules is None:
        log.info("o2c.rules is not installed: disputes are not triaged by rules")
        return False
    from . import triage

    rules.register_case_source(rules.CaseSource(kind=CASE_KIND, facts=triage.facts, apply=triage.apply,
                                                recent=triage.recent, describe=triage.describe))
    return True


_applying_triage: contextvars.ContextVar[bool] = contextvars.ContextVar("disputes_applying_triage", default=False)


@contextlib.contextmanager
def applying_triage():
    """While the rules' own actions are applied, the moves they make do not ask for triage again (a loop)."""
    token = _applying_triage.set(True)
    try:
        yield
    finally:
        _applying_triage.reset(token)


def applying_triage_now() -> bool:
    return _applying_triage.get()


def triage_enqueue(dispute_ids) -> None:
    """Ask the rules engine to triage these disputes after the caller's transaction commits."""
    if _applying_triage.get():
        return
    rules = _optional("o2c.rules")
    if rules is not None and dispute_ids:
        rules.triage_enqueue(CASE_KIND, list(dispute_ids))


def latest_triage(dispute_id: int):
    """The last TriageResult of a dispute for its page, or None (also when o2c.rules is absent)."""
    rules = _optional("o2c.rules")
    return rules.latest_triage(CASE_KIND, dispute_id) if rules is not None else None


# --- payment instructions and holds (o2c.instructions, INTERFACES.md section 3) -------------------------

def _instructions():
    return _optional("o2c.instructions")


def instruction_create(*, kind: str, customer_id: int, amount, currency: str, origin_id: int, invoice_id=None,
                       memo: str = "", actor=None):
    """Create one payment instruction for a dispute's resolution; None when the module is absent."""
    module = _instructions()
    if module is None:
        log.warning("o2c.instructions is not installed: no %s instruction for dispute %s", kind, origin_id)
        return None
    return module.instruction_create(kind=kind, customer_id=customer_id, amount=amount, currency=currency,
                                     origin_kind=CASE_KIND, origin_id=origin_id, invoice_id=invoice_id,
                                     memo=memo, actor=actor)


def invoice_hold_place(*, invoice_id: int, amount, dispute_id: int, reason: str, actor=None) -> None:
    """Hold dunning on the disputed amount of an invoice while the dispute is open."""
    module = _instructions()
    if module is not None:
        module.invoice_hold_place(invoice_id=invoice_id, amount=amount, origin_kind=CASE_KIND,
                                  origin_id=dispute_id, reason=reason, actor=actor)


def invoice_hold_release(*, dispute_id: int, actor=None) -> None:
    module = _instructions()
    if module is not None:
        module.invoice_hold_release(origin_kind=CASE_KIND, origin_id=dispute_id, actor=actor)


# --- deductions (deductions.selectors, INTERFACES.md section 4) ------------------------------------------

def deduction_for_dispute(membership, deduction_id):
    """The deduction a member may open a dispute from, or Http404."""
    selectors = _optional("deductions.selectors")
    if selectors is not None and hasattr(selectors, "deduction_for_dispute"):
        return selectors.deduction_for_dispute(membership, deduction_id)
    # Until the deductions app provides its access function: staff only (the view checks), tenant-scoped.
    from django.shortcuts import get_object_or_404

    from deductions.models import Deduction
    from o2c.access import _as_id

    return get_object_or_404(Deduction.objects.select_related("customer", "invoice"), pk=_as_id(deduction_id))
