"""A stateful property test of the cash-application ledger.

Hypothesis drives random imports (new and overlapping bank files), re-imports of the same bytes, clerk
applications (with deductions, some of which cannot fit), reversals (including ones already reversed),
against a plain-Python model of what the balances must be. After every step the database must agree with
the model and with itself: balances equal what the application journal says, never negative, never beyond
the payment or the invoice, and open deductions equal the unreversed deduction amounts.
"""

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from cashapp.models import Application
from deductions.models import Deduction
from o2c.ledger.posting import Line, Posting, PostingRefused, post, reverse
from o2c.models import Invoice
from payments.models import Payment
from payments.services import bank_file_import
from tests.cashapp_support import Credit, camt053
from tests.factories import CustomerFactory, InvoiceFactory

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500.00"), places=2)
small = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("80.00"), places=2)


class CashLedger(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Each example runs in a savepoint of the test's transaction and is rolled back at teardown.
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.invoices: dict[int, list[Decimal]] = {}  # id -> [amount, open]
        self.payments: dict[str, list] = {}  # bank reference -> [id, amount, unapplied]
        self.applications: dict[int, tuple] = {}  # id -> (reference, invoice id, applied, deduction)
        self.reversed: set[int] = set()
        self.files: list[bytes] = []

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    @initialize(invoice_amounts=st.lists(amounts, min_size=1, max_size=4))
    def ledger(self, invoice_amounts):
        customer = CustomerFactory()
        for amount in invoice_amounts:
            invoice = InvoiceFactory(customer=customer, amount=amount)
            self.invoices[invoice.pk] = [amount, amount]

    @rule(entries=st.lists(st.tuples(st.integers(0, 7), amounts), min_size=1, max_size=4, unique_by=lambda e: e[0]))
    def import_file(self, entries):
        data = camt053([Credit(f"REF{n}", amount) for n, amount in entries])
        bank_file = bank_file_import(data=data, file_name="s.xml")
        new = [(f"REF{n}", amount) for n, amount in entries if f"REF{n}" not in self.payments]
        assert (bank_file.payments_created, bank_file.duplicates_skipped) == (len(new), len(entries) - len(new))
        for reference, amount in new:
            pid = Payment.objects.get(bank_reference=reference).pk
            self.payments[reference] = [pid, amount, amount]
        self.files.append(data)

    @rule(data=st.data())
    def reimport_same_bytes(self, data):
        if not self.files:
            return
        before = Payment.objects.count()
        assert bank_file_import(data=data.draw(st.sampled_from(self.files)), file_name="again.xml").duplicate
        assert Payment.objects.count() == before

    @rule(data=st.data(), applied=amounts, deduction=small)
    def apply(self, data, applied, deduction):
        if not self.payments:
            return
        reference = data.draw(st.sampled_from(sorted(self.payments)))
        invoice_id = data.draw(st.sampled_from(sorted(self.invoices)))
        pid, _, unapplied = self.payments[reference]
        open_balance = self.invoices[invoice_id][1]
        fits = applied <= unapplied and applied + deduction <= open_balance
        try:
            result = post([Posting(payment_id=pid, source="manual", lines=[
                Line(invoice_id, applied, deduction=deduction, deduction_reason="pricing" if deduction else "")])])
        except PostingRefused:
            assert not fits, "a fitting application was refused"
            return
        assert fits, f"applied {applied}+{deduction} with {unapplied} unapplied and {open_balance} open"
        [app_id] = result.application_ids[pid]
        self.payments[reference][2] -= applied
        self.invoices[invoice_id][1] -= applied + deduction
        self.applications[app_id] = (reference, invoice_id, applied, deduction)

    @rule(data=st.data())
    def reverse_one(self, data):
        if not self.applications:
            return
        app_id = data.draw(st.sampled_from(sorted(self.applications)))
        if app_id in self.reversed:
            try:
                reverse([app_id])
            except PostingRefused as exc:
                assert "reversed already" in exc.message
                return
            raise AssertionError("an application was reversed twice")
        reverse([app_id])
        reference, invoice_id, applied, deduction = self.applications[app_id]
        self.reversed.add(app_id)
        self.payments[reference][2] += applied
        self.invoices[invoice_id][1] += applied + deduction

    @invariant()
    def database_agrees_with_model_and_journal(self):
        for reference, (pid, amount, unapplied) in self.payments.items():
            payment = Payment.objects.get(pk=pid)
            journal = Application.objects.filter(payment_id=pid).aggregate(s=Sum("applied_amount"))["s"] or 0
            assert payment.unapplied_amount == unapplied == amount - journal, reference
            assert 0 <= payment.unapplied_amount <= payment.amount
            expected = "unapplied" if unapplied == amount else "applied" if unapplied == 0 else "partially_applied"
            assert payment.status == expected
        for invoice_id, (amount, open_balance) in self.invoices.items():
            invoice = Invoice.objects.get(pk=invoice_id)
            totals = Application.objects.filter(invoice_id=invoice_id).aggregate(
                a=Sum("applied_amount"), d=Sum("deduction_amount"))
            settled = (totals["a"] or 0) + (totals["d"] or 0)
            assert invoice.open_balance == open_balance == amount - settled
            assert invoice.status == ("paid" if open_balance == 0 else "open" if open_balance == amount
                                      else "partially_paid")
            open_deductions = Deduction.objects.filter(invoice_id=invoice_id, status="open").aggregate(
                s=Sum("amount"))["s"] or 0
            assert open_deductions == sum(d for a, (_, i, _, d) in self.applications.items()
                                          if i == invoice_id and a not in self.reversed)


def test_cash_ledger_state_machine(in_tenant):
    run_state_machine_as_test(CashLedger, settings=settings(
        max_examples=30, stateful_step_count=20, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
