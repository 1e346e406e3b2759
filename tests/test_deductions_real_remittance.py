"""Deductions from real remittance files none of us wrote: the X12 820 fixtures in ../shared (Safeway's and a
customer's ADX adjustments), read through the real parser and the remittance service."""

from decimal import Decimal

import pytest

from deductions.models import Deduction, DeductionSource
from deductions.remittance import deductions_from_x12
from o2c.errors import ApplicationError
from tests.factories import CustomerFactory
from tests.test_bank_parsers import FIXTURES

SAFEWAY = FIXTURES / "x12_820" / "Inteligenz__X12Parser" / "Example4_Safeway.txt"
pytestmark = pytest.mark.skipif(not SAFEWAY.is_file(), reason=f"shared fixtures not found at {FIXTURES}")


def test_safeways_negative_adx_adjustments_become_deductions_once(in_tenant):
    CustomerFactory(external_id="0091372090000", name="Safeway - U. S. Corporate")
    outcome = deductions_from_x12(data=SAFEWAY.read_bytes(), actor=None)
    rows = sorted(Deduction.objects.values_list("origin", "amount", "currency", "source", "customer_reason_code"))
    # The file's four ADX segments: three take money off (deductions), one adds 210.00 (not a deduction).
    assert sorted(r[1] for r in rows) == [Decimal("892.80"), Decimal("13676.81"), Decimal("18200.00")]
    assert {(r[2], r[3]) for r in rows} == {("USD", DeductionSource.REMITTANCE)}
    assert len(outcome.created) == 3 and len(outcome.skipped) == 1 and "positive adjustment" in outcome.skipped[0]
    assert all(r[0].startswith("820 4311000190 ADX") for r in rows)
    again = deductions_from_x12(data=SAFEWAY.read_bytes(), actor=None)
    assert (len(again.created), again.already, Deduction.objects.count()) == (0, 3, 3)


def test_a_remittance_from_an_unknown_payer_is_refused_whole(in_tenant):
    with pytest.raises(ApplicationError, match="no customer"):
        deductions_from_x12(data=SAFEWAY.read_bytes(), actor=None)
    assert Deduction.objects.count() == 0
